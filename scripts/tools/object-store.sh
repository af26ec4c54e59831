#!/usr/bin/env bash
# Installs the S3-compatible object store the tests run (SeaweedFS's `weed`,
# a Go module, ADR 0024) when it is missing, and prints the path of its
# binary. The build is cached outside the clone, so a clean clone on a warm
# machine does not build it again:
#   SPOOR_TOOLS_DIR  (default /var/tmp/spoor-tools)
#     └── seaweedfs-<version>/bin/weed     the binary
#     └── gomod/                           Go's module cache for the build
# Progress goes to stderr; stdout is only the path.
set -euo pipefail

module=github.com/seaweedfs/seaweedfs
version=v0.0.0-20261109003541-7506e5f91cd6

tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
dir=$tools_dir/seaweedfs-$version
bin=$dir/bin/weed

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "object-store.sh: Go is needed to build SeaweedFS" >&2; exit 1; }
  mkdir -p "$dir/bin" "$tools_dir/gomod"
  echo "object-store.sh: building SeaweedFS $version into $dir (once)" >&2
  start=$(date +%s)
  # `go install mod@version` refuses a module whose go.mod has replace
  # directives (SeaweedFS's has), so fetch the module through the proxy and
  # build it as the main module. CGO off: a static binary, no C toolchain.
  export GOMODCACHE="$tools_dir/gomod" GOFLAGS=-modcacherw CGO_ENABLED=0
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "object-store.sh: go mod download gave no source folder" >&2; exit 1; }
  (cd "$src" && go build -trimpath -o "$bin.tmp" ./weed) >&2
  mv "$bin.tmp" "$bin"
  echo "object-store.sh: built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
