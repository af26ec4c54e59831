#!/usr/bin/env bash
# Installs the OpenID Connect provider the security tests start
# (crates/spoor/tests/common/oidc.rs): mockoidc, the Go module
# github.com/oauth2-proxy/mockoidc at v0.0.0-20261103160011-e06ed0b7cb7f, a
# library, with one file of ours added for the build,
# overlays/mockoidc/cmd/spoor-mockoidc: its `main` (listen address, client
# id and secret, the user's claims, HTTPS; prints the issuer URL; see the
# file's comment). Built once (scripts/tools/go-module.sh) into
# $SPOOR_TOOLS_DIR/mockoidc-v0.0.0-20261103160011-e06ed0b7cb7f/bin/spoor-mockoidc;
# prints the binary's path.
set -euo pipefail
here=$(dirname "$0")
exec "$here/go-module.sh" mockoidc spoor-mockoidc \
  github.com/oauth2-proxy/mockoidc v0.0.0-20261103160011-e06ed0b7cb7f ./cmd/spoor-mockoidc \
  "$here/overlays/mockoidc"
