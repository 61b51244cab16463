# pg-supervisor with the example tasks. Used by docker-compose.yml for the
# migrate, supervisor and producer services.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
# npm ci builds dist/ (the prepare script); dev dependencies are then dropped.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev && npm cache clean --force
ENV NODE_ENV=production
USER node
# Exec form: the supervisor is PID 1 and receives SIGTERM from `docker compose stop`.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["--help"]
