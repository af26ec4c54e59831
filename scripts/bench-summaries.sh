#!/usr/bin/env bash
# Times summary searches (/api/v3/trace-summaries) of one `spoor` build on
# the engine: loads 20,000 tracegen traces (3 services, seed 7, no very
# large traces), waits until the head is cut into blocks, then asks for the
# 20 and the 20,000 newest traces of one service, five times each, and
# prints curl's total time per request (BENCHMARKS.md, "Summary searches").
#
#   scripts/bench-summaries.sh BIN LABEL PORT
#
# BIN: the spoor binary (a release build); LABEL: names the data folder
# (under $SPOOR_SUMBENCH_DIR, default /var/tmp/spoor-sumbench) and the
# output lines; PORT: the first of four ports on 127.0.0.61.
set -euo pipefail
bin=$1 label=$2 port=$3
host=127.0.0.61
dir=${SPOOR_SUMBENCH_DIR:-/var/tmp/spoor-sumbench}/data-$label
rm -rf "$dir" && mkdir -p "$dir"
admin=http://$host:$((port + 3)) query=http://$host:$((port + 2))
off=()
for key in jaeger-compact jaeger-binary jaeger-http jaeger-grpc zipkin sampling-http sampling-grpc; do
  off+=("--$key-addr" off)
done
"$bin" --data-dir "$dir" --otlp-grpc-addr "$host:$port" --otlp-http-addr "$host:$((port + 1))" \
  --query-http-addr "$host:$((port + 2))" --admin-http-addr "$host:$((port + 3))" "${off[@]}" \
  --block-cut-age 2s --log warn >"$dir.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "$admin/status" >/dev/null && break; sleep 0.2; done
"$bin" tracegen --endpoint "http://$host:$port" --traces 20000 --rate 0 --large-trace-every 0 \
  --services 3 --seed 7 --workers 2 >/dev/null 2>&1
sleep 8
curl -s "$admin/metrics" | grep -E '^spoor_engine_(head_spans|blocks|block_spans) ' || true
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ) to=$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)
service=$(curl -s "$query/api/services" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["data"])[0])')
for n in 20 20000; do
  url="$query/api/v3/trace-summaries?query.service_name=$service&query.start_time_min=$from&query.start_time_max=$to&query.num_traces=$n"
  for run in 1 2 3 4 5; do
    curl -s -o "$dir-$n.json" -w "$label n=$n run=$run %{time_total} s %{size_download} B\n" "$url"
  done
done
curl -s "$admin/metrics" | grep -E '^spoor_engine_(stored_summaries|block_trace_reads)_total' || true
