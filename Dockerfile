# Herald image: `docker compose up` builds it; the entry point is the `herald` command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# npm install, not npm ci: the lock file lacks some platform builds of an optional native addon.
RUN npm install --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY workers ./workers
COPY scripts/copy-assets.mjs ./scripts/
# The build compiles the TypeScript and copies the Redis scripts (src/**/*.lua), the Web Push
# client kit (src/client/) and the operator console (src/console/) beside it.
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
