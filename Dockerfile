# One image, many shapes: every application container of docker-compose.yml
# runs this image, and SERVICES (api, auth, product, order, payment, logs,
# websocket) chooses which Moleculer services a container starts.
#
#   docker build -t moleculer-shop .
#   docker run --rm -e NODE_ENV=production -e JWT_SECRET=... -e SERVICES=order \
#     -e TRANSPORTER=amqp://... -e REDIS_URL=redis://... \
#     -e DATABASE_URL=postgres://... -e MONGO_URL=mongodb://... moleculer-shop

# ---- build: all dependencies, TypeScript -> dist/ ---------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so that a change of source reuses this layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# tsconfig.build.json compiles server.ts, moleculer.config.ts, services/,
# shared/, cli/ and tui/ (never tests, bench or the jest config).
COPY . .
RUN npm run build

# ---- runtime: production dependencies and the compiled build only ----------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

# --omit=optional leaves out jongodb (the embedded MongoDB stand-in, refused in
# production anyway) and esbuild's platform binaries (tsx is not used here);
# --ignore-scripts, so that esbuild's install script does not go looking for
# the binary it was just told to omit.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
	&& npm cache clean --force

COPY --from=build /app/dist ./dist

# The image's own unprivileged user (uid 1000); the app writes no files in
# production (embedded stores, the only writers, are refused there).
USER node

# 3000: the HTTP API (SERVICES includes api); 3001: socket.io (websocket).
EXPOSE 3000 3001

# No HEALTHCHECK here: only a container that runs the api service answers
# HTTP, so docker-compose.yml gives the gateway its own health check.
CMD ["node", "dist/server.js"]
