# ctxd container image. Two stages: `build` installs every dependency (the
# `prepare` script compiles the client to dist/ with TypeScript) and prunes the
# dev ones; the runtime stage copies the result into a slim Node 24 image that
# runs the TypeScript sources directly (type stripping), as uid 10001, with
# the data on a volume and nothing else written (read-only root filesystem).
#
# test/integration/image.test.ts parses this file and runs its COPY and RUN
# steps in a temporary tree (the runtime stage's as uid 10001), then starts the
# daemon from it: keep RUN steps to paths inside WORKDIR, and every write of the
# runtime stage under /var/lib/ctxd.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# npm install, not npm ci: the lock file lacks msgpackr's optional macOS/Windows binaries, which npm ci refuses (README).
RUN npm install --no-audit --no-fund --loglevel=error
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error
RUN mkdir -p data-volume

FROM node:24-slim
ENV NODE_ENV=production CTXD_DATA_DIR=/var/lib/ctxd
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/src ./src
COPY --from=build /app/bin ./bin
COPY config ./config
COPY protocol ./protocol
# The only writable path: owned by the image's user, mounted as a volume in k8s/ctxd.yaml.
COPY --from=build --chown=10001:10001 /app/data-volume /var/lib/ctxd
USER 10001:10001
VOLUME ["/var/lib/ctxd"]
EXPOSE 7411 7412
# A small young generation: each scavenge is short (PRODUCTION.md "Memory and GC"); bench/lib/processes.ts runs the same.
ENTRYPOINT ["node", "--max-semi-space-size=4", "src/cli/main.ts"]
CMD ["serve", "--host", "0.0.0.0"]
