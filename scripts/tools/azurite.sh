#!/usr/bin/env bash
# Installs the Azure Blob Storage emulator the az:// tests start (Azurite,
# the npm package `azurite` at 3.37.0, Microsoft's emulator; Node.js 20 or
# newer) once into $SPOOR_TOOLS_DIR/azurite-3.37.0 (default
# /var/tmp/spoor-tools) and prints the path of its `azurite-blob` program.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version=3.37.0
tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
dir=$tools_dir/azurite-$version
bin=$dir/node_modules/.bin/azurite-blob
if [ ! -f "$dir/.complete" ] || [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "azurite.sh: npm (Node.js) is needed" >&2; exit 1; }
  echo "azurite.sh: installing azurite@$version into $dir (once)" >&2
  start=$(date +%s)
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  echo '{"name":"spoor-azurite","private":true}' >"$dir.tmp/package.json"
  npm install --prefix "$dir.tmp" --save-exact --no-audit --no-fund --loglevel=error \
    "azurite@$version" >&2
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "azurite.sh: installed in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
