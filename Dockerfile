# syntax=docker/dockerfile:1
# profile-irsa-webhook: small, non-root image (distroless Node.js 20, no shell, no npm).
#
#   docker build -t profile-irsa-webhook:0.1.0 .
#
# The Node version is pinned here in every FROM line (update them together); it must satisfy
# package.json "engines" (test/chart/dockerfile.test.ts checks that).

# --- build: compile TypeScript with the full (dev) dependency tree ------------------------
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig*.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only --------------------------------------------------
FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs20-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="profile-irsa-webhook" \
      org.opencontainers.image.description="Admission webhook that provisions IRSA roles for Kubeflow Profiles" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for the process: it cannot change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The distroless "nonroot" user; the chart runs it with runAsNonRoot and a read-only root.
USER 65532:65532
# 9443: HTTPS admission (POST /mutate, /validate); 8080: /healthz, /readyz, /metrics.
EXPOSE 9443 8080
ENTRYPOINT ["/nodejs/bin/node", "dist/bin/cli.js"]
CMD ["serve"]
