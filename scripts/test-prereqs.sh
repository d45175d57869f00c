#!/usr/bin/env bash
# Everything the test suite needs beyond npm packages, installed or built when missing, so that
# `npm test` on a fresh clone is complete: moto's server (the local IAM), the pinned helm, the
# local control plane (kube-apiserver + etcd, built from upstream Kubernetes modules), promtool
# (the alert rules' unit tests) and amazon-eks-pod-identity-webhook (the chain down to a pod).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bash "$root/scripts/ensure-moto.sh"
bash "$root/scripts/install-helm.sh" >/dev/null
bash "$root/scripts/build-controlplane.sh" >/dev/null
bash "$root/scripts/install-promtool.sh" >/dev/null
bash "$root/scripts/install-pod-identity-webhook.sh" >/dev/null
