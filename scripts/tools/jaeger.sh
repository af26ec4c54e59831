#!/usr/bin/env bash
# Installs the real Jaeger the differential tests run beside Spoor: Jaeger
# v2.12.0's all-in-one (`cmd/jaeger`), the Go module
# github.com/jaegertracing/jaeger at v1.75.0, built once into a cache outside
# the clone, and prints the path of its binary:
#   SPOOR_TOOLS_DIR  (default /var/tmp/spoor-tools)
#     └── jaeger-v1.75.0/bin/jaeger   the binary
#     └── gomod/, gocache/            Go's module and build caches
# Progress goes to stderr; stdout is only the path.
set -euo pipefail

module=github.com/jaegertracing/jaeger
version=v1.75.0

tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
dir=$tools_dir/jaeger-$version
bin=$dir/bin/jaeger

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "jaeger.sh: Go is needed to build Jaeger" >&2; exit 1; }
  mkdir -p "$dir/bin" "$tools_dir/gomod"
  echo "jaeger.sh: building Jaeger $version (cmd/jaeger) into $dir (once)" >&2
  start=$(date +%s)
  export GOMODCACHE="$tools_dir/gomod" GOFLAGS=-modcacherw CGO_ENABLED=0
  export GOCACHE=${GOCACHE:-$tools_dir/gocache}
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "jaeger.sh: go mod download gave no source folder" >&2; exit 1; }
  (cd "$src" && go build -trimpath -o "$bin.tmp" ./cmd/jaeger) >&2
  mv "$bin.tmp" "$bin"
  echo "jaeger.sh: built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
