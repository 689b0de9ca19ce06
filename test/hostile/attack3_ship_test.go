package hostile

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/ship"
)

// countAcker counts the cursors acknowledged.
type countAcker struct {
	mu sync.Mutex
	n  int
}

func (a *countAcker) Ack(cs []event.Cursor) {
	a.mu.Lock()
	a.n += len(cs)
	a.mu.Unlock()
}

func (a *countAcker) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// shipRecords sends batches through a real Shipper (kafka sink, broker
// addr) configured by adjust, and returns the values a franz-go consumer
// reads back from the logs topic once every record is acknowledged.
func shipRecords(t *testing.T, adjust func(*ship.KafkaConfig), batches ...[]event.Log) []*kgo.Record {
	t.Helper()
	b := e2eharness.NewBroker(t)
	cfg := ship.DefaultConfig()
	cfg.Kafka.Brokers = []string{b.Addr()}
	cfg.Kafka.Compression = "none"
	cfg.Kafka.Batch.Linger = 5 * time.Millisecond
	cfg.Kafka.DialTimeout, cfg.Kafka.WriteTimeout = 2*time.Second, 3*time.Second
	adjust(cfg.Kafka)
	logs := make(chan []event.Log)
	ack := &countAcker{}
	s, err := ship.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		ship.Options{Logs: logs, Acker: ack, Registerer: prometheus.NewRegistry()})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	n := 0
	for _, bt := range batches {
		n += len(bt)
		logs <- bt
	}
	waitFor(t, "every record acknowledged", 30*time.Second, func() bool { return ack.count() >= n })
	close(logs)
	select {
	case err := <-errc:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("shipper did not stop")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(e2eharness.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	must(t, err)
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(fctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		fcancel()
	}
	return out
}

// TestAttackShipUnkeyedFieldsOmittedBelowLimit: with kafka.key: none the
// records carry no key, so the largest record the sink takes is the
// value alone (max_message_bytes is "key + value", and a record whose
// value is exactly max_message_bytes is sent). But the check that decides
// whether the parsed fields make a record too large adds the pod's UID
// (36 bytes) as if it were the key. A user with key: none sees a JSON
// line whose record fits (value 20 bytes under the limit) shipped
// without its "fields", ferry_ship_fields_omitted_total counting it and
// the log saying it was larger than the sink takes - it was not.
func TestAttackShipUnkeyedFieldsOmittedBelowLimit(t *testing.T) {
	const limit = 4000
	meta := &event.Meta{Namespace: "shop", Pod: "api-0", PodUID: "0b6d1f2e-1234-4c1b-9a57-0123456789ab", Container: "app", Node: "n1"}
	mk := func(body string, off int64) event.Log {
		return event.Log{Time: time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC), Body: []byte(body),
			Path: "/var/log/pods/shop_api-0_x/app/0.log", Cursor: event.Cursor{Source: 1, Offset: off},
			Meta: meta, Stream: event.Stdout, Fields: []event.Field{{Key: "k", Value: "v"}}}
	}
	key := func(k *ship.KafkaConfig) { k.Key = "none"; k.MaxMessageBytes = limit }
	// Calibrate: the value of a record with a short body.
	cal := shipRecords(t, key, []event.Log{mk("x", 0)})
	if len(cal) != 1 {
		t.Fatalf("calibration: %d records", len(cal))
	}
	if cal[0].Key != nil {
		t.Fatalf("key: none, yet the record has key %q", cal[0].Key)
	}
	// A body that makes the value 20 bytes under the limit.
	pad := limit - 20 - len(cal[0].Value) + 1
	recs := shipRecords(t, key, []event.Log{mk(strings.Repeat("y", pad), 0)})
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if len(recs[0].Value)+len(recs[0].Key) > limit {
		t.Fatalf("the record sent is %d bytes, over the limit %d", len(recs[0].Value)+len(recs[0].Key), limit)
	}
	var r struct {
		Fields map[string]any `json:"fields"`
	}
	must(t, json.Unmarshal(recs[0].Value, &r))
	if r.Fields["k"] != "v" {
		t.Errorf("a record of %d bytes with no key (limit %d) was shipped without its parsed fields: %.200s...",
			len(recs[0].Value), limit, recs[0].Value)
	}
}

// TestAttackShipKeyedFieldsAtLimit: keyed by pod UID (the default), a
// record whose key and value with its fields are exactly
// max_message_bytes is sent whole, fields included; one byte more and it
// is sent without its fields, within the limit. Holds.
func TestAttackShipKeyedFieldsAtLimit(t *testing.T) {
	const limit = 4000
	meta := &event.Meta{Namespace: "shop", Pod: "api-0", PodUID: "0b6d1f2e-1234-4c1b-9a57-0123456789ab", Container: "app", Node: "n1"}
	mk := func(body string, off int64) event.Log {
		return event.Log{Time: time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC), Body: []byte(body),
			Path: "/var/log/pods/shop_api-0_x/app/0.log", Cursor: event.Cursor{Source: 1, Offset: off},
			Meta: meta, Stream: event.Stdout, Fields: []event.Field{{Key: "k", Value: "v"}}}
	}
	key := func(k *ship.KafkaConfig) { k.MaxMessageBytes = limit }
	cal := shipRecords(t, key, []event.Log{mk("x", 0)})
	if len(cal) != 1 || string(cal[0].Key) != meta.PodUID {
		t.Fatalf("calibration: %d records", len(cal))
	}
	base := len(cal[0].Value) + len(cal[0].Key) - 1
	for _, over := range []int{0, 1} {
		pad := limit - base + over
		recs := shipRecords(t, key, []event.Log{mk(strings.Repeat("y", pad), 0)})
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		size := len(recs[0].Value) + len(recs[0].Key)
		var r struct {
			Fields map[string]any `json:"fields"`
		}
		must(t, json.Unmarshal(recs[0].Value, &r))
		switch {
		case size > limit:
			t.Errorf("a record of %d bytes sent, over the limit %d", size, limit)
		case over == 0 && (size != limit || r.Fields["k"] != "v"):
			t.Errorf("at the limit: %d bytes, fields %v", size, r.Fields)
		case over == 1 && r.Fields != nil:
			t.Errorf("one byte over: sent with its fields (%d bytes)", size)
		}
	}
}
