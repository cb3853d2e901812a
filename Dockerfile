# The image of the alchemy-ci container action (action.yml).
#
# Three stages:
#   build   compiles the release binary (Rust toolchain, gcc; never shipped)
#   bun     unpacks bun from npm, integrity-checked by docker/bun's lockfile
#   runtime Node + bun + git + CA certificates + the binary, nothing else
#
# Base images are pinned by tag AND by the digest of their multi-arch index,
# so one Dockerfile builds the same bases for linux/amd64 and linux/arm64.
# To bump one: `docker buildx imagetools inspect <image>:<tag>` and replace
# the tag and the digest together (docs/RELEASING.md).
#
# Expected size of the runtime image (estimated from the parts; no Docker
# engine measured it): ~450 MB unpacked, ~160 MB compressed to pull. node:24
# bookworm-slim ~230 MB, bun 107 MB, git with perl and libcurl ~105 MB, the
# alchemy-ci binary 7 MB. ci.yml's image job prints the real size.

FROM rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src
# .dockerignore lets through only what cargo needs (Cargo.toml names the
# benches and the test target, so their files must exist to parse it).
COPY . .
RUN cargo build --release --locked --bin alchemy-ci \
    && install -m 0755 target/release/alchemy-ci /usr/local/bin/alchemy-ci \
    && /usr/local/bin/alchemy-ci --version

FROM node:24.11.1-bookworm-slim@sha256:48abc13a19400ca3985071e287bd405a1d99306770eb81d61202fb6b65cf0b57 AS bun
# bun from the npm registry rather than a curl-piped install script: the
# lockfile holds a sha512 for every platform's tarball and `npm ci` refuses
# anything else; --ignore-scripts runs no code from the package at install.
# npm installs only the optional dependency matching this platform, so the
# binary's folder depends on the architecture being built.
WORKDIR /opt/bun
COPY docker/bun/package.json docker/bun/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && case "$(uname -m)" in \
         x86_64) arch=x64 ;; \
         aarch64) arch=aarch64 ;; \
         *) echo "no bun for $(uname -m)" >&2; exit 1 ;; \
       esac \
    && install -m 0755 "node_modules/@oven/bun-linux-$arch/bin/bun" /usr/local/bin/bun \
    && /usr/local/bin/bun --version

FROM node:24.11.1-bookworm-slim@sha256:48abc13a19400ca3985071e287bd405a1d99306770eb81d61202fb6b65cf0b57 AS runtime
LABEL org.opencontainers.image.title="alchemy-action" \
      org.opencontainers.image.description="alchemy-ci: one Alchemy stage per pull request" \
      org.opencontainers.image.licenses="MIT"
# git: the state store and apps that shell out to git. ca-certificates: TLS to
# GitHub and to the clouds Alchemy deploys to. Versions come from the Debian
# suite of the digest-pinned base, taken at build time so security fixes are
# in; the released image digest is what stays fixed (docs/RELEASING.md).
# safe.directory: the workspace is owned by the runner's user and the
# container runs as root, so without it git (and libgit2) refuse the checkout
# as of "dubious ownership". The container only ever sees one job's workspace.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'
COPY --from=bun /usr/local/bin/bun /usr/local/bin/bun
COPY --from=build /usr/local/bin/alchemy-ci /usr/local/bin/alchemy-ci
RUN ln -s /usr/local/bin/bun /usr/local/bin/bunx \
    && alchemy-ci --version && bun --version && node --version && git --version
# No USER: GitHub runs container actions as root (it mounts the workspace and
# the file-command files owned by the runner and expects root to write them).
# The runner sets the working directory to /github/workspace. Exec form, so
# no shell sits between the runner and the binary: the INPUT_* variables keep
# their hyphens (dash drops such variables) and SIGTERM reaches alchemy-ci.
ENTRYPOINT ["/usr/local/bin/alchemy-ci"]
CMD ["run"]
