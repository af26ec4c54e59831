#!/usr/bin/env bash
# Builds the Go program PACKAGE of MODULE at VERSION once into
# $SPOOR_TOOLS_DIR/NAME-VERSION/bin/BIN (default /var/tmp/spoor-tools) and
# prints the binary's path; the tools the tests run beside Spoor (SeaweedFS,
# the real Jaeger) come this way, cached outside the clone:
#   scripts/tools/go-module.sh NAME BIN MODULE VERSION PACKAGE
# The module is fetched through the Go module proxy and built as the main
# module (`go install mod@version` refuses a go.mod with replace
# directives); CGO off: a static binary, no C toolchain. Go's module and
# build caches live beside it (gomod/, gocache/ unless GOCACHE is set).
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
name=$1 bin_name=$2 module=$3 version=$4 package=$5
tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
dir=$tools_dir/$name-$version
bin=$dir/bin/$bin_name
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "go-module.sh: Go is needed to build $name" >&2; exit 1; }
  mkdir -p "$dir/bin" "$tools_dir/gomod"
  echo "go-module.sh: building $name ($module $package at $version) into $dir (once)" >&2
  start=$(date +%s)
  export GOMODCACHE="$tools_dir/gomod" GOFLAGS=-modcacherw CGO_ENABLED=0
  export GOCACHE=${GOCACHE:-$tools_dir/gocache}
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "go-module.sh: go mod download gave no source folder" >&2; exit 1; }
  (cd "$src" && go build -trimpath -o "$bin.tmp" "$package") >&2
  mv "$bin.tmp" "$bin"
  echo "go-module.sh: built $name in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
