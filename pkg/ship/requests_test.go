package ship

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerRequests counts what the in-process brokers receive, by API key
// and by the broker that received it: tests assert on what the cluster
// saw, not on what ferry thinks it sent.
type brokerRequests struct {
	mu sync.Mutex
	n  map[brokerKey]int
}

type brokerKey struct {
	key  kmsg.Key
	node int32
}

// watchRequests starts counting every request c receives. The observer
// never handles a request, so faults and other controls still apply (a
// request handled by another control is not counted).
func watchRequests(c *kfake.Cluster) *brokerRequests {
	b := &brokerRequests{n: map[brokerKey]int{}}
	c.ControlKey(-1, func(req kmsg.Request) (kmsg.Response, error, bool) {
		node := c.CurrentNode()
		b.mu.Lock()
		b.n[brokerKey{kmsg.Key(req.Key()), node}]++
		b.mu.Unlock()
		return nil, nil, false
	})
	return b
}

// count is how many requests of key all brokers received.
func (b *brokerRequests) count(key kmsg.Key) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for k, v := range b.n {
		if k.key == key {
			n += v
		}
	}
	return n
}

// byNode is how many requests of key each broker received.
func (b *brokerRequests) byNode(key kmsg.Key) map[int32]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := map[int32]int{}
	for k, v := range b.n {
		if k.key == key {
			m[k.node] += v
		}
	}
	return m
}

// snapshot returns the counts by API name (apiName's labels).
func (b *brokerRequests) snapshot() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := map[string]int{}
	for k, v := range b.n {
		m[apiName(int16(k.key))] += v
	}
	return m
}

// waitFor polls cond (a metric, a count) until it holds or the deadline.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The counter reads request sizes and API keys from the bytes written,
// whatever the size of each write.
func TestRequestCounter(t *testing.T) {
	frame := func(key int16, body int) []byte {
		b := make([]byte, 4+2+body)
		binary.BigEndian.PutUint32(b, uint32(2+body))
		binary.BigEndian.PutUint16(b[4:], uint16(key))
		return b
	}
	var stream []byte
	for _, f := range [][]byte{frame(18, 10), frame(3, 0), frame(0, 1000), frame(0, 3), frame(42, 7)} {
		stream = append(stream, f...)
	}
	want := []int16{18, 3, 0, 0, 42}
	for _, chunk := range []int{1, 2, 5, 7, 64, len(stream)} {
		var rc requestCounter
		var got []int16
		for p := stream; len(p) > 0; {
			k := min(chunk, len(p))
			rc.write(p[:k], func(key int16) { got = append(got, key) })
			p = p[k:]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("writes of %d bytes: keys (-want +got):\n%s", chunk, diff)
		}
	}
	var rc requestCounter
	calls := 0
	rc.write([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3}, func(int16) { calls++ })
	if calls != 0 || !rc.bad {
		t.Errorf("a size under 2 counted %d requests, bad=%v; want 0, true", calls, rc.bad)
	}
}

func FuzzRequestCounter(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0, 3, 0, 0, 0, 3, 0, 0, 1}, 3)
	f.Fuzz(func(t *testing.T, stream []byte, chunk int) {
		chunk = max(1, chunk%64)
		var whole, split requestCounter
		var a, b []int16
		whole.write(stream, func(k int16) { a = append(a, k) })
		for p := stream; len(p) > 0; {
			k := min(chunk, len(p))
			split.write(p[:k], func(k int16) { b = append(b, k) })
			p = p[k:]
		}
		if !cmp.Equal(a, b) {
			t.Fatalf("whole %v, split by %d %v", a, chunk, b)
		}
	})
}

// ferry_ship_kafka_requests_total counts what the broker receives: every
// API, the connections' ApiVersions and the Transport's own metadata
// requests included.
func TestKafkaRequestsCounted(t *testing.T) {
	c, addr := startCluster(t)
	seen := watchRequests(c)
	h := runShipper(t, testKafkaConfig(addr), nil)
	for i := range 5 {
		h.logs <- makeLogs(1, i*10, 10, metaFor(1))
	}
	h.finish(t)
	h.s.Close()
	counted := func() map[string]int {
		m := map[string]int{}
		for _, a := range apiNames {
			if n := int(testutil.ToFloat64(h.s.m.requests.WithLabelValues(a))); n > 0 {
				m[a] = n
			}
		}
		return m
	}
	// A request written may not have been read by the broker yet.
	for deadline := time.Now().Add(5 * time.Second); !cmp.Equal(counted(), seen.snapshot()) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	got, broker := counted(), seen.snapshot()
	if diff := cmp.Diff(broker, got); diff != "" {
		t.Errorf("requests (-broker saw +ferry counted):\n%s", diff)
	}
	for _, a := range []string{"produce", "metadata", "api_versions"} {
		if got[a] < 1 {
			t.Errorf("no %s request counted: %v", a, got)
		}
	}
	if n := len(consume(t, addr, 50, []string{"logs"})); n != 50 {
		t.Errorf("consumed %d records, want 50", n)
	}
	problems, err := testutil.GatherAndLint(h.reg, "ferry_ship_kafka_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}
