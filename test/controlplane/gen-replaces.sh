#!/usr/bin/env bash
# Regenerates the k8s.io/* replace directives in go.mod.
#
# k8s.io/kubernetes is not meant to be imported: its go.mod requires every staging module at
# v0.0.0 and replaces it with ./staging/src/k8s.io/<name>, which does not exist outside its own
# repository. A consumer must replace each of those modules with the published tag that matches
# the release (kubernetes v1.X.Y <-> staging v0.X.Y). This script reads the list from the
# release's own go.mod so that it never drifts when the release is bumped.
#
# Usage: ./gen-replaces.sh [v1.X.Y]   (default: the k8s.io/kubernetes version already in go.mod)
set -euo pipefail
cd "$(dirname "$0")"

version=${1:-$(go mod edit -json | awk -F'"' '/"Path": "k8s.io\/kubernetes"/ { getline; print $4; exit }')}
if [[ ! $version =~ ^v1\.([0-9]+)\.([0-9]+)(-.*)?$ ]]; then
  echo "gen-replaces: cannot determine k8s.io/kubernetes version (got '$version')" >&2
  exit 1
fi
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}${BASH_REMATCH[3]}"

upstream_mod=$(go mod download -json "k8s.io/kubernetes@$version" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f $upstream_mod ]] || { echo "gen-replaces: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }

# Every "k8s.io/<name> => ./staging/..." line of the upstream go.mod, old or new replace syntax.
mapfile -t modules < <(grep -Eo '^[[:space:]]*(replace[[:space:]]+)?k8s\.io/[A-Za-z0-9._/-]+[[:space:]]+=>[[:space:]]+\./staging/' "$upstream_mod" |
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^k8s\.io\//) print $i }' | sort -u)
((${#modules[@]} > 0)) || { echo "gen-replaces: no staging replaces found in $upstream_mod" >&2; exit 1; }

edits=(-require="k8s.io/kubernetes@$version")
# Drop our previous k8s.io/* replaces so modules removed upstream do not linger.
while read -r old; do
  edits+=(-dropreplace="$old")
done < <(go mod edit -json | awk -F'"' '/"Old":/ { getline; if ($4 ~ /^k8s\.io\//) print $4 }')
for m in "${modules[@]}"; do
  edits+=(-replace="$m=$m@$staging")
done
go mod edit "${edits[@]}"
echo "gen-replaces: k8s.io/kubernetes $version, ${#modules[@]} staging modules at $staging" >&2
