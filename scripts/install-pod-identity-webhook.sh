#!/usr/bin/env bash
# Installs the pinned amazon-eks-pod-identity-webhook (the mutating webhook EKS runs to give pods
# of annotated service accounts AWS_ROLE_ARN and a projected token) with `go install` into a cache
# outside the clone and prints its path on stdout (the last line). The end-to-end test of the
# whole chain down to a pod (test/e2e/pod-identity.test.ts) runs it against the local control plane.
#
#   --version                     print the pinned version and exit
#   --print-path                  print where the binary is (or would be) and exit
#   POD_IDENTITY_WEBHOOK_VERSION  override the pinned version (default below)
#   PROFILE_IRSA_CACHE            cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/profile-irsa-webhook)
#
# Requires Go (>= the version the webhook's go.mod asks for) and access to the Go module proxy.
set -euo pipefail

VERSION="${POD_IDENTITY_WEBHOOK_VERSION:-v0.6.17}"
CACHE_ROOT="${PROFILE_IRSA_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/profile-irsa-webhook}"
BIN_DIR="${CACHE_ROOT}/pod-identity-webhook-${VERSION}/bin"
NAME="amazon-eks-pod-identity-webhook"
BIN="${BIN_DIR}/${NAME}"
MODULE="github.com/aws/amazon-eks-pod-identity-webhook"

if [[ "${1:-}" == "--version" ]]; then
  echo "${VERSION}"
  exit 0
fi
if [[ "${1:-}" == "--print-path" ]]; then
  echo "${BIN}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "usage: $0 [--version | --print-path]" >&2
  exit 2
fi

if [[ -x "${BIN}" ]]; then
  echo "${BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-pod-identity-webhook: 'go' is not on PATH; cannot install ${NAME} ${VERSION}" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
echo "install-pod-identity-webhook: go install ${MODULE}@${VERSION} -> ${BIN_DIR}" >&2
# CGO off: a static binary, no C toolchain needed. Built into a temp dir and moved into place so
# that concurrent callers never see a half-written binary.
TMP_BIN="$(mktemp -d "${CACHE_ROOT}/pod-identity-webhook-install.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
if ! CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -ldflags "-s -w" \
  "${MODULE}@${VERSION}" >&2; then
  echo "install-pod-identity-webhook: go install ${MODULE}@${VERSION} failed" >&2
  exit 1
fi
mv -f "${TMP_BIN}/${NAME}" "${BIN}"
echo "${BIN}"
