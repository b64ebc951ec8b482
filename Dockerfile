# The showcase (or your app: set APP to its package name) as a container image.
# Multi-stage: 1) the build, with Node for the widgets that have an npm build (the bundler
# runs `npm install` and `npm run build` in each such widget folder) and Rust for the
# binary; 2) a slim runtime running as an unprivileged user.
#
#   docker build -t widgetry-showcase .
#   docker build --build-arg APP=my-app -t my-app .
#
# NOT BUILT HERE: the machines this repository is developed on reach no image registry.
# It mirrors the natively tested set-up (docs/deploy.md); build it once before relying on it.

ARG RUST_VERSION=1.85
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS node

FROM rust:${RUST_VERSION}-bookworm AS build
ARG APP=showcase
# Node and npm for the widgets' npm builds (Vite, React, …).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p "$APP" \
 && cp "target/release/$APP" /usr/local/bin/app

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home widgetry
COPY --from=build /usr/local/bin/app /usr/local/bin/app
USER widgetry
WORKDIR /data
# Listen on every interface inside the container; the rest is the README's table.
ENV WIDGETRY_BIND=0.0.0.0 \
    PORT=8000 \
    WIDGETRY_DATA_DIR=/data \
    RUST_LOG=info
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/app"]
