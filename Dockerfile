# ctxd container image: Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; the image's own Node 24 replaces the `node` dev dependency.
RUN npm ci --omit=dev && npm cache clean --force
COPY src ./src
COPY config ./config
COPY protocol ./protocol
USER 10001
EXPOSE 7411 7412
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["serve", "--host", "0.0.0.0"]
