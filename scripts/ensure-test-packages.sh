#!/usr/bin/env bash
# Debian packages the suite drives: Chromium for the page tests (Playwright never downloads a
# browser here) and nginx, the buffering proxy of the production shape.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ "${#missing[@]}" = 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' once" >&2
  exit 1
fi
echo "installing Debian's ${missing[*]} for the tests..."
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
