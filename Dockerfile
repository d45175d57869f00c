# syntax=docker/dockerfile:1
# profile-irsa-webhook: small, non-root image (distroless Node.js 24, no shell, no npm).
#
#   docker build -t profile-irsa-webhook:0.1.0 .
#
# Node.js 24 LTS everywhere. The build stages pin the exact release the tests run on (the `node`
# devDependency in package.json); the runtime is distroless's Node.js 24, which follows 24's
# patch releases (pin it by digest in a release pipeline). Every one must satisfy package.json
# "engines" (test/chart/dockerfile.test.ts checks all three).
#
# Only package.json, package-lock.json, tsconfig.json and src/ enter the build (.dockerignore):
# tools/ (npm run dev, npm run bench) and its output .build/ are never in the image.

# --- build: compile TypeScript with the full (dev) dependency tree ------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts. That skips the `node` devDependency's preinstall too (it fetches Node.js
# for machines whose own is older); here the image's own Node.js 24 runs the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only --------------------------------------------------
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="profile-irsa-webhook" \
      org.opencontainers.image.description="Admission webhook that provisions IRSA roles for Kubeflow Profiles" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for the process: it cannot change its own code.
# test/integration/production-tree.test.ts builds this same tree and serves from it.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The distroless "nonroot" user; the chart runs it with runAsNonRoot and a read-only root.
USER 65532:65532
# 9443: HTTPS admission (POST /mutate, /validate); 8080: /healthz, /readyz, /metrics.
EXPOSE 9443 8080
# Node.js 24's V8 lets the young generation grow to 3 × 32 MiB and keeps it: after a burst of new
# namespaces the process held 314 MB, 165 MB of it committed heap with 32 MB in use. 16 MiB
# semi-spaces keep it near Node.js 20's size at no measurable cost per request (README,
# Performance). `npm run bench` runs the webhook with these same flags.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=16", "dist/bin/cli.js"]
CMD ["serve"]
