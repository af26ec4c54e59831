#!/usr/bin/env bash
# Builds Spoor (with the web UI when Node.js is available) and starts it
# all-in-one. Extra arguments are passed to `spoor`, e.g. --host 0.0.0.0.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ui/package.json ] && command -v npm >/dev/null 2>&1; then
  npm ci --prefix ui --no-audit --no-fund --loglevel=error
  npm --prefix ui run build
fi
exec cargo run --release --locked -p spoor -- "$@"
