package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	logsTopic = "logs"
	logsParts = 4
	oldUID    = "uid-a" // checkout before it was deleted
	newUID    = "uid-b" // checkout recreated under the same name
)

// logsBroker is an in-process broker holding ferry log records, and the
// Fetch requests it answered per partition of the logs topic.
type logsBroker struct {
	addr    string
	cluster *kfake.Cluster
	keyed   *kgo.Client // partitions by key as Java's producer (murmur2)
	manual  *kgo.Client // puts records in a chosen partition

	mu       sync.Mutex
	fetches  map[int]int   // partition: Fetch requests naming it
	minFetch map[int]int64 // partition: lowest offset fetched
}

func newLogsBroker(t *testing.T) *logsBroker {
	t.Helper()
	b := &logsBroker{fetches: map[int]int{}, minFetch: map[int]int64{}}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(logsParts, logsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, tp := range req.(*kmsg.FetchRequest).Topics {
			if tp.Topic != logsTopic {
				continue
			}
			for _, p := range tp.Partitions {
				part := int(p.Partition)
				if n, ok := b.minFetch[part]; !ok || p.FetchOffset < n {
					b.minFetch[part] = p.FetchOffset
				}
				b.fetches[part]++
			}
		}
		return nil, nil, false
	})
	b.cluster, b.addr = c, c.ListenAddrs()[0]
	for _, cl := range []**kgo.Client{&b.keyed, &b.manual} {
		part := kgo.StickyKeyPartitioner(nil)
		if cl == &b.manual {
			part = kgo.ManualPartitioner()
		}
		*cl, err = kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(logsTopic), kgo.RecordPartitioner(part))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*cl).Close)
	}
	return b
}

// recordValue is a ferry JSON log record (the README's Records section).
func recordValue(t *testing.T, at time.Time, ns, pod, uid, container, msg string) []byte {
	t.Helper()
	return labeledValue(t, at, ns, pod, uid, container, msg, map[string]string{"app": pod})
}

// labeledValue is a ferry JSON log record of a pod with these labels.
func labeledValue(t *testing.T, at time.Time, ns, pod, uid, container, msg string, lbls map[string]string) []byte {
	t.Helper()
	v, err := json.Marshal(map[string]any{
		"time": at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), "stream": "stdout", "message": msg,
		"kubernetes": map[string]any{"namespace": ns, "pod": pod, "pod_uid": uid, "container": container,
			"node": "node-1", "labels": lbls},
		"file": "/var/log/pods/x/" + container + "/0.log", "offset": 1, "truncated": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// produce stores a record keyed by its pod UID, stamped at, in the
// partition the key maps to (part < 0) or in part; it returns the partition.
func (b *logsBroker) produce(t *testing.T, at time.Time, ns, pod, uid, container, msg string, part int) int {
	t.Helper()
	return b.produceValue(t, at, uid, recordValue(t, at, ns, pod, uid, container, msg), part)
}

// produceValue stores value keyed by uid, as produce does.
func (b *logsBroker) produceValue(t *testing.T, at time.Time, uid string, value []byte, part int) int {
	t.Helper()
	r := &kgo.Record{Key: []byte(uid), Value: value, Timestamp: at}
	cl := b.keyed
	if part >= 0 {
		cl, r.Partition = b.manual, int32(part)
	}
	if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return int(r.Partition)
}

func (b *logsBroker) resetCounts() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.fetches)
	clear(b.minFetch)
}

func (b *logsBroker) counts() (map[int]int, map[int]int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, m := map[int]int{}, map[int]int64{}
	for k, v := range b.fetches {
		f[k] = v
	}
	for k, v := range b.minFetch {
		m[k] = v
	}
	return f, m
}

// logsFixture fills a broker: the deleted checkout's lines three hours
// ago, an unrelated pod's line in the new checkout's partition two hours
// ago, the recreated checkout's lines half an hour ago, and a record of
// the new checkout planted in a partition its UID does not map to.
type logsFixture struct {
	b                       *logsBroker
	oldPart, newPart, plant int
	sidecarValue            []byte
}

func newLogsFixture(t *testing.T) *logsFixture {
	t.Helper()
	f := &logsFixture{b: newLogsBroker(t)}
	b := f.b
	f.oldPart, f.newPart = uidPartition(oldUID, logsParts), uidPartition(newUID, logsParts)
	if f.oldPart == f.newPart {
		t.Fatalf("fixture needs the two UIDs in different partitions, both map to %d", f.oldPart)
	}
	for f.plant = 0; f.plant == f.oldPart || f.plant == f.newPart; f.plant++ {
	}
	now := time.Now()
	b.produce(t, now.Add(-2*time.Hour), "other", "x", "uid-x", "app", "noise", f.newPart)
	old := now.Add(-3 * time.Hour)
	for i, l := range [][2]string{{"app", "a1"}, {"sidecar", "a2"}, {"app", "a3"}} {
		// The producer's murmur2 and ferry logs' agree on the partition.
		if p := b.produce(t, old.Add(time.Duration(i)*time.Second), "shop", "checkout", oldUID, l[0], l[1], -1); p != f.oldPart {
			t.Fatalf("producer put %s in partition %d, ferry logs reads %d", oldUID, p, f.oldPart)
		}
	}
	cur := now.Add(-30 * time.Minute)
	for i, l := range [][2]string{{"app", "b1"}, {"sidecar", "b2"}, {"app", "b3"}} {
		if p := b.produce(t, cur.Add(time.Duration(i)*time.Second), "shop", "checkout", newUID, l[0], l[1], -1); p != f.newPart {
			t.Fatalf("producer put %s in partition %d, ferry logs reads %d", newUID, p, f.newPart)
		}
	}
	f.sidecarValue = recordValue(t, cur.Add(time.Second), "shop", "checkout", newUID, "sidecar", "b2")
	b.produce(t, now.Add(-20*time.Minute), "shop", "checkout", newUID, "app", "planted", f.plant)
	b.produce(t, now.Add(-10*time.Minute), "shop", "cart", "uid-cart", "app", "cart line", -1)
	return f
}

func TestLogs(t *testing.T) {
	f := newLogsFixture(t)
	base := logsOptions{brokers: []string{f.b.addr}, topic: logsTopic, namespace: "shop", pod: "checkout", output: "text", scanFanOut: 2}
	all := map[int]bool{0: true, 1: true, 2: true, 3: true}
	tests := []struct {
		name  string
		opt   func(*logsOptions)
		want  string
		parts map[int]bool // partitions fetched; nil: all
		// minOffset, when set, is the lowest offset fetched in newPart.
		minOffset int64
	}{
		{
			name:  "uid reads one partition, containers prefixed, in order",
			opt:   func(o *logsOptions) { o.uid = newUID },
			want:  "[app] b1\n[sidecar] b2\n[app] b3\n",
			parts: map[int]bool{f.newPart: true},
		},
		{
			name:  "uid and container",
			opt:   func(o *logsOptions) { o.uid, o.container = newUID, "app" },
			want:  "b1\nb3\n",
			parts: map[int]bool{f.newPart: true},
		},
		{
			name:  "deleted pod by uid",
			opt:   func(o *logsOptions) { o.uid, o.pod, o.namespace = oldUID, "", "" },
			want:  "[app] a1\n[sidecar] a2\n[app] a3\n",
			parts: map[int]bool{f.oldPart: true},
		},
		{
			name: "by name scans every partition, both instances in time order",
			opt:  func(o *logsOptions) { o.container = "app" },
			want: "a1\na3\nb1\nb3\nplanted\n",
		},
		{
			name: "since by name starts at timestamp offsets",
			opt:  func(o *logsOptions) { o.container, o.since = "app", time.Hour },
			want: "b1\nb3\nplanted\n",
			// Only partitions with records that recent are fetched.
			parts:     map[int]bool{f.newPart: true, f.plant: true, uidPartition("uid-cart", logsParts): true},
			minOffset: 1, // past the two-hour-old line
		},
		{
			name:      "since by uid",
			opt:       func(o *logsOptions) { o.uid, o.since = newUID, time.Hour },
			want:      "[app] b1\n[sidecar] b2\n[app] b3\n",
			parts:     map[int]bool{f.newPart: true},
			minOffset: 1,
		},
		{
			name:  "json is the record as stored",
			opt:   func(o *logsOptions) { o.uid, o.container, o.output = newUID, "sidecar", "json" },
			want:  string(f.sidecarValue) + "\n",
			parts: map[int]bool{f.newPart: true},
		},
		{
			name:  "other namespace finds nothing",
			opt:   func(o *logsOptions) { o.namespace = "prod" },
			want:  "",
			parts: all,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.b.resetCounts()
			o := base
			tt.opt(&o)
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := runLogs(ctx, o, &out, &errOut); err != nil {
				t.Fatalf("runLogs: %v (stderr %s)", err, errOut.String())
			}
			if d := cmp.Diff(tt.want, out.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			fetches, minFetch := f.b.counts()
			got := map[int]bool{}
			for p := range fetches {
				got[p] = true
			}
			wantParts := tt.parts
			if wantParts == nil {
				wantParts = all
			}
			if d := cmp.Diff(wantParts, got); d != "" {
				t.Errorf("partitions fetched (-want +got):\n%s", d)
			}
			if tt.minOffset > 0 && minFetch[f.newPart] != tt.minOffset {
				t.Errorf("lowest offset fetched in partition %d = %d, want %d (timestamp lookup)", f.newPart, minFetch[f.newPart], tt.minOffset)
			}
			scanned := strings.Contains(errOut.String(), "scanning all")
			if scanned != (o.uid == "") {
				t.Errorf("stderr says scanning: %v, want %v: %s", scanned, o.uid == "", errOut.String())
			}
		})
	}
}

// syncBuffer is an output that tells when a line arrives.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.buf.Write(p)
	select {
	case s.more <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits, bounded, until the output holds want.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("output never held %q: %q", want, s.String())
		}
	}
}

func TestLogsFollow(t *testing.T) {
	for _, tt := range []struct {
		name string
		uid  string
	}{
		{name: "uid", uid: newUID},
		{name: "scan", uid: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newLogsFixture(t)
			o := logsOptions{brokers: []string{f.b.addr}, topic: logsTopic, namespace: "shop", pod: "checkout",
				uid: tt.uid, container: "app", since: time.Hour, follow: true, output: "text", scanFanOut: 1}
			out := &syncBuffer{more: make(chan struct{}, 1)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			errOut := &syncBuffer{more: make(chan struct{}, 1)}
			go func() { done <- runLogs(ctx, o, out, errOut) }()
			if tt.uid == "" {
				// Produced after the scan, so read by the follow only.
				errOut.waitFor(t, "following")
				f.b.resetCounts() // the scan's readers are closed
			} else {
				out.waitFor(t, "b3\n")
			}
			f.b.produce(t, time.Now(), "shop", "checkout", newUID, "app", "b4 after start", -1)
			out.waitFor(t, "b4 after start\n")
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("runLogs after interrupt: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("runLogs did not return after cancel")
			}
			want := "b1\nb3\nb4 after start\n"
			if tt.uid == "" {
				// By name: the scan to the ends in time order, then the
				// partition of the one pod UID found.
				want = "b1\nb3\nplanted\nb4 after start\n"
				if !strings.Contains(errOut.String(), fmt.Sprintf("following pod uid %s: partition %d only", newUID, f.newPart)) {
					t.Errorf("stderr does not say it follows one partition: %s", errOut.String())
				}
				fetches, _ := f.b.counts()
				for p := range fetches {
					if p != f.newPart {
						t.Errorf("the follow fetched partition %d, want only %d: %v", p, f.newPart, fetches)
					}
				}
			}
			if d := cmp.Diff(want, out.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
		})
	}
}

func TestLogsCLI(t *testing.T) {
	f := newLogsFixture(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		want     string
		stderrIn string
	}{
		{
			name: "flags after POD",
			args: []string{"logs", "--brokers", f.b.addr, "-n", "shop", "checkout", "-c", "sidecar", "--since", "1h"},
			want: "b2\n", stderrIn: "--uid " + newUID,
		},
		{
			name: "uid alone",
			args: []string{"logs", "--brokers", f.b.addr, "--uid", oldUID, "-c", "sidecar"},
			want: "a2\n",
		},
		{name: "no pod", args: []string{"logs", "--brokers", f.b.addr}, code: 2},
		{name: "bad output", args: []string{"logs", "--brokers", f.b.addr, "p", "--output", "yaml"}, code: 2},
		{name: "no brokers", args: []string{"logs", "p"}, code: 2},
		{
			name: "selector",
			args: []string{"logs", "--brokers", f.b.addr, "-n", "shop", "-l", "app in (checkout)", "-c", "sidecar"},
			want: "[checkout] a2\n[checkout] b2\n", stderrIn: "for -l app in (checkout) in namespace shop",
		},
		{name: "bad selector", args: []string{"logs", "--brokers", f.b.addr, "-l", "app=web,,"}, code: 2, stderrIn: `bad -l selector "app=web,,"`},
		{name: "selector and pod", args: []string{"logs", "--brokers", f.b.addr, "-l", "app=web", "p"}, code: 2, stderrIn: "give no POD"},
		{name: "missing topic", args: []string{"logs", "--brokers", f.b.addr, "--topic", "nope", "p"}, code: 1, stderrIn: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := cli(tt.args, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errOut.String())
			}
			if d := cmp.Diff(tt.want, out.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			if !strings.Contains(errOut.String(), tt.stderrIn) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderrIn)
			}
		})
	}
}

func FuzzParseLogRecord(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-26T03:55:09.123456789Z","stream":"stdout","message":"GET /cart 200","kubernetes":{"namespace":"shop","pod":"checkout-7d9f8","pod_uid":"u","container":"app"}}`))
	f.Add([]byte(`{"name":"node_cpu_seconds_total","value":1,"type":"counter"}`))
	f.Add([]byte(`{"time":"bad"}`))
	f.Add([]byte(`{"message":"m","kubernetes":{"pod":"web-a","labels":{"app":"web","tier":"frontend"}}}`))
	f.Add([]byte(`{"kubernetes":{"labels":{}}}`))
	f.Add([]byte(`{"kubernetes":{"labels":null}}`))
	// The OTLP encodings: one logs request per record.
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "checkout-7d9f8")
	rl.Resource().Attributes().PutStr("k8s.pod.label.app", "checkout")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("GET /cart 200")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 26, 3, 55, 9, 0, time.UTC)))
	for _, m := range []plog.Marshaler{&plog.ProtoMarshaler{}, &plog.JSONMarshaler{}} {
		b, err := m.MarshalLogs(ld)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseLogRecord(b)
		if err != nil {
			return
		}
		// What was read survives a round trip through the stored form.
		again, err := json.Marshal(r)
		if err != nil {
			return // a year outside RFC 3339's range
		}
		r2, err := parseLogRecord(again)
		if err != nil {
			t.Fatalf("re-reading %s: %v", again, err)
		}
		if d := cmp.Diff(r, r2); d != "" {
			t.Errorf("round trip (-first +second):\n%s", d)
		}
	})
}

// selectorFixture fills a broker with three pods labelled app=web in
// namespace shop (web-a; web-b, deleted three hours ago; db, tier=db), an
// app=web pod in another namespace and an app=api pod, their lines
// interleaved in time. It returns how many records it stored.
func selectorFixture(t *testing.T, b *logsBroker) int {
	t.Helper()
	front := map[string]string{"app": "web", "tier": "frontend"}
	pods := map[string]struct {
		ns, pod string
		lbls    map[string]string
	}{
		"uid-web-a": {"shop", "web-a", front},
		"uid-web-b": {"shop", "web-b", front},
		"uid-db":    {"shop", "db", map[string]string{"app": "web", "tier": "db"}},
		"uid-other": {"staging", "web-s", front},
		"uid-api":   {"shop", "api", map[string]string{"app": "api"}},
	}
	now := time.Now()
	lines := []struct {
		ago            time.Duration
		uid, container string
		msg            string
	}{
		{3 * time.Hour, "uid-web-b", "app", "b1"},
		{3*time.Hour - time.Second, "uid-db", "app", "db1"},
		{3*time.Hour - 2*time.Second, "uid-web-b", "sidecar", "b2"},
		{3*time.Hour - 3*time.Second, "uid-web-b", "app", "b3"},
		{30 * time.Minute, "uid-web-a", "app", "a1"},
		{30*time.Minute - time.Second, "uid-other", "app", "s1"},
		{30*time.Minute - 2*time.Second, "uid-web-a", "sidecar", "a2"},
		{30*time.Minute - 3*time.Second, "uid-api", "app", "api1"},
		{30*time.Minute - 4*time.Second, "uid-db", "app", "db2"},
		{30*time.Minute - 5*time.Second, "uid-web-a", "app", "a3"},
	}
	for _, l := range lines {
		p := pods[l.uid]
		at := now.Add(-l.ago)
		b.produceValue(t, at, l.uid, labeledValue(t, at, p.ns, p.pod, l.uid, l.container, l.msg, p.lbls), -1)
	}
	return len(lines)
}

func TestLogsSelector(t *testing.T) {
	b := newLogsBroker(t)
	stored := selectorFixture(t, b)
	sel, err := labels.Parse("app=web,tier!=db")
	if err != nil {
		t.Fatal(err)
	}
	base := logsOptions{brokers: []string{b.addr}, topic: logsTopic, namespace: "shop", selector: sel, output: "text", scanFanOut: 2}
	tests := []struct {
		name string
		opt  func(*logsOptions)
		want string
	}{
		{
			name: "two pods of three, the deleted one too, in order per pod",
			want: "[web-b/app] b1\n[web-b/sidecar] b2\n[web-b/app] b3\n[web-a/app] a1\n[web-a/sidecar] a2\n[web-a/app] a3\n",
		},
		{
			name: "container",
			opt:  func(o *logsOptions) { o.container = "app" },
			want: "[web-b] b1\n[web-b] b3\n[web-a] a1\n[web-a] a3\n",
		},
		{
			name: "since",
			opt:  func(o *logsOptions) { o.since = time.Hour },
			want: "[web-a/app] a1\n[web-a/sidecar] a2\n[web-a/app] a3\n",
		},
		{
			name: "every namespace",
			opt:  func(o *logsOptions) { o.namespace, o.container = "", "app" },
			want: "[web-b] b1\n[web-b] b3\n[web-a] a1\n[web-s] s1\n[web-a] a3\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.resetCounts()
			o := base
			if tt.opt != nil {
				tt.opt(&o)
			}
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := runLogs(ctx, o, &out, &errOut); err != nil {
				t.Fatalf("runLogs: %v (stderr %s)", err, errOut.String())
			}
			if d := cmp.Diff(tt.want, out.String()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			want := fmt.Sprintf("scanning all %d partitions of %s (2 at once) for -l app=web,tier!=db", logsParts, logsTopic)
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("stderr lacks %q: %s", want, errOut.String())
			}
			// The UIDs are not known: every partition with records is read.
			fetches, _ := b.counts()
			if o.since == 0 {
				for p := range logsParts {
					if fetches[p] == 0 && partitionHasRecords(t, b, p) {
						t.Errorf("partition %d holds records and was not read: %v", p, fetches)
					}
				}
			}
		})
	}

	t.Run("progress", func(t *testing.T) {
		o := base
		o.progressEvery = 4
		var out, errOut bytes.Buffer
		if err := runLogs(context.Background(), o, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{4, 8} {
			want := fmt.Sprintf("ferry logs: read %d of %d records (%d%%)", n, stored, n*100/stored)
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("stderr lacks %q: %s", want, errOut.String())
			}
		}
		if strings.Contains(errOut.String(), "read 12 of") {
			t.Errorf("progress past the records stored: %s", errOut.String())
		}
	})
}

// partitionHasRecords says whether partition p of the logs topic is not empty.
func partitionHasRecords(t *testing.T, b *logsBroker, p int) bool {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(b.addr), Timeout: 10 * time.Second}
	ranges, err := offsetRanges(context.Background(), client, logsTopic, []int{p}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ranges[0].end > ranges[0].start
}

func TestLogsSelectorFollow(t *testing.T) {
	b := newLogsBroker(t)
	selectorFixture(t, b)
	sel, err := labels.Parse("app=web,tier!=db")
	if err != nil {
		t.Fatal(err)
	}
	o := logsOptions{brokers: []string{b.addr}, topic: logsTopic, namespace: "shop", selector: sel,
		container: "app", since: time.Hour, follow: true, output: "text", scanFanOut: 2}
	out := &syncBuffer{more: make(chan struct{}, 1)}
	errOut := &syncBuffer{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runLogs(ctx, o, out, errOut) }()
	errOut.waitFor(t, "following all")
	// A pod started after the scan, matching, and one not matching.
	front := map[string]string{"app": "web", "tier": "frontend"}
	now := time.Now()
	b.produceValue(t, now, "uid-db", labeledValue(t, now, "shop", "db", "uid-db", "app", "db3", map[string]string{"app": "web", "tier": "db"}), -1)
	b.produceValue(t, now, "uid-web-c", labeledValue(t, now, "shop", "web-c", "uid-web-c", "app", "c1", front), -1)
	out.waitFor(t, "c1\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runLogs after interrupt: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runLogs did not return after cancel")
	}
	if d := cmp.Diff("[web-a] a1\n[web-a] a3\n[web-c] c1\n", out.String()); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}
}
