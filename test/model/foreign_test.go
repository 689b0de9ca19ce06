package model

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// A record of another agent's file carries a line id like the sequence's
// own lines: the consumer does not count it as one of them. Such records
// made seed 102508 fail in the soak of 2026-12-06: an agent left running
// by a test process killed an hour before kept retrying its broker's port,
// which the sequence's broker was then given, and delivered its held lines
// (ids 106-303 of its own sequence); the 76 of them whose ids the sequence
// had delivered too were taken for duplicates.
func TestConsumerForeignFiles(t *testing.T) {
	b := e2eharness.NewBroker(t)
	root := filepath.Join(t.TempDir(), "pods")
	c := startConsumer(t, b.Addr(), root)
	produce := func(file string, id int) {
		t.Helper()
		v, err := json.Marshal(e2eharness.Record{Message: message(id, "stdout", 5), Stream: "stdout", File: file})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.cl.ProduceSync(ctx, &kgo.Record{Topic: e2eharness.Topic, Partition: 0, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(filepath.Join(root, "ns_pod_uid/app/0.log"), 7)
	produce(filepath.Join(root, "ns_pod_uid/app/0.log.20261204-000001.gz"), 9)
	produce(filepath.Join(root+"-other", "ns_pod_uid/app/0.log"), 7) // a sibling directory whose name starts with root's
	produce("/tmp/TestModelseed=95423266089592/001/pods/ns_pod1_uid4052112204/app/0.log.20261204-000003", 8)
	c.sync(t, 30*time.Second)

	counts, _, bad := c.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad records: %q", bad)
	}
	if counts[7] != 1 || counts[9] != 1 || counts[8] != 0 {
		t.Errorf("counts: line 7 %d, line 9 %d, line 8 %d; want 1, 1 and 0 (only the records of files under %s)", counts[7], counts[9], counts[8], root)
	}
	if n, _ := c.foreignSeen(); n != 2 {
		t.Errorf("foreign records %d, want 2", n)
	}
}
