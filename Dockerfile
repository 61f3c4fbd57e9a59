# One image for every role; compose.yaml picks the role with `command`.
FROM oven/bun:1.3.14-slim
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
COPY lua ./lua
USER bun
ENV NODE_ENV=production
CMD ["bun", "run", "api"]
