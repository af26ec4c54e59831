#!/usr/bin/env bash
# Installs the S3-compatible object store the tests run (SeaweedFS's `weed`,
# a Go module, ADR 0024), built once into
# $SPOOR_TOOLS_DIR/seaweedfs-<version>/bin/weed (scripts/tools/go-module.sh),
# and prints the binary's path.
set -euo pipefail
exec "$(dirname "$0")/go-module.sh" seaweedfs weed github.com/seaweedfs/seaweedfs \
  v0.0.0-20261109003541-7506e5f91cd6 ./weed
