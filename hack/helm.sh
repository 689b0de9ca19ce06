#!/usr/bin/env bash
# Lints and renders charts/ferry with helm v4 (built once from its Go module
# and cached), then runs the strict manifest tests in test/chart against it.
# Rendered manifests are left in .cache/chart/<values>.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v4.3.1
cache="${FERRY_CACHE:-$HOME/.cache/ferry}"
helm="$cache/bin/helm-$HELM_VERSION"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$helm" ]; then
  echo "== building helm $HELM_VERSION into $helm (once; about 3 minutes)"
  mkdir -p "$(dirname "$helm")"
  GOBIN="$tmp/gobin" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$tmp/gobin/helm" "$helm.$$" && mv "$helm.$$" "$helm"
fi
"$helm" version --template 'helm {{ .Version }}{{ "\n" }}'

chart=charts/ferry
out=.cache/chart
rm -rf "$out" && mkdir -p "$out"
for values in default "$chart"/ci/*-values.yaml; do
  args=()
  name=default
  if [ "$values" != default ]; then
    args=(-f "$values")
    name=$(basename "$values" -values.yaml)
  fi
  echo "== helm lint --strict, helm template: $name"
  "$helm" lint --strict --quiet "$chart" "${args[@]}"
  "$helm" template ferry "$chart" --namespace ferry-system "${args[@]}" >"$out/$name.yaml"
done

# With the agent in the tree, the tests also run `ferry validate` on every
# rendered config.
if [ -d cmd/agent ]; then
  go build -o "$tmp/ferry" ./cmd/agent
  export FERRY_BIN="$tmp/ferry"
fi
echo "== go test ./test/chart"
(cd test/chart && FERRY_HELM="$helm" go test -count=1 ./...)
