#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit, conformance,
# golden and end-to-end tests (the e2e tests start the real binary and drive
# it with real OpenTelemetry SDKs), then the web UI's lint, type checks, unit
# tests and browser tests, then the checks of the container image and the
# Helm chart (docs/deploy.md). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The real third-party senders the end-to-end tests run (tests/clients):
# (re)installed when missing or when their lock/requirements file changed.
node_lock=tests/clients/node/package-lock.json
node_stamp=tests/clients/node/node_modules/.spoor-installed-lock.json
if ! cmp -s "$node_lock" "$node_stamp"; then
  step "installing the Node.js test clients (npm ci)"
  npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error
  cp "$node_lock" "$node_stamp"
fi
for requirements in tests/clients/python/requirements-*.txt; do
  name=$(basename "$requirements" .txt)
  venv=tests/clients/python/.venv-${name#requirements-}
  if ! cmp -s "$requirements" "$venv/.spoor-installed-requirements.txt"; then
    step "installing the Python test clients of $requirements (venv $venv)"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.spoor-installed-requirements.txt"
  fi
done

# The S3-compatible object store the object-storage tests start (SeaweedFS,
# built once into a cache outside the clone; scripts/tools/object-store.sh).
if ! SPOOR_TEST_S3_SERVER=$(scripts/tools/object-store.sh); then
  echo "cannot install the object store (scripts/tools/object-store.sh)" >&2
  exit 1
fi
export SPOOR_TEST_S3_SERVER

# The Java senders (OpenTelemetry Java agent, legacy Jaeger Java client) from
# Maven Central, cached outside the clone (scripts/tools/java-clients.sh).
if ! SPOOR_TEST_JAVA_CLIENTS=$(scripts/tools/java-clients.sh); then
  echo "cannot install the Java test clients (scripts/tools/java-clients.sh)" >&2
  exit 1
fi
export SPOOR_TEST_JAVA_CLIENTS

# The real Jaeger (v2.12.0, Go module v1.75.0) the oracle test runs beside
# Spoor, built once into the same cache (scripts/tools/jaeger.sh).
if ! SPOOR_TEST_JAEGER=$(scripts/tools/jaeger.sh); then
  echo "cannot build the real Jaeger (scripts/tools/jaeger.sh)" >&2
  exit 1
fi
export SPOOR_TEST_JAEGER

# Jaeger's own gRPC query client, its `anonymizer`, from the same Go module
# (e2e_anonymizer runs it against Spoor; scripts/tools/jaeger-anonymizer.sh).
if ! SPOOR_TEST_JAEGER_ANONYMIZER=$(scripts/tools/jaeger-anonymizer.sh); then
  echo "cannot build Jaeger's anonymizer (scripts/tools/jaeger-anonymizer.sh)" >&2
  exit 1
fi
export SPOOR_TEST_JAEGER_ANONYMIZER

# The emulators of the gs:// and az:// blocks URLs' tests (e2e_cloud_stores):
# fake-gcs-server, built once with our XML-upload front
# (scripts/tools/fake-gcs.sh), and Azurite from npm, installed once
# (scripts/tools/azurite.sh), both cached outside the clone.
if ! SPOOR_TEST_FAKE_GCS=$(scripts/tools/fake-gcs.sh); then
  echo "cannot build fake-gcs-server (scripts/tools/fake-gcs.sh)" >&2
  exit 1
fi
export SPOOR_TEST_FAKE_GCS
if ! SPOOR_TEST_AZURITE=$(scripts/tools/azurite.sh); then
  echo "cannot install Azurite (scripts/tools/azurite.sh)" >&2
  exit 1
fi
export SPOOR_TEST_AZURITE

# The security tests' OpenID Connect provider and authenticating reverse
# proxy (crates/spoor/tests/common/oidc.rs): mockoidc with our small `main`
# (scripts/tools/mockoidc.sh) and oauth2-proxy v7.15.6
# (scripts/tools/oauth2-proxy.sh), built once into the same cache.
if ! SPOOR_TEST_MOCKOIDC=$(scripts/tools/mockoidc.sh); then
  echo "cannot build mockoidc (scripts/tools/mockoidc.sh)" >&2
  exit 1
fi
export SPOOR_TEST_MOCKOIDC
if ! SPOOR_TEST_OAUTH2_PROXY=$(scripts/tools/oauth2-proxy.sh); then
  echo "cannot build oauth2-proxy (scripts/tools/oauth2-proxy.sh)" >&2
  exit 1
fi
export SPOOR_TEST_OAUTH2_PROXY

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast

# The web UI (docs/ui.md): lint, type checks and unit tests of ui/, then
# the end-to-end tests in headless Chromium against a running spoor.
if [ -f ui/package.json ]; then
  step "UI: npm ci, lint, typecheck, unit tests (ui/)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run lint && npm run typecheck && npm test)
  cp ui/package-lock.json ui/node_modules/.spoor-installed-lock.json
  step "UI end-to-end tests (scripts/ui-e2e.sh)"
  scripts/ui-e2e.sh
else
  step "UI: skipped, ui/package.json does not exist (no web UI in this tree)"
fi

# Deployment artifacts (docs/deploy.md): the Dockerfile's build steps (or the
# image, where a Docker engine answers) and the Helm chart, validated offline.
step "container image (scripts/check-dockerfile.sh)"
scripts/check-dockerfile.sh
step "Helm chart (scripts/check-helm.sh)"
scripts/check-helm.sh
