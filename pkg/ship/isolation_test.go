package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// One destination that cannot take records holds only its own: these
// tests run against the in-process broker with one topic or partition
// refusing, and read back with franz-go.

// consumeWithin reads topics from the start until enough or d passed; ok
// says whether enough was reached.
func consumeWithin(t testing.TB, addr string, d time.Duration, enough func([]*kgo.Record) bool, topics ...string) (recs []*kgo.Record, ok bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !enough(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return recs, false
		}
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs, true
}

// feed sends v on ch, failing the test when ship does not take it within
// 10 seconds (it stopped reading its input).
func feed[T any](t testing.TB, ch chan<- T, v T) {
	t.Helper()
	select {
	case ch <- v:
	case <-time.After(10 * time.Second):
		t.Fatal("ship stopped taking input for 10s")
	}
}

// createTopic creates topic on the cluster at addr.
func createTopic(t testing.TB, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(res.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// The cluster has no metrics topic (the default metrics_topic, with
// auto-creation off): log records keep flowing with their usual latency
// while the metric records wait.
func TestIsolationMetricsTopicMissing(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs")) // no "metrics"
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	cfg := testKafkaConfig(addr)
	cfg.Kafka.NotReadyAfter = 500 * time.Millisecond
	h := runShipper(t, cfg, nil)
	var sent [][]event.Log
	for i := range 20 {
		feed(t, h.metrics, event.Snapshot{Node: "node-1", Time: time.Now(), Metrics: []event.Metric{{Name: "node_load1", Value: float64(i)}}})
		ls := makeLogs(uint64(i%4), (i/4)*10, 10, metaFor(i%4))
		sent = append(sent, ls)
		feed(t, h.logs, ls)
	}
	recs, ok := consumeWithin(t, addr, 10*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= 200 }, "logs")
	if !ok {
		t.Fatalf("with the metrics topic missing, %d of 200 log records arrived in 10s", len(dedup(recs)))
	}
	checkPerKeyOrder(t, dedup(recs))
	for deadline := time.Now().Add(10 * time.Second); len(h.ack.cursors()) < 200; {
		if time.Now().After(deadline) {
			t.Fatalf("acked %d of 200 log records", len(h.ack.cursors()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	// Readiness says why: the metric records wait for their topic.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := h.s.Ready()
		if err != nil && strings.Contains(err.Error(), "topic metrics") && errors.Is(err, kafka.UnknownTopicOrPartition) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v, want the metrics topic named as unknown", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("metrics", "unknown_topic")); got < 1 {
		t.Errorf("destination failures{metrics, unknown_topic} = %v", got)
	}
	if got := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("logs", "unknown_topic")); got != 0 {
		t.Errorf("destination failures{logs, unknown_topic} = %v, want 0", got)
	}
	if n := strings.Count(h.logBuf.String(), "level=WARN"); n > 2 {
		t.Errorf("%d warnings for one missing topic:\n%s", n, h.logBuf.String())
	}
}

// A templated topic whose fallback topic does not exist either: the
// records of existing topics flow; those of the missing topic wait, and
// arrive once the fallback topic is created.
func TestIsolationTemplateFallbackMissing(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(2, "logs.shop"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "logs.{{ .Namespace }}"
	cfg.Kafka.FallbackTopic = "logs-fallback"
	h := runShipper(t, cfg, nil)
	gone := metaFor(2)
	gone.Namespace = "gone"
	var shop, held [][]event.Log
	for i := range 10 {
		a, b := makeLogs(1, i*10, 10, metaFor(1)), makeLogs(2, i*10, 10, gone)
		shop, held = append(shop, a), append(held, b)
		feed(t, h.logs, b)
		feed(t, h.logs, a)
	}
	recs, ok := consumeWithin(t, addr, 10*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= 100 }, "logs.shop")
	if !ok {
		t.Fatalf("with the fallback topic missing, %d of 100 records of an existing topic arrived in 10s", len(dedup(recs)))
	}
	checkPerKeyOrder(t, dedup(recs))
	for deadline := time.Now().Add(10 * time.Second); len(h.ack.cursors()) < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("acked %d of 100 records of an existing topic", len(h.ack.cursors()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(shop...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acked before the fallback topic exists (-want +got):\n%s", diff)
	}

	createTopic(t, addr, "logs-fallback", 2)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.logBuf.String())
		}
	})
	h.finish(t)
	fb, ok := consumeWithin(t, addr, 30*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= 100 }, "logs-fallback")
	if !ok {
		t.Fatalf("%d of 100 held records reached the fallback topic once it existed", len(dedup(fb)))
	}
	checkPerKeyOrder(t, dedup(fb))
	if diff := cmp.Diff(sortCursors(cursorsOf(append(shop, held...)...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

// partOf is the partition of the "logs" topic (3 partitions) that pod k's
// records go to (keyed by its UID, murmur2 as ship places them).
func partOf(k int) int {
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(metaFor(k).PodUID)}, 0, 1, 2)
}

// One partition refuses every produce (no leader, not enough replicas)
// while records keep coming: the keys of the other partitions arrive
// within seconds, the stuck partition's once it recovers, in order and
// none lost.
func TestIsolationStuckPartition(t *testing.T) {
	const stuck = 1
	c, addr := startCluster(t, kfake.SeedTopics(3, "logs"))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{stuck},
		Err: kerr.NotEnoughReplicas, Count: -1})
	h := runShipper(t, testKafkaConfig(addr), nil)
	const keys, rounds, lines = 12, 25, 20
	var sent [][]event.Log
	free, onStuck := 0, 0
	for r := range rounds {
		for k := range keys {
			ls := makeLogs(uint64(k), r*lines, lines, metaFor(k))
			sent = append(sent, ls)
			feed(t, h.logs, ls)
			if partOf(k) == stuck {
				onStuck += lines
			} else {
				free += lines
			}
		}
	}
	if onStuck == 0 || free == 0 {
		t.Fatalf("keys spread badly: %d records on the stuck partition, %d elsewhere", onStuck, free)
	}
	recs, ok := consumeWithin(t, addr, 10*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= free }, "logs")
	if !ok {
		t.Fatalf("with partition %d stuck, %d of the %d records of the other partitions arrived in 10s", stuck, len(dedup(recs)), free)
	}
	for _, r := range recs {
		if r.Partition == stuck {
			t.Fatalf("a record reached the stuck partition %d", stuck)
		}
	}
	fault.Remove()
	h.finish(t)
	all, ok := consumeWithin(t, addr, 30*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= free+onStuck }, "logs")
	if !ok {
		t.Fatalf("after recovery %d of %d records arrived", len(dedup(all)), free+onStuck)
	}
	checkPerKeyOrder(t, dedup(all))
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	seen := map[string]int{}
	for _, r := range all {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprintf("%s@%d", rec.File, rec.Offset)]++
	}
	if len(seen) != free+onStuck {
		t.Errorf("%d distinct records, want %d", len(seen), free+onStuck)
	}
}

// One partition refuses for longer than ship's log budget lasts: its files
// are held back (Options.Holdback) once its lane holds a quarter of the
// budget, so ship never stops taking the other files' records (before,
// the stuck lane filled the budget and reading stopped for every file).
// The test plays the tailer: it feeds a file only while it is not held
// back. Once the partition recovers the files are released and every
// record arrives.
func TestIsolationStuckPartitionHoldsBackItsFiles(t *testing.T) {
	stuckHoldsBack(t, 3, []int32{1}, 12, 20)
}

// Five of eight partitions stuck at once: each holds about a fifth of the
// budget, under the quarter that holds one lane's files back, but
// together they would fill it (and did: reading stopped for every file);
// once the failing lanes hold half of it, all their files are held back.
func TestIsolationSeveralStuckPartitionsHoldBackTheirFiles(t *testing.T) {
	stuckHoldsBack(t, 8, []int32{1, 2, 3, 5, 6}, 40, 2)
}

// stuckHoldsBack runs the holdback scenario on a topic of n partitions
// whose stuck ones refuse every produce, with keys files fed lines at a
// time.
func stuckHoldsBack(t *testing.T, n int32, stuck []int32, keys, lines int) {
	c, addr := startCluster(t, kfake.SeedTopics(n, "logs"))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: stuck,
		Err: kerr.NotEnoughReplicas, Count: -1})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes, cfg.Kafka.MaxMessageBytes = 8<<10, 8<<10 // a budget of 40 KiB
	hb := &event.Holdback{}
	h := runShipper(t, cfg, nil, func(o *Options) { o.Holdback = hb })
	s := h.s
	isStuck := func(k int) bool { return slices.Contains(stuck, int32(partOfN(k, int(n)))) }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("held bytes %v of %v; log:\n%.4000s", testutil.ToFloat64(s.m.heldBytes), s.logBudget, h.logBuf.String())
		}
	})

	var sent [][]event.Log
	next := make([]int, keys)
	free, heldOnce := 0, map[int]bool{}
	// Ten times the budget's worth of records, fed file by file while a
	// file is not held back: feed fails the test if ship stops taking
	// input for 10 s (what the stuck lanes did once they held the budget).
	for round := 0; round < 60*12*20/(keys*lines); round++ {
		for k := range keys {
			if hb.Held(uint64(k)) {
				heldOnce[k] = true
				continue
			}
			ls := makeLogs(uint64(k), next[k], lines, metaFor(k))
			next[k] += lines
			sent = append(sent, ls)
			feed(t, h.logs, ls)
			if !isStuck(k) {
				free += lines
			}
		}
	}
	for k := range keys {
		if heldOnce[k] != isStuck(k) {
			t.Errorf("file %d (partition %d): held back %v", k, partOfN(k, int(n)), heldOnce[k])
		}
	}
	recs, ok := consumeWithin(t, addr, 20*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= free }, "logs")
	if !ok {
		t.Fatalf("with partitions %v stuck, %d of the %d records of the other partitions arrived", stuck, len(dedup(recs)), free)
	}
	fault.Remove()
	waitFor(t, 20*time.Second, "every file released after the partitions recovered", func() bool { return hb.Len() == 0 })
	h.finish(t)
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(s.m.holdback); got != 0 {
		t.Errorf("ferry_ship_held_back_files = %v after recovery", got)
	}
}

// partOfN is the partition of a topic of n partitions that pod k's
// records go to.
func partOfN(k, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(metaFor(k).PodUID)}, parts...)
}

// At shutdown, records that only a refusing destination holds are not
// waited for: with the metrics topic missing, Run returns once its inputs
// are closed and the log records are confirmed (the metric records are
// dropped and counted, reason shutdown), instead of retrying until the
// hard stop at shutdown_timeout. A templated topic whose fallback is
// missing too leaves log records: they are not acknowledged (read again
// after a restart) and Run says so.
func TestShutdownDoesNotWaitForRefusedDestinations(t *testing.T) {
	t.Run("metrics topic missing", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs")) // no "metrics"
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		h := runShipper(t, testKafkaConfig(c.ListenAddrs()[0]), nil)
		feed(t, h.metrics, event.Snapshot{Node: "node-1", Time: time.Now(), Metrics: []event.Metric{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
		feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
		waitFor(t, 20*time.Second, "the metrics destination refused", func() bool {
			return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("metrics", "unknown_topic")) >= 1 && len(h.ack.cursors()) == 10
		})
		h.finish(t) // fails unless Run returns nil by itself (the context is never cancelled)
		if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("metric", "shutdown")); got != 3 {
			t.Errorf("dropped{metric, shutdown} = %v, want the 3 metric records", got)
		}
		if out := h.logBuf.String(); !strings.Contains(out, "not waiting for a destination that refuses its records") || !strings.Contains(out, "topic=metrics") {
			t.Errorf("no warning naming the refusing destination:\n%s", out)
		}
	})
	t.Run("log records for a missing fallback topic", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cfg := testKafkaConfig(c.ListenAddrs()[0])
		cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs-{{.Namespace}}", "logs-unrouted" // neither exists
		h := runShipper(t, cfg, nil)
		feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
		waitFor(t, 20*time.Second, "the fallback destination refused", func() bool {
			return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("logs-unrouted", "unknown_topic")) >= 1
		})
		close(h.logs)
		close(h.metrics)
		select {
		case err := <-h.errc:
			if err == nil || !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "10 log records unconfirmed") {
				t.Errorf("Run = %v, want 10 log records unconfirmed, refused", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not return after its inputs were closed: it waits for a refusing destination")
		}
		if n := len(h.ack.cursors()); n != 0 {
			t.Errorf("%d records acknowledged, want none (they are read again after a restart)", n)
		}
	})
}
