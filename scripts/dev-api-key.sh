#!/usr/bin/env bash
# Prints API_KEY if set, else a development key kept in instance/ (created on first use).
set -euo pipefail
if [ -n "${API_KEY:-}" ]; then echo "$API_KEY"; exit 0; fi
mkdir -p instance
if [ ! -s instance/dev-api-key ]; then
  (umask 077 && .venv/bin/python -c 'import secrets; print("dev_" + secrets.token_urlsafe(32))' > instance/dev-api-key)
fi
cat instance/dev-api-key
