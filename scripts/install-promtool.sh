#!/usr/bin/env bash
# Installs the pinned promtool (Prometheus's rule checker and rule unit-test runner) with
# `go install` into a cache outside the clone and prints its path on stdout (the last line).
# The chart's PrometheusRule tests (test/chart/prometheusrule.test.ts) run `promtool test rules`.
#
#   --version             print the pinned version and exit
#   --print-path          print where the binary is (or would be) and exit
#   PROMTOOL_VERSION      override the pinned Go module version (v0.MINOR.PATCH = Prometheus 3.MINOR.PATCH)
#   PROFILE_IRSA_CACHE    cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/profile-irsa-webhook)
#
# Requires Go (>= the version Prometheus's go.mod asks for) and access to the Go module proxy.
set -euo pipefail

PROMTOOL_VERSION="${PROMTOOL_VERSION:-v0.316.0}"
CACHE_ROOT="${PROFILE_IRSA_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/profile-irsa-webhook}"
BIN_DIR="${CACHE_ROOT}/promtool-${PROMTOOL_VERSION}/bin"
PROMTOOL_BIN="${BIN_DIR}/promtool"
MODULE="github.com/prometheus/prometheus/cmd/promtool"

if [[ "${1:-}" == "--version" ]]; then
  echo "${PROMTOOL_VERSION}"
  exit 0
fi
if [[ "${1:-}" == "--print-path" ]]; then
  echo "${PROMTOOL_BIN}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "usage: $0 [--version | --print-path]" >&2
  exit 2
fi

if [[ -x "${PROMTOOL_BIN}" ]]; then
  echo "${PROMTOOL_BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-promtool: 'go' is not on PATH; cannot install promtool ${PROMTOOL_VERSION}" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
echo "install-promtool: go install ${MODULE}@${PROMTOOL_VERSION} -> ${BIN_DIR}" >&2
# CGO off: a static binary, no C toolchain needed. Built into a temp dir and moved into place so
# that concurrent callers never see a half-written binary.
TMP_BIN="$(mktemp -d "${CACHE_ROOT}/promtool-install.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
if ! CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -ldflags "-s -w" \
  "${MODULE}@${PROMTOOL_VERSION}" >&2; then
  echo "install-promtool: go install ${MODULE}@${PROMTOOL_VERSION} failed" >&2
  exit 1
fi
mv -f "${TMP_BIN}/promtool" "${PROMTOOL_BIN}"
echo "${PROMTOOL_BIN}"
