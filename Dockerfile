# The Everlog archiver image. Build steps are the same as CI's: `npm ci` (which builds every package through the
# root `prepare` script), then dev dependencies are pruned for the runtime stage.
FROM node:20-bookworm-slim AS build
# A compiler lets `npm ci` build the optional native zstd binding (2-3x the WASM fallback's speed).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "packages/cli/dist/bin.js"]
CMD ["archive", "--help"]
