# syntax=docker/dockerfile:1
# capcache in a small image: the binary (with db.json built in, for `capcache get`), the refresh
# script the nightly jobs run (scripts/refresh-db.sh), the model list and the shipped db.json.
#
#   docker build -t capcache .
#   docker run --rm capcache capcache get facebook/opt-125m
#   docker run --rm -e HF_TOKEN -v capcache:/var/lib/capcache capcache refresh-db.sh all
#
# The Kubernetes manifests in deploy/ run it as CronJobs.

# The base images are arguments: scripts/check-image.sh, where no registry is reachable, passes
# images it made itself (a debootstrapped Debian, and one with this machine's Rust toolchain).
ARG BUILDER_IMAGE=rust:1.95-slim-trixie
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${BUILDER_IMAGE} AS builder
# The cargo profile: release for the image; the check may build `dev` (much faster on 2 cores).
ARG PROFILE=release
WORKDIR /src
# What the workspace needs to load (scripts/check-image.sh checks it with `cargo metadata`):
# Cargo.toml names the bench target and the python/ member, whose manifest and source must be
# there; only the binary (the default member) is built.
COPY Cargo.toml Cargo.lock db.json ./
COPY benches benches
COPY python/Cargo.toml python/Cargo.toml
COPY python/src python/src
COPY src src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile "$PROFILE" --locked --bin capcache \
 && cp "target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/capcache" /usr/local/bin/capcache

FROM ${RUNTIME_IMAGE}
# CA certificates: rustls verifies the Hub's certificate against the system's roots. bash runs
# the refresh script.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates bash \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 capcache \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/capcache capcache
COPY --from=builder /usr/local/bin/capcache /usr/local/bin/capcache
COPY --chmod=0755 scripts/refresh-db.sh /usr/local/bin/refresh-db.sh
COPY models.txt db.json /usr/share/capcache/
# The refresh script's settings (see its header); a fresh store with no published db.json yet
# starts from the one shipped here.
ENV CAPCACHE=/usr/local/bin/capcache \
    MODELS=/usr/share/capcache/models.txt \
    SEED_FALLBACK=/usr/share/capcache/db.json
USER 10001:10001
WORKDIR /var/lib/capcache
CMD ["capcache", "--help"]
