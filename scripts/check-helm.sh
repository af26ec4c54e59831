#!/usr/bin/env bash
# Offline checks of the Helm chart deploy/helm/spoor (docs/deploy.md). Called
# by scripts/test.sh; downloads nothing at run time but Go modules (through
# the Go module proxy, once, into caches outside the clone):
#   1. installs Helm (helm.sh/helm/v4, `go install`) into
#      $SPOOR_TOOLS_DIR/helm-VERSION when it is not there yet;
#   2. tests the manifest validator (deploy/validate: strict decoding into
#      k8s.io/api types plus cross-object checks) and builds it;
#   3. `helm lint --strict` with the default values and each ci/*-values.yaml;
#   4. `helm template` of every variant, each validated, with the objects
#      each must render;
#   5. what must fail does: mode=distributed and unknown values keys
#      (values.schema.json), keys the chart owns in allInOne.config, and a
#      rendered manifest with a misspelled field (the validator);
#   6. the rendered Spoor config file and agent arguments start the real
#      `spoor` binary (dev build), healthy on /status, on a loopback address.
#
# Environment:
#   SPOOR_TOOLS_DIR   where Helm, Go's module and build caches live (default /var/tmp/spoor-tools)
#   SPOOR_CHECK_HOST  loopback address for step 6 (default 127.0.0.58)
#   SPOOR_BIN         the `spoor` binary of step 6 (default: `cargo build -p spoor`,
#                     the dev build `cargo test` made already)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-helm: $*" >&2; exit 1; }
timed() {
  local label=$1 start=$SECONDS; shift
  "$@"
  echo "check-helm: $label took $((SECONDS - start)) s"
}

tools=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
helm_version=v4.3.2
helm_dir=$tools/helm-$helm_version
helm=$helm_dir/bin/helm
export GOMODCACHE=${GOMODCACHE:-$tools/gomod} GOCACHE=${GOCACHE:-$tools/gocache}
export GOFLAGS="-modcacherw -buildvcs=false"
chart=deploy/helm/spoor

# --- 1. Helm
if [ ! -x "$helm" ]; then
  echo "check-helm: installing Helm $helm_version into $helm_dir (go install; a few minutes the first time)"
  rm -rf "$helm_dir/bin.tmp"
  timed "installing Helm" env GOBIN="$helm_dir/bin.tmp" go install "helm.sh/helm/v4/cmd/helm@$helm_version"
  mkdir -p "$helm_dir/bin"
  mv "$helm_dir/bin.tmp/helm" "$helm" && rmdir "$helm_dir/bin.tmp"
fi
"$helm" version --short

work=$(mktemp -d "${TMPDIR:-/tmp}/spoor-check-helm.XXXXXX")
pid=
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$status" != 0 ] && [ -f "$work/spoor.log" ]; then echo "--- $work/spoor.log"; tail -n 30 "$work/spoor.log"; fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

# --- 2. the validator: its own tests (including the refusals), then a build
(cd deploy/validate && timed "go test (deploy/validate)" go test -count=1 ./... &&
  go build -o "$work/validate" .)
validate=$work/validate

# --- 3. lint
timed "helm lint --strict (4 value sets)" bash -c '
  "$1" lint --strict "$2" >/dev/null
  for values in "$2"/ci/*-values.yaml; do "$1" lint --strict "$2" -f "$values" >/dev/null || exit 1; done
' _ "$helm" "$chart" || fail "helm lint --strict failed (run it by hand for the messages)"
echo "check-helm: helm lint --strict passes with the default values and ${chart}/ci/*-values.yaml"

# --- 4. template and validate every variant
render() { # name, expected summary, helm template args...
  local name=$1 want=$2; shift 2
  "$helm" template spoor "$chart" --namespace tracing "$@" >"$work/$name.yaml"
  local got
  got=$("$validate" "$work/$name.yaml" 2>&1) || { echo "$got" >&2; fail "the $name manifests are not valid"; }
  [ "$got" = "validate: $want" ] || fail "$name: got '$got', want '$want'"
  echo "check-helm: $name: $want"
}
start=$SECONDS
base="ConfigMap×1, Service×4, ServiceAccount×1, StatefulSet×1"
render default "7 objects valid: $base"
render memory "7 objects valid: $base" -f "$chart/ci/memory-values.yaml"
render persistent "7 objects valid: $base" -f "$chart/ci/persistent-values.yaml"
render agent "8 objects valid: ConfigMap×1, DaemonSet×1, Service×4, ServiceAccount×1, StatefulSet×1" -f "$chart/ci/agent-values.yaml"
render agent-jaeger "8 objects valid: ConfigMap×1, DaemonSet×1, Service×4, ServiceAccount×1, StatefulSet×1" --set agent.enabled=true
grep -q 'volumeClaimTemplates:' "$work/persistent.yaml" || fail "persistent: no volumeClaimTemplates"
grep -q 'storage: "50Gi"' "$work/persistent.yaml" || fail "persistent: the claim does not request 50Gi"
grep -q 'volumeClaimTemplates:' "$work/memory.yaml" && fail "memory: renders a volumeClaimTemplates"
grep -q 'name: data' "$work/memory.yaml" && fail "memory: mounts a data volume"
grep -q 'volumeClaimTemplates:' "$work/agent.yaml" && fail "persistence.enabled=false renders a volumeClaimTemplates"
for svc in collector collector-headless query agent; do
  grep -q "name: spoor-$svc\$" "$work/default.yaml" || fail "no Service spoor-$svc"
done
# NOTES.txt renders (helm install --dry-run=client needs no cluster)
"$helm" install spoor "$chart" --namespace tracing --dry-run=client -f "$chart/ci/memory-values.yaml" >"$work/notes.txt"
if ! grep -q 'port-forward svc/spoor-query 16686:16686' "$work/notes.txt" || ! grep -q 'http://127.0.0.1:16686/jaeger/' "$work/notes.txt"; then
  fail "NOTES.txt does not say how to reach the UI: $(sed -n '/^NOTES:/,$p' "$work/notes.txt")"
fi
echo "check-helm: helm template and validation of 5 variants, and NOTES.txt, took $((SECONDS - start)) s"

# --- 5. what must fail
must_fail() { # description, expected message, command...
  local what=$1 want=$2 out; shift 2
  if out=$("$@" 2>&1); then fail "$what was accepted"; fi
  grep -q -- "$want" <<<"$out" || { echo "$out" >&2; fail "$what failed without '$want'"; }
  echo "check-helm: refused as it should be: $what"
}
must_fail "mode=distributed (arrives with the roles)" "value must be 'allInOne'" \
  "$helm" template spoor "$chart" --set mode=distributed
must_fail "a misspelled values key" "additional properties 'storag' not allowed" \
  "$helm" template spoor "$chart" --set allInOne.storag.backend=memory
must_fail "a storage backend that does not exist" "backend" \
  "$helm" template spoor "$chart" --set allInOne.storage.backend=badger
must_fail "allInOne.config.host (the chart owns it)" "allInOne.config.host is set by the chart" \
  "$helm" template spoor "$chart" --set allInOne.config.host=127.0.0.1
sed 's/^      containers:$/      contianers:/' "$work/default.yaml" >"$work/misspelled.yaml"
cmp -s "$work/default.yaml" "$work/misspelled.yaml" && fail "the misspelling test changed nothing"
must_fail "a rendered manifest with a misspelled field" 'unknown field "spec.template.spec.contianers"' \
  "$validate" "$work/misspelled.yaml"
sed 's/targetPort: otlp-grpc,/targetPort: otlp-grpcc,/' "$work/default.yaml" >"$work/badport.yaml"
must_fail "a Service port targeting no container port" "targets otlp-grpcc/TCP" \
  "$validate" "$work/badport.yaml"

# --- 6. the real binary takes the rendered config file and agent arguments
host=${SPOOR_CHECK_HOST:-127.0.0.58}
spoor=${SPOOR_BIN:-}
if [ -z "$spoor" ]; then
  timed "cargo build -p spoor (dev; shared with cargo test)" cargo build -q -p spoor --locked
  spoor=${CARGO_TARGET_DIR:-$PWD/target}/debug/spoor
fi
[ -x "$spoor" ] || fail "no $spoor"
wait_healthy() { # admin address
  for _ in $(seq 1 300); do
    if deploy/docker/healthcheck.sh "$1" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; pid=; fail "spoor exited before it was healthy"; }
    sleep 0.1
  done
  fail "spoor was not healthy on $1/status within 30 s"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
for variant in default memory persistent agent; do
  mkdir -p "$work/$variant-etc" "$work/$variant-data"
  "$validate" -configmap-key spoor.yaml "$work/$variant.yaml" >"$work/$variant-etc/spoor.yaml"
  "$validate" -configmap-key strategies.json "$work/$variant.yaml" >"$work/$variant-etc/strategies.json" 2>/dev/null || true
  # The pod reads /etc/spoor/spoor.yaml; here the file's own paths point
  # into $work, and the environment (which wins over the file) moves the
  # listeners to $host.
  sed -i -e "s|/etc/spoor/|$work/$variant-etc/|; s|/var/lib/spoor|$work/$variant-data|" "$work/$variant-etc/spoor.yaml"
  mapfile -t args < <("$validate" -container-args StatefulSet/spoor/spoor "$work/$variant.yaml")
  [ "${args[*]:0:2}" = "--config /etc/spoor/spoor.yaml" ] || fail "$variant: the container's args are '${args[*]}'"
  args[1]=$work/$variant-etc/spoor.yaml
  SPOOR_HOST=$host "$spoor" "${args[@]}" --log warn >"$work/spoor.log" 2>&1 &
  pid=$!
  wait_healthy "$host:13133"
  stop
  echo "check-helm: spoor starts healthy with the $variant config file"
done
if ! grep -q 'backend: memory' "$work/memory-etc/spoor.yaml" || ! grep -q 'max_traces: 50000' "$work/memory-etc/spoor.yaml"; then
  fail "the memory variant's config has no memory backend with max_traces"
fi
for variant in agent agent-jaeger; do
  mapfile -t args < <("$validate" -container-args DaemonSet/spoor-agent/agent "$work/$variant.yaml")
  [ "${args[0]}" = agent ] || fail "$variant: the agent container does not run 'spoor agent'"
  SPOOR_AGENT_HOST=$host "$spoor" "${args[@]}" --log warn >"$work/spoor.log" 2>&1 &
  pid=$!
  wait_healthy "$host:14271"
  stop
  echo "check-helm: spoor ${args[*]} starts healthy (the $variant DaemonSet's arguments)"
done
echo "check-helm: the chart lints, renders valid manifests in every variant, refuses what it must, and its config starts spoor"
