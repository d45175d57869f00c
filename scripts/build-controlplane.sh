#!/usr/bin/env bash
# Builds the test control plane (test/controlplane: etcd + kube-apiserver in one binary) into a
# cache directory outside the clone, keyed by a hash of its sources, and prints the binary's
# path as the last line of output. Does nothing when that binary already exists.
#
#   scripts/build-controlplane.sh               build if needed, print the path
#   scripts/build-controlplane.sh --print-path  only print the path (which may not exist yet)
#
# The cache root is $PROFILE_IRSA_CACHE (default ~/.cache/profile-irsa-webhook). A cold build
# downloads k8s.io/kubernetes and its dependencies from the Go module proxy and compiles for a
# long time (8-13 minutes on 2 shared cores, ~110 MB binary); later runs print the path at once.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/controlplane
cache=${PROFILE_IRSA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/profile-irsa-webhook}

# Everything that decides what gets built: the module files, the Go sources and this script
# (it sets the ldflags). File names are part of the hash, so renames count too.
hash=$(cd "$src" && LC_ALL=C sha256sum go.mod go.sum ./*.go "$root/scripts/build-controlplane.sh" |
  sed "s# $root/# #" | sha256sum | cut -c1-16)
out=$cache/controlplane-$hash
bin=$out/kube-controlplane

if [[ ${1:-} == --print-path ]]; then
  echo "$bin"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--print-path]" >&2
  exit 2
fi

if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

cd "$src"
# The version kube-apiserver reports (/version, `kubectl version`) comes from ldflags, exactly
# as upstream's hack/lib/version.sh sets them; without them it claims to be v0.0.0-master.
# The build date is the release's publication time on the module proxy, so builds are
# reproducible. There is no git commit to report: the source comes from the module zip.
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
released=$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
[[ $version =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "unexpected k8s.io/kubernetes version $version" >&2; exit 1; }
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=${BASH_REMATCH[1]} -X $pkg.gitMinor=${BASH_REMATCH[2]}"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState="
  [[ -z $released ]] || ldflags+=" -X $pkg.buildDate=$released"
done

mkdir -p "$out"
tmp=$(mktemp "$out/.kube-controlplane.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "building kube-controlplane ($version) into $out; a cold build takes many minutes" >&2
start=$SECONDS
go build -trimpath -ldflags "$ldflags" -o "$tmp" .
chmod 0755 "$tmp"
# A rename is atomic, so a concurrent or interrupted build never leaves a half-written binary.
mv -f "$tmp" "$bin"
echo "built in $((SECONDS - start))s" >&2
echo "$bin"
