#!/usr/bin/env bash
# Peers for the benchmark and the interop tests: OpenTelemetry Collector builds, built from Go modules
# and cached, and Debian's kcat.
#
#   hack/peers.sh otelcol          build (once) and print the path of an OpenTelemetry Collector with
#                                  only what the benchmark runs (go run ./bench -peers): the filelog
#                                  receiver (its container parser is a stanza operator the receiver
#                                  registers), the file exporter, and the file config provider
#   hack/peers.sh otelcol-interop  build (once) and print the path of an OpenTelemetry Collector with
#                                  the Kafka receiver, the file exporter and the file config provider,
#                                  for the interop test of ferry's OTLP records (test/interop):
#
#     FERRY_OTELCOL_INTEROP=$(hack/peers.sh otelcol-interop) go test ./test/interop/
#
#   hack/peers.sh kcat             print the path of Debian's kcat (librdkafka's consumer), installing
#                                  the package first when it is missing and apt-get can (as root), for
#                                  test/interop's check that librdkafka reads every codec ferry writes:
#
#     FERRY_KCAT=$(hack/peers.sh kcat) go test -run Kcat ./test/interop/
#
# Each binary is cached in ${FERRY_CACHE:-$HOME/.cache/ferry}/bin (version in the name) and rebuilt only
# when missing. It is built in ${FERRY_CACHE}/build/<name>-<version> from a main.go written here, with
# every collector module pinned to one release (contrib v0.165.1 goes with core v0.165.0 and the stable
# core modules v1.71.0). Cold, about 6 minutes each on a busy 2-core machine, the module downloads
# included; the second shares most of the first's module cache.
#
# Fluent Bit is not built here: Debian has no fluent-bit package, and its source is not a Go module.
# Point FLUENT_BIT_BIN at a binary built from its release source (bench/README.md says how).
set -euo pipefail

OTELCOL_CONTRIB_VERSION=v0.165.1 # the contrib modules (filelog and Kafka receivers, file exporter)
OTELCOL_VERSION=v0.165.0         # go.opentelemetry.io/collector/otelcol, the core release they go with
OTELCOL_STABLE_VERSION=v1.71.0   # the core modules of that release that are past v1

cache_dir=${FERRY_CACHE:-$HOME/.cache/ferry}
bin_dir=$cache_dir/bin
contrib=github.com/open-telemetry/opentelemetry-collector-contrib
core=go.opentelemetry.io/collector

log() { echo "peers.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# build_otelcol NAME BUILD_DIR RECEIVER_PKG RECEIVER_IMPORT DESCRIPTION: builds $bin_dir/NAME-<version>
# (once) with the receiver RECEIVER_PKG (its import path) and the file exporter.
build_otelcol() {
  local name=$1 dir=$cache_dir/build/$2 receiver=$3 description=$4
  local bin=$bin_dir/$name-$OTELCOL_CONTRIB_VERSION
  [ -x "$bin" ] && { echo "$bin"; return 0; }
  local rpkg=${receiver##*/}
  mkdir -p "$dir" "$bin_dir"
  log "building the OpenTelemetry Collector contrib $OTELCOL_CONTRIB_VERSION ($rpkg, file exporter) in $dir; once, about 6 minutes"
  cat >"$dir/main.go" <<GO
// Command $name is an OpenTelemetry Collector with only the components
// $description
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"$contrib/$receiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory]($rpkg.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{Receivers: receivers, Exporters: exporters, Telemetry: otelconftelemetry.NewFactory()}, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "$name", Description: "OpenTelemetry Collector for ferry's tests", Version: "$name"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO
  (
    cd "$dir"
    export GOWORK=off GOFLAGS=-mod=mod
    [ -f go.mod ] || go mod init "ferry.local/$name" >/dev/null 2>&1
    go get \
      "$contrib/$receiver@$OTELCOL_CONTRIB_VERSION" \
      "$contrib/exporter/fileexporter@$OTELCOL_CONTRIB_VERSION" \
      "$core/otelcol@$OTELCOL_VERSION" \
      "$core/component@$OTELCOL_STABLE_VERSION" \
      "$core/confmap@$OTELCOL_STABLE_VERSION" \
      "$core/confmap/provider/fileprovider@$OTELCOL_STABLE_VERSION" \
      "$core/exporter@$OTELCOL_STABLE_VERSION" \
      "$core/receiver@$OTELCOL_STABLE_VERSION" \
      "$core/service@$OTELCOL_VERSION" >&2
    # -e: tidy also resolves the tests of the packages imported, and the proxy does not serve
    # every module those tests import (the file exporter's test needs otlpencodingextension).
    go mod tidy -e >&2
    CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" . >&2
  )
  mv "$bin.tmp" "$bin"
  echo "$bin"
}

find_kcat() {
  if ! command -v kcat >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "kcat is required: apt-get install -y kcat"
    log "installing Debian's kcat"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >/dev/null; } ||
      die "apt-get install kcat failed"
  fi
  command -v kcat
}

case "${1:-}" in
  otelcol)
    # The build directory keeps its historical name (otelcol-<version>), so that a warm cache stays warm.
    build_otelcol otelcol-bench "otelcol-$OTELCOL_CONTRIB_VERSION" receiver/filelogreceiver \
      "ferry's benchmark runs: the filelog receiver (with its stanza operators, the container parser among them) and the file exporter."
    ;;
  otelcol-interop)
    build_otelcol otelcol-interop "otelcol-interop-$OTELCOL_CONTRIB_VERSION" receiver/kafkareceiver \
      "ferry's interop test runs: the Kafka receiver (reading ferry's OTLP records) and the file exporter."
    ;;
  kcat)
    find_kcat
    ;;
  *)
    die "usage: $0 otelcol | otelcol-interop | kcat"
    ;;
esac
