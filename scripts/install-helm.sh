#!/usr/bin/env bash
# Installs the pinned helm binary with `go install` into a cache outside the clone and prints
# its path on stdout (the last line). The single source of truth for the helm version used by
# the chart tests (test/helpers/helm.ts calls this script) and by .ci/run.
#
#   --version             print the pinned version and exit
#   --print-path          print where the binary is (or would be) and exit
#   HELM_VERSION          override the pinned version (default below)
#   PROFILE_IRSA_CACHE    cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/profile-irsa-webhook)
#
# Requires Go (>= the version helm's go.mod asks for) and access to the Go module proxy.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${PROFILE_IRSA_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/profile-irsa-webhook}"
BIN_DIR="${CACHE_ROOT}/helm-${HELM_VERSION}/bin"
HELM_BIN="${BIN_DIR}/helm"

if [[ "${1:-}" == "--version" ]]; then
  echo "${HELM_VERSION}"
  exit 0
fi
if [[ "${1:-}" == "--print-path" ]]; then
  echo "${HELM_BIN}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "usage: $0 [--version | --print-path]" >&2
  exit 2
fi

if [[ -x "${HELM_BIN}" ]]; then
  echo "${HELM_BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-helm: 'go' is not on PATH; cannot install helm ${HELM_VERSION}" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
echo "install-helm: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} -> ${BIN_DIR}" >&2
# CGO off: a static binary, no C toolchain needed. Build into a temp dir and move into place
# atomically so concurrent callers never see a half-written binary.
TMP_BIN="$(mktemp -d "${CACHE_ROOT}/helm-install.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
# The same version ldflags as helm's Makefile: without them `helm version` lacks the patch and
# `helm template`/`lint` assume Kubernetes v1.20 instead of the client-go version helm is built with.
GO_MOD="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
K8S_VERSION="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "${GO_MOD}")" # v0.MINOR.PATCH
K8S_MINOR="$(echo "${K8S_VERSION}" | cut -d. -f2)"
if [[ -z "${K8S_MINOR}" ]]; then
  echo "install-helm: cannot read the k8s.io/client-go version from ${GO_MOD}" >&2
  exit 1
fi
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDFLAGS+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${K8S_MINOR}"
done
if ! CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -ldflags "${LDFLAGS}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2; then
  echo "install-helm: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed" >&2
  exit 1
fi
mv -f "${TMP_BIN}/helm" "${HELM_BIN}"
"${HELM_BIN}" version --short >&2
echo "${HELM_BIN}"
