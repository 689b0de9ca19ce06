#!/usr/bin/env bash
# The real Prometheus node_exporter, for the side-by-side test of pkg/hostmetrics.
#
#   hack/node-exporter.sh            build (once) and print the binary's path
#
# Built from its Go module with `go install` and cached as
# ${FERRY_CACHE:-$HOME/.cache/ferry}/bin/node_exporter-v1.12.1; rebuilt only when missing (about a
# minute on 2 cores). Linked with the version, or `node_exporter --version` prints an empty one.
# Then:
#
#   FERRY_NODE_EXPORTER=$(hack/node-exporter.sh) go test -run TestNodeExporterParity ./pkg/hostmetrics/
set -euo pipefail

NODE_EXPORTER_VERSION=v1.12.1

cache_dir=${FERRY_CACHE:-$HOME/.cache/ferry}
bin_dir=$cache_dir/bin
bin=$bin_dir/node_exporter-$NODE_EXPORTER_VERSION

log() { echo "node-exporter.sh: $*" >&2; }

if [ ! -x "$bin" ]; then
  mkdir -p "$bin_dir"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  log "building node_exporter $NODE_EXPORTER_VERSION into $bin (once; about a minute)"
  GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$tmp/gobin" go install -trimpath \
    -ldflags "-X github.com/prometheus/common/version.Version=${NODE_EXPORTER_VERSION#v}" \
    "github.com/prometheus/node_exporter@$NODE_EXPORTER_VERSION"
  mv "$tmp/gobin/node_exporter" "$bin.$$" && mv "$bin.$$" "$bin"
fi
"$bin" --version 2>&1 | head -n1 | grep -q "version ${NODE_EXPORTER_VERSION#v}" ||
  { log "$bin does not report version ${NODE_EXPORTER_VERSION#v}"; exit 1; }
echo "$bin"
