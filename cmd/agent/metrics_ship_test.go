package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestHostMetricsReachKafka: host metric snapshots of the live machine go
// through the same sink as logs and arrive on metrics_topic, one record per
// sample, in the documented schema, keyed by node.
func TestHostMetricsReachKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "node-metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
node_name: node-7
state_dir: %s/state
logs: {include: ["%s/pods/*/*/*.log"]}
kubernetes: {enabled: false}
hostmetrics: {enabled: true, interval: 1s}
sink: {kafka: {brokers: ["%s"], metrics_topic: node-metrics, compression: lz4, batch: {linger: 50ms}}}
http: {listen: "127.0.0.1:0"}
`, dir, dir, broker)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), runHooks{Registry: prometheus.NewRegistry()})
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("node-metrics"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	type record struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Value  *float64          `json:"value"`
		Type   string            `json:"type"`
		Time   time.Time         `json:"time"`
		Node   string            `json:"node"`
	}
	seen := map[string]record{}
	times := map[time.Time]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for (len(times) < 2 || seen["node_memory_MemAvailable_bytes"].Name == "") && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		fetches := cl.PollFetches(pctx)
		pcancel()
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != "node-7" {
				t.Errorf("metric record keyed %q, want the node name", r.Key)
			}
			dec := json.NewDecoder(bytes.NewReader(r.Value))
			dec.DisallowUnknownFields()
			var rec record
			if err := dec.Decode(&rec); err != nil {
				t.Errorf("record does not follow the schema: %v: %s", err, r.Value)
				return
			}
			if rec.Node != "node-7" || rec.Time.IsZero() || (rec.Type != "gauge" && rec.Type != "counter") || rec.Labels == nil {
				t.Errorf("bad record: %s", r.Value)
			}
			seen[rec.Name] = rec
			times[rec.Time] = true
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
	if len(times) < 2 {
		t.Fatalf("want at least two snapshots, got %d", len(times))
	}
	for _, name := range []string{"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", "node_load1"} {
		if _, ok := seen[name]; !ok {
			t.Errorf("no %s record", name)
		}
	}
	if c := seen["node_cpu_seconds_total"]; c.Type != "counter" || c.Labels["mode"] == "" {
		t.Errorf("node_cpu_seconds_total: %+v", c)
	}
	avail, total := seen["node_memory_MemAvailable_bytes"].Value, seen["node_memory_MemTotal_bytes"].Value
	if avail == nil || total == nil || *avail <= 0 || *avail > *total {
		t.Errorf("memory available %v of total %v", avail, total)
	}
}
