#!/usr/bin/env bash
# Installs the real Jaeger the oracle tests run beside Spoor: Jaeger v2.12.0's
# all-in-one (`cmd/jaeger`), the Go module github.com/jaegertracing/jaeger at
# v1.75.0, built once into $SPOOR_TOOLS_DIR/jaeger-v1.75.0/bin/jaeger
# (scripts/tools/go-module.sh), and prints the binary's path.
set -euo pipefail
exec "$(dirname "$0")/go-module.sh" jaeger jaeger github.com/jaegertracing/jaeger v1.75.0 ./cmd/jaeger
