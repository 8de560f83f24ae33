# natter's parts, one image: `node --import tsx <entry>` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm install --no-save tsx
COPY . .
ENV NODE_ENV=production
USER node
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "app/main.ts"]
