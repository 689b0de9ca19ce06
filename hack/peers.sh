#!/usr/bin/env bash
# Peer agents for the benchmark (go run ./bench -peers), built from Go modules and cached.
#
#   hack/peers.sh otelcol     build (once) and print the path of an OpenTelemetry Collector with only
#                             what the benchmark runs: the filelog receiver (its container parser is a
#                             stanza operator the receiver registers), the file exporter, and the file
#                             config provider
#
# The binary is cached in ${FERRY_CACHE:-$HOME/.cache/ferry}/bin (version in the name) and rebuilt only
# when missing. It is built in ${FERRY_CACHE}/build/otelcol-<version> from a main.go written here, with
# every collector module pinned to one release (contrib v0.165.1 goes with core v0.165.0 and the stable
# core modules v1.71.0). Cold, about 6 minutes on a busy 2-core machine, the module downloads included.
#
# Fluent Bit is not built here: Debian has no fluent-bit package, and its source is not a Go module.
# Point FLUENT_BIT_BIN at a binary built from its release source (bench/README.md says how).
set -euo pipefail

OTELCOL_CONTRIB_VERSION=v0.165.1 # the contrib modules (filelog receiver, file exporter)
OTELCOL_VERSION=v0.165.0         # go.opentelemetry.io/collector/otelcol, the core release they go with
OTELCOL_STABLE_VERSION=v1.71.0   # the core modules of that release that are past v1

cache_dir=${FERRY_CACHE:-$HOME/.cache/ferry}
bin_dir=$cache_dir/bin
otelcol_bin=$bin_dir/otelcol-bench-$OTELCOL_CONTRIB_VERSION

log() { echo "peers.sh: $*" >&2; }
die() { log "$*"; exit 1; }

build_otelcol() {
  [ -x "$otelcol_bin" ] && return 0
  local dir=$cache_dir/build/otelcol-$OTELCOL_CONTRIB_VERSION
  mkdir -p "$dir" "$bin_dir"
  log "building the OpenTelemetry Collector contrib $OTELCOL_CONTRIB_VERSION (filelog receiver, file exporter) in $dir; once, about 6 minutes"
  cat >"$dir/main.go" <<'GO'
// Command otelcol-bench is an OpenTelemetry Collector with only the
// components ferry's benchmark runs: the filelog receiver (with its stanza
// operators, the container parser among them) and the file exporter.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](filelogreceiver.NewFactory())
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
		BuildInfo: component.BuildInfo{Command: "otelcol-bench", Description: "OpenTelemetry Collector for ferry's benchmark", Version: "bench"},
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
    [ -f go.mod ] || go mod init ferry.local/otelcol-bench >/dev/null 2>&1
    local contrib=github.com/open-telemetry/opentelemetry-collector-contrib core=go.opentelemetry.io/collector
    go get \
      "$contrib/receiver/filelogreceiver@$OTELCOL_CONTRIB_VERSION" \
      "$contrib/exporter/fileexporter@$OTELCOL_CONTRIB_VERSION" \
      "$core/otelcol@$OTELCOL_VERSION" \
      "$core/component@$OTELCOL_STABLE_VERSION" \
      "$core/confmap@$OTELCOL_STABLE_VERSION" \
      "$core/confmap/provider/fileprovider@$OTELCOL_STABLE_VERSION" \
      "$core/exporter@$OTELCOL_STABLE_VERSION" \
      "$core/receiver@$OTELCOL_STABLE_VERSION" \
      "$core/service@$OTELCOL_VERSION"
    # -e: tidy also resolves the tests of the packages imported, and the proxy does not serve
    # every module those tests import (the file exporter's test needs otlpencodingextension).
    go mod tidy -e
    CGO_ENABLED=0 go build -trimpath -o "$otelcol_bin.tmp" .
  )
  mv "$otelcol_bin.tmp" "$otelcol_bin"
}

case "${1:-}" in
  otelcol)
    build_otelcol
    echo "$otelcol_bin"
    ;;
  *)
    die "usage: $0 otelcol"
    ;;
esac
