#!/usr/bin/env bash
# Checks the container image (Dockerfile; docs/deploy.md). Called by
# scripts/test.sh.
#
# Where a Docker engine answers, builds the image and runs `spoor --version`
# in it. Where none does (as on the project's CI machines), says that it
# skips the image build and validates the Dockerfile's steps instead:
#   1. the Dockerfile's RUN build commands are exactly the steps of
#      scripts/build-release.sh that this check runs, in the same order, and
#      every file the Dockerfile copies from the context exists;
#   2. it runs those steps: the UI build, then the release build of `spoor`
#      into $SPOOR_RELEASE_CI_TARGET (default /var/tmp/spoor-release-ci,
#      outside the clone, kept between runs) and the image's stripped copy;
#   3. it starts that binary with the image's environment (on a loopback
#      address instead of 0.0.0.0) and runs the image's HEALTHCHECK command,
#      deploy/docker/healthcheck.sh, against it.
#
# Environment:
#   SPOOR_RELEASE_CI_TARGET        cargo target dir of the release build
#   SPOOR_CHECK_RELEASE_BUILD      auto (default): run step 2's release build and
#                                  step 3 only when the target dir holds a release
#                                  build already (warm); a cold one takes 9-14
#                                  minutes on 2 cores, more than CI's budget has
#                                  room for. 1: always (warms the cache). 0: never.
#                                  Step 1 and the UI build always run.
#   SPOOR_CHECK_HOST               loopback address for step 3 (default 127.0.0.57)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "check-dockerfile: $*" >&2; exit 1; }
timed() {
  local label=$1 start=$SECONDS; shift
  "$@"
  echo "check-dockerfile: $label took $((SECONDS - start)) s"
}

# The build steps, in the order the Dockerfile runs them.
steps=(ui-deps ui-build binary image-binary)

# --- 1. the Dockerfile runs exactly these steps, and nothing builds beside them
# (continuation lines joined, so a multi-line RUN is one instruction)
instructions=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' Dockerfile | grep -Ev '^[[:space:]]*(#|$)')
mapfile -t dockerfile_steps < <(sed -n 's|^RUN scripts/build-release\.sh \([a-z-]*\)\( [^ ;&|]*\)\{0,1\}[[:space:]]*$|\1|p' <<<"$instructions")
[ "${dockerfile_steps[*]}" = "${steps[*]}" ] ||
  fail "the Dockerfile runs build steps '${dockerfile_steps[*]}', this check runs '${steps[*]}': keep them the same"
for s in "${steps[@]}"; do
  grep -Eq "^[[:space:]]+$s\)" scripts/build-release.sh || fail "scripts/build-release.sh has no step $s"
done
if other=$(grep -E '^RUN ' <<<"$instructions" | grep -v '^RUN scripts/build-release\.sh ' |
  grep -Ew 'npm|npx|node|yarn|cargo|rustc|rustup|vite|tsc'); then
  fail "the Dockerfile builds outside scripts/build-release.sh: $other"
fi
while read -r src; do
  [ -e "$src" ] || fail "the Dockerfile copies $src, which does not exist"
done < <(grep -E '^COPY ' <<<"$instructions" | grep -v -- '--from=' |
  awk '{ for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }')
echo "check-dockerfile: the Dockerfile runs scripts/build-release.sh ${steps[*]}, and copies only files that exist"

# --- the image itself, where a Docker engine answers
if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  step "a Docker engine answers: docker build"
  tag=spoor:check-$$
  timed "docker build" docker build -t "$tag" .
  docker run --rm "$tag" --version
  docker image rm "$tag" >/dev/null
  exit 0
fi

step "no Docker engine answers: skipping the image build; running the Dockerfile's build steps instead"
for s in ui-deps ui-build; do
  timed "scripts/build-release.sh $s" scripts/build-release.sh "$s"
done
[ -f ui/dist/index.html ] || fail "the UI build left no ui/dist/index.html"

target=${SPOOR_RELEASE_CI_TARGET:-/var/tmp/spoor-release-ci}
case "${SPOOR_CHECK_RELEASE_BUILD:-auto}" in
  1) ;;
  0)
    echo "check-dockerfile: SPOOR_CHECK_RELEASE_BUILD=0: the release build and the health check are skipped"
    exit 0
    ;;
  auto)
    if [ ! -x "$target/release/spoor" ]; then
      echo "check-dockerfile: skipping the release build and the health check: $target holds no release build"
      echo "check-dockerfile: (a cold release build takes 9-14 minutes; run once with SPOOR_CHECK_RELEASE_BUILD=1 to warm it)"
      exit 0
    fi
    ;;
  *) fail "SPOOR_CHECK_RELEASE_BUILD must be auto, 1 or 0" ;;
esac
step "scripts/build-release.sh binary (CARGO_TARGET_DIR=$target)"
timed "scripts/build-release.sh binary" env CARGO_TARGET_DIR="$target" scripts/build-release.sh binary
work=$(mktemp -d "${TMPDIR:-/tmp}/spoor-check-dockerfile.XXXXXX")
pid=
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$status" != 0 ] && [ -f "$work/spoor.log" ]; then tail -n 30 "$work/spoor.log"; fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM
env CARGO_TARGET_DIR="$target" scripts/build-release.sh image-binary "$work/spoor"
bin=$work/spoor
[ -x "$bin" ] || fail "the release build left no $bin"
"$bin" --version
echo "check-dockerfile: the image's binary is $(($(stat -c %s "$bin") / 1048576)) MiB"

# --- 3. the binary as the image runs it, and the image's health check
host=${SPOOR_CHECK_HOST:-127.0.0.57}
step "starting the release binary with the image's environment on $host; the HEALTHCHECK command against it"
# The image's ENV (SPOOR_HOST, SPOOR_DATA_DIR), read from the Dockerfile, with
# the host moved to a loopback address: every default port then, on $host.
image_env=$(sed -n '/^ENV SPOOR_HOST=/,/[^\\]$/p' Dockerfile | tr -d '\\' | sed 's/^ENV//')
grep -q 'SPOOR_HOST=0.0.0.0' <<<"$image_env" || fail "the image does not set SPOOR_HOST=0.0.0.0"
grep -q 'SPOOR_AGENT_HOST=0.0.0.0' <<<"$image_env" || fail "the image does not set SPOOR_AGENT_HOST=0.0.0.0"
grep -q 'SPOOR_DATA_DIR=/var/lib/spoor' <<<"$image_env" || fail "the image does not set SPOOR_DATA_DIR=/var/lib/spoor"
# Waits up to 10 s until the HEALTHCHECK command succeeds against ADDR,
# where WHAT (running as $pid) listens.
wait_healthy() {
  local addr=$1 what=$2
  for _ in $(seq 1 100); do
    if deploy/docker/healthcheck.sh "$addr" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "$what exited before it was healthy"
    sleep 0.1
  done
  deploy/docker/healthcheck.sh "$addr" || fail "the HEALTHCHECK command against $what did not succeed within 10 s"
}
(cd "$work" && exec env SPOOR_HOST="$host" SPOOR_DATA_DIR="$work/data" "$bin" --log warn) >"$work/spoor.log" 2>&1 &
pid=$!
wait_healthy "$host:13133" spoor
[ -d "$work/data" ] || fail "spoor did not create its data directory"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
if deploy/docker/healthcheck.sh "$host:13133" 2>/dev/null; then
  fail "the HEALTHCHECK command succeeded with spoor stopped"
fi
# `spoor agent` in the same image: its admin port answers the same check.
(cd "$work" && exec env SPOOR_AGENT_HOST="$host" "$bin" agent --collector "$host:14250" --log warn) >"$work/spoor.log" 2>&1 &
pid=$!
wait_healthy "$host:14271" "spoor agent"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
echo "check-dockerfile: the release binary (all-in-one and agent) is healthy with the image's environment, and the HEALTHCHECK command fails once it stops"
