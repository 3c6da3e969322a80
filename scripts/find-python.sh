#!/usr/bin/env bash
# Prints the path of a Python 3.12 (or else 3.11) interpreter, looking past pyenv shims.
set -euo pipefail
for version in 3.12 3.11; do
  for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
                   "$HOME"/.pyenv/versions/"$version".*/bin/python"$version" \
                   /usr/bin/python"$version" /usr/local/bin/python"$version"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys' 2>/dev/null; then
      echo "$candidate"
      exit 0
    fi
  done
done
echo "no Python 3.12 or 3.11 found: install one (e.g. apt-get install python3.12)" >&2
exit 1
