#!/bin/sh
# The build steps of the container image, in one place: the Dockerfile runs
# them (RUN scripts/build-release.sh STEP) and scripts/check-dockerfile.sh
# runs the same steps, in the same order, where no Docker engine answers.
#
#   ui-deps   npm ci in ui/ (skipped when ui/node_modules was installed from
#             this very package-lock.json, as scripts/test.sh records it)
#   ui-build  the web UI into ui/dist, which the binary embeds (crates/spoor-ui)
#   binary    the release build of `spoor` into $CARGO_TARGET_DIR/release/spoor
#             (default target/); CARGO_TARGET_DIR is the caller's choice
#   image-binary DEST
#             that binary without its line tables (strip --strip-debug: symbols
#             stay, so backtraces keep function names) at DEST: about 30 MB
#             instead of about 150 MB
#
# Run from the repository root. POSIX sh: the Dockerfile's build stages run it.
set -eu

step=${1:-}
case "$step" in
  ui-deps)
    if cmp -s ui/package-lock.json ui/node_modules/.spoor-installed-lock.json 2>/dev/null; then
      echo "build-release: ui/node_modules is installed from this package-lock.json"
    else
      npm ci --prefix ui --no-audit --no-fund --loglevel=error
      cp ui/package-lock.json ui/node_modules/.spoor-installed-lock.json
    fi
    ;;
  ui-build)
    npm --prefix ui run build
    ;;
  binary)
    cargo build --release --locked -p spoor
    ;;
  image-binary)
    [ -n "${2:-}" ] || { echo "usage: scripts/build-release.sh image-binary DEST" >&2; exit 2; }
    strip --strip-debug -o "$2" "${CARGO_TARGET_DIR:-target}/release/spoor"
    ;;
  *)
    echo "usage: scripts/build-release.sh ui-deps|ui-build|binary|image-binary DEST" >&2
    exit 2
    ;;
esac
