#!/usr/bin/env bash
# The project's whole test suite. It builds or starts whatever the tests need
# by itself: a real kube-apiserver + etcd (built once from Go modules and
# cached, 5-15 min the first time), helm v4 (built once, ~3 min), node_exporter
# and an OpenTelemetry Collector with the Kafka receiver (built once, ~1 and
# ~6 min), Debian's kcat (installed if missing), and the in-process
# Kafka-protocol broker the Go tests start themselves.
#
#   hack/test.sh           everything
#   FERRY_QUICK=1 hack/test.sh   gofmt, vet, go test -race only (no kube-apiserver, no helm, no
#                                peers: their tests skip; test/interop's fail instead with FERRY_CI=1)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>&1 || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags nodemo ./cmd/agent/  # the image's build (Dockerfile)

if [ -z "${FERRY_QUICK:-}" ]; then
  echo "== kube-apiserver + etcd (for pkg/enrich's integration test)"
  kube_dir=$(mktemp -d)
  trap 'hack/kube-apiserver.sh stop "$kube_dir" >/dev/null 2>&1 || true; rm -rf "$kube_dir"' EXIT
  eval "$(hack/kube-apiserver.sh start "$kube_dir")"

  echo "== node_exporter v1.12.1 (for pkg/hostmetrics' side-by-side test)"
  FERRY_NODE_EXPORTER=$(hack/node-exporter.sh)
  export FERRY_NODE_EXPORTER

  echo "== OpenTelemetry Collector contrib v0.165.1 with the Kafka receiver (for test/interop; built once, cached)"
  FERRY_OTELCOL_INTEROP=$(hack/peers.sh otelcol-interop)
  export FERRY_OTELCOL_INTEROP

  echo "== kcat, librdkafka's consumer (for test/interop; Debian's package, installed if missing)"
  FERRY_KCAT=$(hack/peers.sh kcat)
  export FERRY_KCAT
fi

echo "== go test -race"
go test -race -count=1 -timeout 25m ./...
# The agent unmaps its binary's read-only pages (cmd/agent/textpages_linux.go);
# a position-independent build has a relocated read-only segment it must keep.
go test -buildmode=pie -count=1 -run 'TestTextSpans|TestDropTextPages|TestHostile56|TestHostile58' ./cmd/agent/

if [ -z "${FERRY_QUICK:-}" ]; then
  echo "== chart (helm lint/template + strict manifest tests)"
  ./hack/helm.sh

  echo "== demo"
  go run ./cmd/agent demo --duration 5s
fi
