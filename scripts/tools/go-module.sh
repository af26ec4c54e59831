#!/usr/bin/env bash
# Builds the Go program PACKAGE of MODULE at VERSION once into
# $SPOOR_TOOLS_DIR/NAME-VERSION/bin/BIN (default /var/tmp/spoor-tools) and
# prints the binary's path; the tools the tests run beside Spoor (SeaweedFS,
# the real Jaeger and its anonymizer) come this way, cached outside the clone:
#   scripts/tools/go-module.sh NAME BIN MODULE VERSION PACKAGE [OVERLAY_DIR]
# The module is fetched through the Go module proxy and built as the main
# module (`go install mod@version` refuses a go.mod with replace
# directives); CGO off: a static binary, no C toolchain. Go's module and
# build caches live beside it (gomod/, gocache/ unless GOCACHE is set).
# OVERLAY_DIR, when given, holds files laid out as in the module's tree that
# are added to it (or replace its files) for the build only: the module is
# copied out of the cache (which is never edited; Go refuses
# `go build -overlay` there), the files put in, the copy built and removed;
# the binary is rebuilt when they change.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
name=$1 bin_name=$2 module=$3 version=$4 package=$5 overlay_dir=${6:-}
tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
dir=$tools_dir/$name-$version
bin=$dir/bin/$bin_name
stamp=none
if [ -n "$overlay_dir" ]; then
  overlay_dir=$(cd "$overlay_dir" && pwd)
  overlay_files=$(cd "$overlay_dir" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
  stamp=$(while IFS= read -r f; do echo "$f"; cat "$overlay_dir/$f"; done <<<"$overlay_files" | sha256sum | cut -c1-16)
fi
if [ ! -x "$bin" ] || [ "$(cat "$dir/overlay.stamp" 2>/dev/null || echo none)" != "$stamp" ]; then
  command -v go >/dev/null || { echo "go-module.sh: Go is needed to build $name" >&2; exit 1; }
  mkdir -p "$dir/bin" "$tools_dir/gomod"
  echo "go-module.sh: building $name ($module $package at $version${overlay_dir:+, with the files of $overlay_dir}) into $dir (once)" >&2
  start=$(date +%s)
  export GOMODCACHE="$tools_dir/gomod" GOFLAGS=-modcacherw CGO_ENABLED=0
  export GOCACHE=${GOCACHE:-$tools_dir/gocache}
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "go-module.sh: go mod download gave no source folder" >&2; exit 1; }
  if [ -n "$overlay_dir" ]; then
    # Go refuses -overlay for files in the module cache: build a copy.
    work=$dir/src
    rm -rf "$work"
    cp -R "$src" "$work"
    chmod -R u+w "$work"
    while IFS= read -r f; do
      mkdir -p "$(dirname "$work/$f")"
      cp "$overlay_dir/$f" "$work/$f"
    done <<<"$overlay_files"
    (cd "$work" && go build -trimpath -o "$bin.tmp" "$package") >&2
    rm -rf "$work"
  else
    (cd "$src" && go build -trimpath -o "$bin.tmp" "$package") >&2
  fi
  mv "$bin.tmp" "$bin"
  echo "$stamp" >"$dir/overlay.stamp"
  echo "go-module.sh: built $name in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
