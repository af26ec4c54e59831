#!/usr/bin/env bash
# End-to-end tests of the web UI in headless Chromium (docs/ui.md):
# builds the UI and the `spoor` binary that embeds it, starts three Spoor
# instances (in memory; one under --base-path /spoor, one hosting the Jaeger
# UI fixture build under /jaeger) on free ports, loads
# `spoor tracegen` traces and the tests' own OTLP fixtures, runs the
# Playwright specs in ui/e2e/specs, takes the screenshots in docs/screenshots
# and measures the time until a 50,000-span trace is interactive
# (target/ui-bench.json). Every instance is stopped on exit.
#
# Environment:
#   SPOOR_CHROMIUM           the browser (default: chromium on the PATH; installed with apt when root)
#   SPOOR_E2E_PROFILE        cargo profile of the binary: dev (default, shared with `cargo test`) or release
#   SPOOR_SCREENSHOT_DIR     where screenshots go (default docs/screenshots; empty = none)
#   SPOOR_UI_BENCH=0         skip the 50,000-span measurement
#   SPOOR_UI_BENCH_OUT       where the measurement is written (default target/ui-bench.json)
#   SPOOR_UI_BENCH_RUNS      page loads measured (default 3)
#   SPOOR_UI_BENCH_SPANS     spans of the measured trace (default 50000)
#   SPOOR_E2E_SPECS          spec files to run (default: all of ui/e2e/specs/*.test.mjs)
#   SPOOR_E2E_SKIP_BUILD=1   use the UI build and binary as they are
#   SPOOR_TEST_MOCKOIDC      mockoidc (scripts/tools/mockoidc.sh) for the login spec; built when unset and Go is there
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

if [ ! -f ui/package.json ]; then
  echo "ui-e2e: ui/package.json does not exist: no web UI to test (skipped)"
  exit 0
fi

# --- the browser: Debian's Chromium, driven by playwright-core (no download)
chromium_bin=${SPOOR_CHROMIUM:-}
if [ -z "$chromium_bin" ]; then
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then chromium_bin=$(command -v "$c"); break; fi
  done
fi
if [ -z "$chromium_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Chromium (apt-get install chromium)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chromium_bin=$(command -v chromium)
  else
    echo "ui-e2e: no Chromium found; install Debian's 'chromium' package or set SPOOR_CHROMIUM" >&2
    exit 1
  fi
fi
export SPOOR_CHROMIUM=$chromium_bin

# playwright-core and `node --test --test-concurrency` need Node.js 20.10 or newer.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)'; then
  echo "ui-e2e: Node.js $(node --version) is too old; the UI tests need 20.10 or newer" >&2
  exit 1
fi

# --- npm dependencies: installed (npm ci) when missing or when the lock changed
npm_ci() {
  local dir=$1 stamp=$1/node_modules/.spoor-installed-lock.json
  if ! cmp -s "$dir/package-lock.json" "$stamp"; then
    step "npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    cp "$dir/package-lock.json" "$stamp"
  fi
}
npm_ci ui
npm_ci ui/e2e

profile=${SPOOR_E2E_PROFILE:-dev}
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$profile" in
  dev) spoor_bin=$target_dir/debug/spoor ;;
  release) spoor_bin=$target_dir/release/spoor ;;
  *) echo "ui-e2e: SPOOR_E2E_PROFILE must be dev or release" >&2; exit 1 ;;
esac
if [ "${SPOOR_E2E_SKIP_BUILD:-0}" != 1 ]; then
  step "building the UI (npm run build)"
  npm --prefix ui run build
  step "building spoor ($profile profile; embeds ui/dist)"
  cargo build -p spoor --locked --profile "$profile"
fi
[ -x "$spoor_bin" ] || { echo "ui-e2e: $spoor_bin was not built" >&2; exit 1; }
export SPOOR_E2E_PROFILE=$profile

# --- three Spoor instances on free ports, every unused listener off
read -r query1 otlp1 query2 otlp2 query3 otlp3 < <(node -e '
  const net = require("node:net");
  const servers = [0, 1, 2, 3, 4, 5].map(() => net.createServer().listen(0, "127.0.0.1"));
  Promise.all(servers.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });')
work=$(mktemp -d "${TMPDIR:-/tmp}/spoor-ui-e2e.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] && { echo "--- last lines of $log"; tail -n 30 "$log"; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

start_spoor() {
  local name=$1 query=$2 otlp=$3; shift 3
  "$spoor_bin" --storage memory --host 127.0.0.1 \
    --query-http-addr "$query" --otlp-http-addr "$otlp" \
    --otlp-grpc-addr off --admin-http-addr off \
    --jaeger-compact-addr off --jaeger-binary-addr off --jaeger-http-addr off --jaeger-grpc-addr off \
    --zipkin-addr off --sampling-http-addr off --sampling-grpc-addr off --query-grpc-addr off \
    --ui-menu-link 'E2E Runbook=https://example.com/spoor-runbook' \
    --log warn "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}
wait_ready() {
  local url=$1 pid=$2
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url/api/services"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "ui-e2e: spoor exited before it was ready" >&2; return 1; }
    sleep 0.1
  done
  echo "ui-e2e: spoor did not answer $url/api/services within 30 s" >&2
  return 1
}
step "starting spoor on :$query1, under --base-path /spoor on :$query2, and hosting a Jaeger UI build under /jaeger on :$query3"
start_spoor main "$query1" "$otlp1"
start_spoor base "$query2" "$otlp2" --base-path /spoor
# A Jaeger UI build (the test fixture) hosted as Jaeger hosts it.
cat >"$work/jaeger-ui-config.json" <<'JSON'
{"dependencies": {"menuEnabled": false}, "monitor": {"menuEnabled": true},
 "menu": [{"label": "Runbook", "url": "https://example.com/runbook"}]}
JSON
start_spoor jaeger "$query3" "$otlp3" --base-path /jaeger \
  --ui-assets "$root/crates/spoor/tests/fixtures/jaeger-ui" --ui-config "$work/jaeger-ui-config.json"
wait_ready "http://127.0.0.1:$query1" "${pids[0]}"
wait_ready "http://127.0.0.1:$query2/spoor" "${pids[1]}"
wait_ready "http://127.0.0.1:$query3/jaeger" "${pids[2]}"

# --- Spoor's own login (ui/e2e/specs/login.test.mjs): mockoidc and a Spoor
# with security.login on 127.0.0.97, when mockoidc is available
# (SPOOR_TEST_MOCKOIDC, as scripts/test.sh exports it, or built now).
mockoidc_bin=${SPOOR_TEST_MOCKOIDC:-}
if [ -z "$mockoidc_bin" ] && command -v go >/dev/null 2>&1; then
  mockoidc_bin=$(scripts/tools/mockoidc.sh 2>"$work/mockoidc-build.log" || true)
fi
if [ -n "$mockoidc_bin" ] && [ -x "$mockoidc_bin" ]; then
  step "starting mockoidc and spoor with security.login on 127.0.0.97"
  "$mockoidc_bin" -listen 127.0.0.97:0 -client-id spoor-ui -client-secret e2e-secret \
    >"$work/mockoidc.out" 2>"$work/mockoidc.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ -s "$work/mockoidc.out" ] && break
    sleep 0.1
  done
  issuer=$(head -n1 "$work/mockoidc.out")
  [ -n "$issuer" ] || { echo "ui-e2e: mockoidc printed no issuer" >&2; exit 1; }
  read -r query4 otlp4 < <(node -e '
    const net = require("node:net");
    const servers = [0, 1].map(() => net.createServer().listen(0, "127.0.0.97"));
    Promise.all(servers.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    });')
  printf 'e2e-secret\n' >"$work/client-secret"
  cat >"$work/login.yaml" <<YAML
version: 1
security:
  login:
    issuer: $issuer
    client_id: spoor-ui
    client_secret_file: $work/client-secret
YAML
  start_spoor login "127.0.0.97:$query4" "127.0.0.97:$otlp4" --config "$work/login.yaml"
  login_pid=${pids[-1]}
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.97:$query4/api/services" || true)
    [ "$code" = 401 ] || [ "$code" = 200 ] && break
    kill -0 "$login_pid" 2>/dev/null || { echo "ui-e2e: spoor (login) exited before it was ready" >&2; exit 1; }
    sleep 0.1
  done
  export SPOOR_LOGIN_URL=http://127.0.0.97:$query4
  export SPOOR_LOGIN_ISSUER=$issuer
else
  echo "ui-e2e: no mockoidc (set SPOOR_TEST_MOCKOIDC or install Go): the login spec is skipped"
fi

export SPOOR_URL=http://127.0.0.1:$query1
export SPOOR_OTLP_URL=http://127.0.0.1:$otlp1
export SPOOR_BASE_URL=http://127.0.0.1:$query2/spoor
export SPOOR_BASE_OTLP_URL=http://127.0.0.1:$otlp2
export SPOOR_JAEGER_UI_URL=http://127.0.0.1:$query3/jaeger
export SPOOR_SCREENSHOT_DIR=${SPOOR_SCREENSHOT_DIR-$root/docs/screenshots}
export SPOOR_UI_BENCH_OUT=${SPOOR_UI_BENCH_OUT:-$root/target/ui-bench.json}

step "loading traces: spoor tracegen (seed 7, 300 traces) and the tests' OTLP fixtures"
for otlp in "$otlp1" "$otlp2"; do
  "$spoor_bin" tracegen --protocol otlp-http-json --endpoint "http://127.0.0.1:$otlp" \
    --seed 7 --workers 1 --traces 300 --rate 0 --large-trace-every 0 --json-summary >"$work/tracegen-$otlp.json"
done
node ui/e2e/setup.mjs

step "UI end-to-end specs (headless $("$chromium_bin" --version 2>/dev/null | head -n1 || echo chromium))"
# shellcheck disable=SC2086
node --test --test-concurrency=1 ${SPOOR_E2E_SPECS:-ui/e2e/specs/*.test.mjs}

if [ "${SPOOR_UI_BENCH:-1}" != 0 ]; then
  step "measuring the time until a ${SPOOR_UI_BENCH_SPANS:-50000}-span trace is interactive"
  node ui/e2e/bench.mjs
fi
