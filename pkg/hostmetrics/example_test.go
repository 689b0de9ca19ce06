package hostmetrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/hostmetrics"
)

// The agent registers the collector for /metrics and runs it for the sink.
func Example() {
	cfg := hostmetrics.DefaultConfig() // in a pod: Proc "/host/proc", Sys "/host/sys", RootFS "/host/root"
	cfg.Interval = 50 * time.Millisecond

	reg := prometheus.NewRegistry()
	out := make(chan event.Snapshot, 4)
	c, err := hostmetrics.New(cfg, slog.New(slog.DiscardHandler), hostmetrics.Options{
		Node: "node-1", Out: out, Registerer: reg,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	go c.Run(ctx)
	snap := <-out // the first snapshot is taken at once
	cancel()
	for range out { // Run closes out when it returns
	}

	names := map[string]bool{}
	for _, m := range snap.Metrics {
		names[m.Name] = true
	}
	fmt.Println(snap.Node, names["node_cpu_seconds_total"], names["node_memory_MemAvailable_bytes"], names["node_load1"])

	mfs, _ := reg.Gather()
	scraped := map[string]bool{}
	for _, mf := range mfs {
		scraped[mf.GetName()] = true
	}
	fmt.Println(scraped["node_cpu_seconds_total"], scraped["ferry_hostmetrics_snapshots_dropped_total"])
	// Output:
	// node-1 true true true
	// true true
}
