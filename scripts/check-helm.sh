#!/usr/bin/env bash
# Offline checks of the Helm chart deploy/helm/spoor (docs/deploy.md). Called
# by scripts/test.sh; downloads nothing at run time but Go modules (through
# the Go module proxy, once, into caches outside the clone):
#   1. installs Helm (helm.sh/helm/v4, `go install`) into
#      $SPOOR_TOOLS_DIR/helm-VERSION when it is not there yet;
#   2. tests the manifest validator (deploy/validate: strict decoding into
#      k8s.io/api types plus cross-object checks) and builds it;
#   3. `helm lint --strict` with the default values and each ci/*-values.yaml;
#   4. `helm template` of every variant (allInOne and distributed), each
#      validated, with the objects each must render;
#   5. what must fail does: mode=distributed without distributed.blocksUrl
#      and unknown values keys (values.schema.json, the templates), keys the
#      chart owns in the config file, and rendered manifests with a
#      misspelled field or a Service port targeting nothing (the validator);
#   6. the rendered Spoor config file and agent arguments start the real
#      `spoor` binary (dev build), healthy on /status, on a loopback address;
#      the distributed roles' containers run `spoor collector`, `spoor query`
#      and `spoor compactor`.
#
# Environment:
#   SPOOR_TOOLS_DIR   where Helm, Go's module and build caches live (default /var/tmp/spoor-tools)
#   SPOOR_CHECK_HOST  loopback address for step 6 (default 127.0.0.58)
#   SPOOR_BIN         the `spoor` binary of step 6 (default: `cargo build -p spoor`,
#                     the dev build `cargo test` made already)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-helm: $*" >&2; exit 1; }
# Runs a command and says how long it took; returns the command's status
# (set -e does not stop inside a function called from `||` or `&&`).
timed() {
  local label=$1 start=$SECONDS status=0; shift
  "$@" || status=$?
  echo "check-helm: $label took $((SECONDS - start)) s"
  return "$status"
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
value_sets=("$chart"/ci/*-values.yaml)
lint_all() {
  "$helm" lint --strict "$chart" >/dev/null || return 1
  for values in "${value_sets[@]}"; do "$helm" lint --strict "$chart" -f "$values" >/dev/null || return 1; done
}
timed "helm lint --strict ($((${#value_sets[@]} + 1)) value sets)" lint_all ||
  fail "helm lint --strict failed (run it by hand for the messages)"
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
render distributed "10 objects valid: ConfigMap×1, DaemonSet×1, Deployment×2, Service×4, ServiceAccount×1, StatefulSet×1" \
  -f "$chart/ci/distributed-values.yaml"
render distributed-minimal "9 objects valid: ConfigMap×1, Deployment×2, Service×4, ServiceAccount×1, StatefulSet×1" \
  --set mode=distributed --set distributed.blocksUrl=s3://spoor-traces/dev
grep -q 'volumeClaimTemplates:' "$work/persistent.yaml" || fail "persistent: no volumeClaimTemplates"
grep -q 'storage: "50Gi"' "$work/persistent.yaml" || fail "persistent: the claim does not request 50Gi"
grep -q 'volumeClaimTemplates:' "$work/memory.yaml" && fail "memory: renders a volumeClaimTemplates"
grep -q 'name: data' "$work/memory.yaml" && fail "memory: mounts a data volume"
grep -q 'volumeClaimTemplates:' "$work/agent.yaml" && fail "persistence.enabled=false renders a volumeClaimTemplates"
for svc in collector collector-headless query agent; do
  grep -q "name: spoor-$svc\$" "$work/default.yaml" || fail "no Service spoor-$svc"
done
# objects FILE: the Kind/name of every document, sorted;
# objects FILE Kind/name: that document.
objects() {
  awk -v want="${2:-}" '
    function flush() {
      if (k != "") { if (want == "") print k "/" n; else if (k "/" n == want) printf "%s", doc }
      doc = ""; k = ""; n = ""; m = 0
    }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n" }
    /^kind: / { k = $2 }
    /^metadata:/ { m = 1; next }
    m && /^  name: / { n = $2; m = 0 }
    END { flush() }' "$1" | if [ -z "${2:-}" ]; then sort; else cat; fi
}
expect() { # variant, Kind/name, fixed strings the object must contain...
  local variant=$1 object=$2 text body; shift 2
  body=$(objects "$work/$variant.yaml" "$object")
  [ -n "$body" ] || fail "$variant: no $object"
  for text in "$@"; do grep -qF -- "$text" <<<"$body" || fail "$variant: $object has no '$text'"; done
}
for variant in distributed distributed-minimal; do
  want="ConfigMap/spoor-collector Deployment/spoor-compactor Deployment/spoor-query Service/spoor-agent
Service/spoor-collector Service/spoor-collector-headless Service/spoor-query ServiceAccount/spoor StatefulSet/spoor-collector"
  [ "$variant" = distributed ] && want+=" DaemonSet/spoor-agent"
  got=$(objects "$work/$variant.yaml" | tr '\n' ' ')
  [ "$got" = "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')" ] || fail "$variant renders $got"
  expect "$variant" StatefulSet/spoor-collector "serviceName: spoor-collector-headless" "podManagementPolicy: Parallel" \
    "volumeClaimTemplates:" "- { name: data, mountPath: /var/lib/spoor }" "name: SPOOR_NODE_ID" "fieldPath: metadata.name" \
    "name: SPOOR_BLOCKS_URL" "- { name: cluster-grpc, containerPort: 14300, protocol: TCP }" "httpGet: { path: /status, port: admin-http }"
  expect "$variant" Service/spoor-collector-headless "clusterIP: None" "publishNotReadyAddresses: false" \
    "app.kubernetes.io/component: collector" "{ name: cluster-grpc, port: 14300, targetPort: cluster-grpc,"
  expect "$variant" Service/spoor-collector "app.kubernetes.io/component: collector" "{ name: otlp-grpc, port: 4317," \
    "{ name: grpc-http, port: 14250," "{ name: http-c-binary-trft, port: 14268," "{ name: http-zipkin, port: 9411,"
  expect "$variant" Deployment/spoor-query "name: SPOOR_COLLECTORS" \
    'value: "dns+spoor-collector-headless.tracing.svc.cluster.local:14300"' "name: SPOOR_BLOCKS_URL" "emptyDir:"
  expect "$variant" Service/spoor-query "app.kubernetes.io/component: query" "{ name: http-query, port: 16686," \
    "{ name: grpc-query, port: 16685,"
  expect "$variant" Deployment/spoor-compactor "name: SPOOR_NODE_ID" "name: SPOOR_BLOCKS_URL" "- --retention" \
    "- { name: admin-http, containerPort: 16688, protocol: TCP }"
done
expect distributed-minimal Deployment/spoor-query "replicas: 2"
expect distributed Deployment/spoor-query '- --read-cache-dir' '- "4294967296"' \
  '- { name: read-cache, mountPath: /var/lib/spoor-cache }' 'sizeLimit: "4724464025"'
if grep -q -e read-cache "$work/distributed-minimal.yaml"; then
  fail "distributed-minimal: a read-cache disk tier without distributed.query.readCacheDiskBytes"
fi
expect distributed-minimal Deployment/spoor-compactor "replicas: 1" '- "168h"'
expect distributed-minimal StatefulSet/spoor-collector 'storage: "10Gi"'
expect distributed-minimal Service/spoor-agent "app.kubernetes.io/component: collector"
if grep -q -e AWS_ACCESS_KEY_ID -e AWS_REGION "$work/distributed-minimal.yaml"; then
  fail "distributed-minimal: AWS variables without distributed.s3 settings"
fi
for object in StatefulSet/spoor-collector Deployment/spoor-query Deployment/spoor-compactor; do
  expect distributed "$object" "name: AWS_REGION" "name: AWS_ACCESS_KEY_ID" "name: AWS_SECRET_ACCESS_KEY" \
    'secretKeyRef: { name: "spoor-s3", key: AWS_SECRET_ACCESS_KEY }'
done
expect distributed DaemonSet/spoor-agent '- "spoor-collector:14250"'
expect distributed Service/spoor-agent "app.kubernetes.io/component: agent"
# NOTES.txt renders (helm install --dry-run=client needs no cluster)
"$helm" install spoor "$chart" --namespace tracing --dry-run=client -f "$chart/ci/memory-values.yaml" >"$work/notes.txt"
if ! grep -q 'port-forward svc/spoor-query 16686:16686' "$work/notes.txt" || ! grep -q 'http://127.0.0.1:16686/jaeger/' "$work/notes.txt"; then
  fail "NOTES.txt does not say how to reach the UI: $(sed -n '/^NOTES:/,$p' "$work/notes.txt")"
fi
"$helm" install spoor "$chart" --namespace tracing --dry-run=client -f "$chart/ci/distributed-values.yaml" >"$work/notes.txt"
grep -q 'runs distributed in tracing' "$work/notes.txt" || fail "NOTES.txt of the distributed variant: $(sed -n '/^NOTES:/,$p' "$work/notes.txt")"
echo "check-helm: helm template and validation of 7 variants, and NOTES.txt, took $((SECONDS - start)) s"

# --- 5. what must fail
must_fail() { # description, expected message, command...
  local what=$1 want=$2 out; shift 2
  if out=$("$@" 2>&1); then fail "$what was accepted"; fi
  grep -q -- "$want" <<<"$out" || { echo "$out" >&2; fail "$what failed without '$want'"; }
  echo "check-helm: refused as it should be: $what"
}
must_fail "mode=distributed without distributed.blocksUrl (values.schema.json)" "at '/distributed/blocksUrl': minLength" \
  "$helm" template spoor "$chart" --set mode=distributed
must_fail "mode=distributed without distributed.blocksUrl (the templates)" "distributed.blocksUrl is required" \
  "$helm" template spoor "$chart" --set mode=distributed --skip-schema-validation
must_fail "a distributed.blocksUrl that is not s3://, gs:// or az://" "at '/distributed/blocksUrl'" \
  "$helm" template spoor "$chart" -f "$chart/ci/distributed-values.yaml" --set distributed.blocksUrl=file:///var/lib/spoor/blocks
for url in gs://spoor-traces/prod az://spoor-traces/prod; do
  "$helm" template spoor "$chart" --set mode=distributed --set "distributed.blocksUrl=$url" >/dev/null ||
    fail "distributed.blocksUrl=$url was refused"
  echo "check-helm: accepted as it should be: distributed.blocksUrl=$url"
done
must_fail "a misspelled distributed key" "additional properties 'replica' not allowed" \
  "$helm" template spoor "$chart" -f "$chart/ci/distributed-values.yaml" --set distributed.query.replica=3
must_fail "distributed.collector.config.listeners (the chart owns it)" "distributed.collector.config.listeners is set by the chart" \
  "$helm" template spoor "$chart" -f "$chart/ci/distributed-values.yaml" --set distributed.collector.config.listeners.otlp_grpc=4000
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
sed 's/targetPort: cluster-grpc,/targetPort: cluster-grpcc,/' "$work/distributed.yaml" >"$work/badport.yaml"
must_fail "a headless collector Service port targeting no collector port" "targets cluster-grpcc/TCP" \
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
# The distributed roles: each container runs `spoor ROLE …`, with the
# collectors' config file. One line per role: the role, its KIND/NAME/CONTAINER,
# its admin port (/status).
roles=(
  "collector StatefulSet/spoor-collector/collector 13133"
  "query Deployment/spoor-query/query 16687"
  "compactor Deployment/spoor-compactor/compactor 16688"
)
mkdir -p "$work/distributed-etc"
"$validate" -configmap-key spoor.yaml "$work/distributed.yaml" >"$work/distributed-etc/spoor.yaml"
"$validate" -configmap-key strategies.json "$work/distributed.yaml" >"$work/distributed-etc/strategies.json"
sed -i -e "s|/etc/spoor/|$work/distributed-etc/|" "$work/distributed-etc/spoor.yaml"
if ! grep -qx 'version: 1' "$work/distributed-etc/spoor.yaml" ||
  ! grep -q "strategies: $work/distributed-etc/strategies.json" "$work/distributed-etc/spoor.yaml"; then
  fail "the collectors' config file: $(cat "$work/distributed-etc/spoor.yaml")"
fi
for entry in "${roles[@]}"; do
  read -r role object admin <<<"$entry"
  mapfile -t args < <("$validate" -container-args "$object" "$work/distributed.yaml")
  [ "${args[0]:-}" = "$role" ] || fail "distributed: $object runs '${args[*]}', not 'spoor $role …'"
  echo "check-helm: the distributed $role container runs spoor ${args[*]} (admin port $admin)"
  # The pod's arguments, its paths moved into $work, start the real role
  # healthy; the store is a folder here (the chart's is an s3:// URL).
  args=("${args[@]//\/etc\/spoor\//$work/distributed-etc/}")
  args=("${args[@]//\/var\/lib\/spoor/$work/distributed-$role}")
  mkdir -p "$work/distributed-$role" "$work/distributed-blocks"
  SPOOR_HOST=$host SPOOR_NODE_ID=$role-0 SPOOR_BLOCKS_URL=file://$work/distributed-blocks SPOOR_COLLECTORS=$host:14300 \
    "$spoor" "${args[@]}" --log warn >"$work/spoor.log" 2>&1 &
  pid=$!
  wait_healthy "$host:$admin"
  stop
  echo "check-helm: spoor $role starts healthy with the distributed $object arguments"
done
echo "check-helm: the chart lints, renders valid manifests in every variant, refuses what it must, and its config starts spoor"
