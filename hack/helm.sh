#!/usr/bin/env bash
# Lints and renders charts/ferry with helm v4 (built once from its Go module
# and cached), then runs the strict manifest tests in test/chart against it,
# with the agent built from cmd/agent (FERRY_BIN) and, when FERRY_KUBECONFIG is
# set (hack/kube-apiserver.sh), a real kube-apiserver.
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

# An install must name its Kafka brokers: without them the chart refuses to
# render, and says which value to set.
echo "== helm template without brokers must fail"
if "$helm" template ferry "$chart" >/dev/null 2>"$tmp/err"; then
  echo "helm template rendered without any Kafka broker"; exit 1
fi
grep -q 'config.sink.kafka.brokers' "$tmp/err" || { echo "unexpected error:"; cat "$tmp/err"; exit 1; }

# "default" is the default values plus only what every install must set;
# each ci/*-values.yaml is a complete example on its own.
for values in default "$chart"/ci/*-values.yaml; do
  args=(-f "$values")
  name=$(basename "$values" -values.yaml)
  if [ "$values" = default ]; then
    args=(-f test/chart/testdata/required-values.yaml)
    name=default
  fi
  echo "== helm lint --strict, helm template: $name"
  "$helm" lint --strict --quiet "$chart" "${args[@]}"
  "$helm" template ferry "$chart" --namespace ferry-system "${args[@]}" >"$out/$name.yaml"
done

# The agent binary: the tests run `ferry validate` on every rendered config
# and run the agent to prove every metric the alerts and the dashboard query
# exists.
echo "== go build ./cmd/agent"
go build -o "$tmp/ferry" ./cmd/agent
export FERRY_BIN="$tmp/ferry"

# The tests against a real kube-apiserver (server-side dry-run, RBAC proven by
# SubjectAccessReview) run when FERRY_KUBECONFIG is set, as after
#   eval "$(hack/kube-apiserver.sh start DIR)"   (hack/test.sh does so)
if [ -n "${FERRY_KUBECONFIG:-}" ]; then
  echo "== kube-apiserver at ${FERRY_KUBE_APISERVER:-?}: the API server tests run"
else
  echo "== FERRY_KUBECONFIG is not set: the API server tests skip"
fi
echo "== go test ./test/chart"
(cd test/chart && FERRY_HELM="$helm" go test -count=1 ./...)
