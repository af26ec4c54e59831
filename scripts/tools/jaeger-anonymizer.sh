#!/usr/bin/env bash
# Installs the real Jaeger's `anonymizer` (`cmd/anonymizer` of the Go module
# github.com/jaegertracing/jaeger at v1.75.0, the module of the Jaeger the
# oracle tests run): a client of Jaeger's gRPC query API (api_v2 GetTrace on
# 16685) that e2e_anonymizer runs against Spoor. Built once into
# $SPOOR_TOOLS_DIR/jaeger-anonymizer-v1.75.0/bin/anonymizer with the Go
# module and build caches scripts/tools/jaeger.sh fills
# (scripts/tools/go-module.sh); prints the binary's path.
#
# With one file added for the build (overlays/jaeger-anonymizer/): v1.75.0's
# anonymizer does not register Jaeger's gogo gRPC codec and panics on every
# run before it sends a request; the file adds the blank import upstream
# added after v1.75.0 (jaegertracing/jaeger#9539, #9540).
set -euo pipefail
here=$(dirname "$0")
exec "$here/go-module.sh" jaeger-anonymizer anonymizer github.com/jaegertracing/jaeger v1.75.0 ./cmd/anonymizer "$here/overlays/jaeger-anonymizer"
