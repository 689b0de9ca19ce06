package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ferry-dev/ferry/pkg/event"
)

// kcatBin returns Debian's kcat, or skips the test outside CI.
func kcatBin(t *testing.T) string {
	return peerBin(t, "FERRY_KCAT", "FERRY_KCAT=$(hack/peers.sh kcat) go test -run Kcat ./test/interop/")
}

// message is one Kafka record as a consumer saw it.
type message struct {
	Topic      string
	Partition  int32
	Offset     int64
	Key, Value string
}

// TestKcatReadsEveryCodec ships log records and a metrics snapshot with
// each compression codec ferry offers, in each encoding, and reads both
// topics back with librdkafka's consumer (kcat) and with franz-go: both
// must see the same records, byte for byte, and each value must decode
// (JSON, or OTLP with pdata) to the line or sample shipped.
func TestKcatReadsEveryCodec(t *testing.T) {
	bin := kcatBin(t)
	logs, want := testLogs()
	snap := event.Snapshot{Time: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Node: "node-1", Metrics: []event.Metric{
		{Name: "node_boot_time_seconds", Value: 1.7e9},
		{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}}, Value: 12.5, Type: event.Counter},
		{Name: "node_load1", Value: 0.25},
	}}
	var wantBodies []string
	for _, r := range want {
		wantBodies = append(wantBodies, r.Body) // invalid UTF-8 replaced, in every encoding
	}
	slices.Sort(wantBodies)
	wantNames := []string{"node_boot_time_seconds", "node_cpu_seconds_total", "node_load1"}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, enc := range []string{"json", "otlp_proto", "otlp_json"} {
			t.Run(codec+"/"+enc, func(t *testing.T) {
				t.Parallel()
				addr := startBroker(t)
				shipCodec(t, addr, enc, codec, append([]event.Log(nil), logs...), snap)
				byKcat := kcatRead(t, bin, addr, "logs", "metrics")
				byFranz := franzRead(t, addr, len(logs)+len(snap.Metrics), "logs", "metrics")
				if diff := cmp.Diff(byFranz, byKcat); diff != "" {
					t.Fatalf("kcat and franz-go read different records (-franz-go +kcat):\n%s", diff)
				}
				var bodies, names []string
				for _, m := range byKcat {
					switch m.Topic {
					case "logs":
						bodies = append(bodies, logBody(t, enc, []byte(m.Value)))
					case "metrics":
						names = append(names, metricName(t, enc, []byte(m.Value)))
					}
				}
				slices.Sort(bodies)
				slices.Sort(names)
				if diff := cmp.Diff(wantBodies, bodies); diff != "" {
					t.Errorf("log lines kcat read (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantNames, names); diff != "" {
					t.Errorf("metric samples kcat read (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func shipCodec(t *testing.T, addr, enc, codec string, logs []event.Log, snap event.Snapshot) {
	t.Helper()
	shipWith(t, addr, func(k *shipKafka) { k.Encoding, k.Compression = enc, codec }, logs, snap)
}

// kcatRead reads every record of topics from the beginning with kcat, the
// key and value framed by their lengths.
func kcatRead(t *testing.T, bin, addr string, topics ...string) []message {
	t.Helper()
	var out []message
	for _, topic := range topics {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, bin, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q",
			"-f", `%t %p %o %K %S\n%k%s`)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat %s: %v: %s", topic, err, stderr.String())
		}
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			head, err := r.ReadString('\n')
			if err == io.EOF && head == "" {
				break
			}
			if err != nil {
				t.Fatalf("kcat output: %v after %d records", err, len(out))
			}
			var m message
			var klen, vlen int
			if _, err := fmt.Sscanf(head, "%s %d %d %d %d\n", &m.Topic, &m.Partition, &m.Offset, &klen, &vlen); err != nil {
				t.Fatalf("kcat header %q: %v", head, err)
			}
			key, val := make([]byte, max(klen, 0)), make([]byte, max(vlen, 0))
			if _, err := io.ReadFull(r, key); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r, val); err != nil {
				t.Fatal(err)
			}
			m.Key, m.Value = string(key), string(val)
			out = append(out, m)
		}
	}
	sortMessages(out)
	return out
}

// franzRead reads n records of topics from the beginning with franz-go.
func franzRead(t *testing.T, addr string, n int, topics ...string) []message {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []message
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go read %d of %d records: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)})
		})
	}
	sortMessages(out)
	return out
}

func sortMessages(ms []message) {
	slices.SortFunc(ms, func(a, b message) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
}

func logBody(t *testing.T, enc string, v []byte) string {
	t.Helper()
	switch enc {
	case "json":
		var r struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatalf("json log record %q: %v", v, err)
		}
		return r.Message
	case "otlp_proto", "otlp_json":
		var u plog.Unmarshaler = &plog.ProtoUnmarshaler{}
		if enc == "otlp_json" {
			u = &plog.JSONUnmarshaler{}
		}
		ld, err := u.UnmarshalLogs(v)
		if err != nil || ld.LogRecordCount() != 1 {
			t.Fatalf("%s log record %q: %v (%d records)", enc, v, err, ld.LogRecordCount())
		}
		return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	}
	t.Fatalf("encoding %s", enc)
	return ""
}

func metricName(t *testing.T, enc string, v []byte) string {
	t.Helper()
	switch enc {
	case "json":
		var r struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatalf("json metric record %q: %v", v, err)
		}
		return r.Name
	case "otlp_proto", "otlp_json":
		var u pmetric.Unmarshaler = &pmetric.ProtoUnmarshaler{}
		if enc == "otlp_json" {
			u = &pmetric.JSONUnmarshaler{}
		}
		md, err := u.UnmarshalMetrics(v)
		if err != nil || md.DataPointCount() != 1 {
			t.Fatalf("%s metric record %q: %v (%d points)", enc, v, err, md.DataPointCount())
		}
		return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Name()
	}
	t.Fatalf("encoding %s", enc)
	return ""
}
