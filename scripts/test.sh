#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit, conformance,
# golden and end-to-end tests (the e2e tests start the real binary and drive
# it with real OpenTelemetry SDKs). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The Node.js OpenTelemetry sender used by the end-to-end tests.
if [ ! -d tests/clients/node/node_modules ]; then
  step "installing the Node.js test client (npm ci)"
  npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast
