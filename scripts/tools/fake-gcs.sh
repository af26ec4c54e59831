#!/usr/bin/env bash
# Installs the Google Cloud Storage emulator the gs:// tests start:
# fake-gcs-server (the Go module github.com/fsouza/fake-gcs-server at v1.56.1,
# serving GCS's JSON and XML APIs from memory) with one file of ours added
# for the build, tools/overlays/fake-gcs-server/cmd/spoor-fake-gcs: its
# `main`, which puts the XML API's single-request upload (`PUT
# /BUCKET/OBJECT`, the only way object_store's GCS client writes, and which
# v1.56.1 refuses: its issue 331) in front of fake-gcs-server's own media
# upload, precondition included. Built once (scripts/tools/go-module.sh)
# into $SPOOR_TOOLS_DIR/fake-gcs-server-v1.56.1/bin/spoor-fake-gcs; prints
# the binary's path.
set -euo pipefail
here=$(dirname "$0")
exec "$here/go-module.sh" fake-gcs-server spoor-fake-gcs \
  github.com/fsouza/fake-gcs-server v1.56.1 ./cmd/spoor-fake-gcs "$here/overlays/fake-gcs-server"
