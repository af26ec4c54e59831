#!/usr/bin/env bash
# Installs the real oauth2-proxy the reverse-proxy login test
# (crates/spoor/tests/e2e_oauth2_proxy.rs) puts in front of Spoor's query
# listener: the Go module github.com/oauth2-proxy/oauth2-proxy/v7 at v7.15.6
# (its main package is the module's root), built once into
# $SPOOR_TOOLS_DIR/oauth2-proxy-v7.15.6/bin/oauth2-proxy
# (scripts/tools/go-module.sh); prints the binary's path.
set -euo pipefail
exec "$(dirname "$0")/go-module.sh" oauth2-proxy oauth2-proxy \
  github.com/oauth2-proxy/oauth2-proxy/v7 v7.15.6 .
