# Spoor's container image (docs/deploy.md): the web UI, the release binary
# that embeds it, and a small non-root runtime image.
#
#   docker build -t spoor .
#   docker run -p 4317:4317 -p 4318:4318 -p 16686:16686 -v spoor-data:/var/lib/spoor spoor
#
# Every build command is a step of scripts/build-release.sh, which
# scripts/check-dockerfile.sh (part of scripts/test.sh) also runs where no
# Docker engine answers, and which checks that the RUN lines below call
# exactly its steps: keep build commands in that script, not here.

# --- 1. the web UI (ui/ -> ui/dist) ---------------------------------------
FROM node:20-bookworm-slim AS ui
WORKDIR /src
COPY scripts/build-release.sh scripts/
COPY ui/package.json ui/package-lock.json ui/
RUN scripts/build-release.sh ui-deps
COPY ui/ ui/
RUN scripts/build-release.sh ui-build

# --- 2. the release binary, embedding ui/dist (crates/spoor-ui) ------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
ENV CARGO_TARGET_DIR=/src/target CARGO_TERM_COLOR=never
COPY scripts/build-release.sh scripts/
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
COPY --from=ui /src/ui/dist/ ui/dist/
RUN scripts/build-release.sh binary
RUN scripts/build-release.sh image-binary /spoor

# --- 3. the runtime: Debian slim, no compiler, no package manager caches ---
FROM debian:bookworm-slim AS runtime
RUN groupadd --system --gid 10001 spoor \
 && useradd --system --uid 10001 --gid spoor --home-dir /var/lib/spoor --no-create-home --shell /usr/sbin/nologin spoor \
 && mkdir -p /var/lib/spoor \
 && chown spoor:spoor /var/lib/spoor
COPY --from=build /spoor /usr/local/bin/spoor
COPY deploy/docker/healthcheck.sh /usr/local/bin/spoor-healthcheck
# Listeners on every address of the container (Spoor's default is 127.0.0.1),
# for all-in-one and for `spoor agent`; the engine's write-ahead log and
# blocks in the volume.
ENV SPOOR_HOST=0.0.0.0 \
    SPOOR_AGENT_HOST=0.0.0.0 \
    SPOOR_DATA_DIR=/var/lib/spoor
VOLUME ["/var/lib/spoor"]
WORKDIR /var/lib/spoor
USER 10001:10001
# OTLP gRPC/HTTP, Jaeger Thrift UDP compact/binary, Jaeger HTTP and gRPC,
# Zipkin, remote sampling HTTP/gRPC, query API and UI, admin (/status, /ready,
# /metrics). `spoor agent` uses 6831/6832/5778 and its admin port 14271.
EXPOSE 4317 4318 6831/udp 6832/udp 14268 14250 9411 5778 5779 16686 13133 14271
HEALTHCHECK --interval=30s --timeout=6s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/spoor-healthcheck", "127.0.0.1:13133"]
ENTRYPOINT ["/usr/local/bin/spoor"]
