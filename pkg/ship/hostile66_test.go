package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Hostile pass 66: what a broker, a config, a network peer and a clock
// can do to ship.

// steppedWall is a wall clock that an NTP step moves: it reads the wall
// time (no monotonic reading) plus an offset the test changes, while the
// monotonic clock goes on undisturbed, as the kernel's does.
type steppedWall struct{ off atomic.Int64 }

func (w *steppedWall) now() time.Time {
	return time.Now().Round(0).Add(time.Duration(w.off.Load()))
}

func (w *steppedWall) step(d time.Duration) { w.off.Add(int64(d)) }

// gateProducer refuses every request (a broker down) until opened.
type gateProducer struct {
	open  atomic.Bool
	calls atomic.Int64
}

func (g *gateProducer) partitions(context.Context, string) ([]int, error) { return oneSink, nil }

func (g *gateProducer) produce(context.Context, dest, []message) error {
	g.calls.Add(1)
	if !g.open.Load() {
		return errors.New("dial tcp: connection refused")
	}
	return nil
}

// runClocked runs a stdout Shipper on p whose wall clock is w.
func runClocked(t *testing.T, p producer, w *steppedWall) (*Shipper, chan []event.Log, *recAcker, *prometheus.Registry, chan error) {
	t.Helper()
	logs := make(chan []event.Log)
	ack := &recAcker{}
	reg := prometheus.NewPedanticRegistry()
	s, err := New(Config{Stdout: &StdoutConfig{Linger: time.Millisecond}}, nil,
		Options{Logs: logs, Acker: ack, Stdout: io.Discard, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s.prod = p
	s.wall = w.now
	errc := make(chan error, 1)
	go func() { errc <- s.Run(t.Context()) }()
	return s, logs, ack, reg, errc
}

// gathered returns the value of the series of name (a gauge, or a
// histogram's sum and count) found in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) (value float64, count uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			value += metricOf(m)
			if h := m.GetHistogram(); h != nil {
				count += h.GetSampleCount()
			}
		}
		return value, count
	}
	t.Fatalf("%s not gathered", name)
	return 0, 0
}

func metricOf(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return m.GetHistogram().GetSampleSum()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// TestHostile66ClockSteppedBackWhileStuck: the sink is down and holds
// three records; NTP steps the node's clock back an hour. Two minutes
// later the records have waited two minutes: /readyz (Ready) must say so
// after not_ready_after (1m), the age gauge must read about 120 s, and
// when the sink comes back read_to_ack must observe about two minutes,
// never a negative time.
func TestHostile66ClockSteppedBackWhileStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &steppedWall{}
		p := &gateProducer{}
		s, logs, ack, reg, errc := runClocked(t, p, w)
		logs <- makeLogs(1, 0, 3, nil)
		time.Sleep(100 * time.Millisecond) // the linger, an attempt, a publish
		synctest.Wait()
		if p.calls.Load() == 0 {
			t.Fatal("no attempt made")
		}
		w.step(-time.Hour)
		time.Sleep(2 * time.Minute) // synctest's clock; the sink still refuses
		if err := s.Ready(); err == nil {
			t.Errorf("Ready = nil: records unconfirmed for 2m (not_ready_after 1m) after the wall clock stepped back 1h")
		}
		if age, _ := gathered(t, reg, "ferry_ship_destination_unconfirmed_age_seconds"); age < 119 || age > 121 {
			t.Errorf("ferry_ship_destination_unconfirmed_age_seconds = %v after 2m held, want 120", age)
		}
		p.open.Store(true)
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := len(ack.cursors()); n != 3 {
			t.Fatalf("%d acks, want 3", n)
		}
		sum, n := gathered(t, reg, "ferry_read_to_ack_seconds")
		if n != 3 || sum < 3*119 || sum > 3*125 {
			t.Errorf("ferry_read_to_ack_seconds: %d observations summing %vs, want 3 of about 120s", n, sum)
		}
	})
}

// TestHostile66ClockSteppedForward: the node's clock jumps a day ahead
// while three records wait a second for a sink that is briefly away.
// They have waited a second, not a day: Ready must be nil, the age gauge
// about 0, read_to_ack about a second; LastSuccess must stay a time that
// time.Since measures correctly (the agent's ping loop and /readyz use
// time.Since(LastSuccess())).
func TestHostile66ClockSteppedForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &steppedWall{}
		p := &gateProducer{}
		s, logs, ack, reg, errc := runClocked(t, p, w)
		logs <- makeLogs(1, 0, 3, nil)
		time.Sleep(100 * time.Millisecond) // the linger, an attempt, a publish
		synctest.Wait()
		w.step(24 * time.Hour)
		if err := s.Ready(); err != nil {
			t.Errorf("Ready right after a forward step: %v", err)
		}
		if age, _ := gathered(t, reg, "ferry_ship_destination_unconfirmed_age_seconds"); age < 0 || age > 1 {
			t.Errorf("ferry_ship_destination_unconfirmed_age_seconds = %v, want about 0", age)
		}
		p.open.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(ack.cursors()); n != 3 {
			t.Fatalf("%d acks, want 3", n)
		}
		if d := time.Since(s.LastSuccess()); d < 0 || d > time.Second {
			t.Errorf("time.Since(LastSuccess()) = %v just after a delivery", d)
		}
		sum, n := gathered(t, reg, "ferry_read_to_ack_seconds")
		if n != 3 || sum < 0 || sum > 3*2 {
			t.Errorf("ferry_read_to_ack_seconds: %d observations summing %vs, want 3 of about 1s", n, sum)
		}
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// TestHostile66ReadBeforeStepBack: lines read just before the clock
// stepped back an hour reach ship after the step: their read time is an
// hour "ahead" of ship's clock. read_to_ack must not observe negative
// times (a histogram's sum then goes down; rate() of it is garbage).
func TestHostile66ReadBeforeStepBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &steppedWall{}
		p := &gateProducer{}
		p.open.Store(true)
		_, logs, ack, reg, errc := runClocked(t, p, w)
		ls := makeLogs(1, 0, 3, nil)
		w.step(-time.Hour)
		logs <- ls
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := len(ack.cursors()); n != 3 {
			t.Fatalf("%d acks, want 3", n)
		}
		if sum, n := gathered(t, reg, "ferry_read_to_ack_seconds"); n != 3 || sum < 0 {
			t.Errorf("ferry_read_to_ack_seconds: %d observations summing %vs: negative", n, sum)
		}
	})
}

// countingProxy is a TCP peer between ship and a broker's bootstrap
// address: it relays bytes and counts the connections ship holds open.
type countingProxy struct {
	ln             net.Listener
	accepted, open atomic.Int64
}

// serveLocal listens on 127.0.0.1 until the test ends and serves each
// connection accepted with serve, in a goroutine of its own.
func serveLocal(t *testing.T, serve func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	p := &countingProxy{}
	p.ln = serveLocal(t, func(c net.Conn) {
		p.accepted.Add(1)
		p.open.Add(1)
		defer p.open.Add(-1)
		defer c.Close()
		b, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer b.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(b, c); done <- struct{}{} }()
		go func() { io.Copy(c, b); done <- struct{}{} }()
		<-done // either side closed: close both
	})
	return p
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

// hangingBroker is a kfake cluster whose bootstrap address is behind a
// counting proxy and which, while hang is set, never answers requests of
// API key.
func hangingBroker(t *testing.T, key kmsg.Key, opts ...kfake.Opt) (*kfake.Cluster, string, *countingProxy, *atomic.Bool) {
	t.Helper()
	c, addr := startCluster(t, opts...)
	hang := &atomic.Bool{}
	hang.Store(true)
	c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, hang.Load() // handled without an answer: never answered
	})
	return c, addr, newCountingProxy(t, addr), hang
}

// TestHostile66SASLHandshakeNeverAnswered: a broker (or a proxy in front
// of it) answers ApiVersions but never the SASL handshake of a new
// connection. The README says dial_timeout bounds connecting "(TCP, TLS
// and SASL)": each such connection must be given up (closed) within it,
// and once the broker answers again and the records are delivered, ship
// must not still hold every connection it ever opened meanwhile (one
// per metadata refresh, forever: file descriptors and goroutines
// without bound).
func TestHostile66SASLHandshakeNeverAnswered(t *testing.T) {
	_, _, px, hang := hangingBroker(t, kmsg.SASLHandshake, kfake.EnableSASL(), kfake.Superuser("PLAIN", "ferry", "s3cret"))
	testHangingBootstrap(t, px, hang, func(cfg *Config) {
		cfg.Kafka.SASL = SASLConfig{Mechanism: "PLAIN", Username: "ferry", Password: "s3cret"}
	})
}

// TestHostile66MetadataNeverAnswered: a broker answers ApiVersions but
// never a metadata request. Every metadata refresh opens a bootstrap
// connection whose metadata request kafka-go waits for with the
// Transport's MetadataTTL as deadline (ship sets it to a century): the
// connections must not pile up.
func TestHostile66MetadataNeverAnswered(t *testing.T) {
	_, _, px, hang := hangingBroker(t, kmsg.Metadata)
	testHangingBootstrap(t, px, hang, nil)
}

func testHangingBootstrap(t *testing.T, px *countingProxy, hang *atomic.Bool, adjust func(*Config)) {
	cfg := testKafkaConfig(px.addr())
	cfg.Kafka.DialTimeout, cfg.Kafka.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	if adjust != nil {
		adjust(&cfg)
	}
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 5, metaFor(1))
	h.logs <- ls
	// Several refreshes, each a new bootstrap connection that hangs.
	waitFor(t, 30*time.Second, "6 bootstrap connections", func() bool { return px.accepted.Load() >= 6 })
	hang.Store(false)
	waitFor(t, 30*time.Second, "the 5 records acknowledged after the broker answered again", func() bool { return len(h.ack.cursors()) == 5 })
	// A hung connection is given up within dial_timeout (SASL) or the
	// attempt's bound (metadata, at most 64 write_timeouts): 32s.
	waitFor(t, 40*time.Second, "the hung bootstrap connections closed (2 or fewer open)", func() bool { return px.open.Load() <= 2 })
	h.finish(t)
}

// TestHostile66LeaderNotAvailable: during a leader election the metadata
// lists partition 1 of "logs" with leader -1 (LEADER_NOT_AVAILABLE).
// Partitions 0 and 2 deliver meanwhile; partition 1's records wait
// (unacknowledged) and are delivered once the election is over: none
// lost, none acknowledged before the broker confirmed it.
func TestHostile66LeaderNotAvailable(t *testing.T) {
	c, addr := startCluster(t)
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	var election atomic.Bool
	election.Store(true)
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !election.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.MetadataRequest)
		res := r.ResponseKind().(*kmsg.MetadataResponse)
		res.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: host, Port: int32(port)}}
		res.ControllerID = 0
		names := []string{"logs", "metrics"}
		if r.Topics != nil {
			names = names[:0]
			for _, tp := range r.Topics {
				names = append(names, *tp.Topic)
			}
		}
		for _, name := range names {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = kmsg.StringPtr(name)
			if name != "logs" && name != "metrics" {
				rt.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			} else {
				for p := range int32(3) {
					rp := kmsg.NewMetadataResponseTopicPartition()
					rp.Partition, rp.Leader, rp.Replicas, rp.ISR = p, 0, []int32{0}, []int32{0}
					if name == "logs" && p == 1 {
						rp.ErrorCode, rp.Leader = 5, -1 // LEADER_NOT_AVAILABLE
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
			}
			res.Topics = append(res.Topics, rt)
		}
		return res, nil, true
	})
	h := runShipper(t, testKafkaConfig(addr), nil)
	var sent [][]event.Log
	inP1 := map[uint64]bool{}
	wantOthers := 0
	for i := range 12 {
		ls := makeLogs(uint64(i), 0, 5, metaFor(i))
		p := murmur2.Balance(kafka.Message{Key: []byte(metaFor(i).PodUID)}, 0, 1, 2)
		inP1[uint64(i)] = p == 1
		if p != 1 {
			wantOthers += len(ls)
		}
		sent = append(sent, ls)
		h.logs <- ls
	}
	if wantOthers == 60 || wantOthers == 0 {
		t.Fatalf("keys do not spread over partition 1 and the others (%d of 60 elsewhere)", wantOthers)
	}
	waitFor(t, 30*time.Second, "partitions 0 and 2 acknowledged and 3 failures while partition 1 has no leader", func() bool {
		return len(h.ack.cursors()) >= wantOthers && testutil.ToFloat64(h.s.m.sendFailures) >= 3
	})
	for _, cur := range h.ack.cursors() {
		if inP1[cur.Source] {
			t.Fatalf("record %v of partition 1 acknowledged while it has no leader", cur)
		}
	}
	election.Store(false)
	waitFor(t, 60*time.Second, "the 60 records acknowledged after the election ended", func() bool { return len(h.ack.cursors()) == 60 })
	h.finish(t)
	checkBodies(t, sent, consumeDistinct(t, addr, 60, []string{"logs"}))
	// The network was fine: a partition without leader is the brokers'.
	if v := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("logs", "network")); v > 0 {
		t.Errorf("failures by reason: %s: a leader election reported as %v network failures", failuresByReason(h), v)
	}
}

func failuresByReason(h *harness) string {
	var b strings.Builder
	for _, r := range failureReasons {
		if v := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("logs", r)); v > 0 {
			fmt.Fprintf(&b, "%s=%v ", r, v)
		}
	}
	return b.String()
}

// templateProducer knows only the topics "logs" and "metrics" (three
// partitions each) and takes every request.
type templateProducer struct{}

func (templateProducer) partitions(_ context.Context, topic string) ([]int, error) {
	if topic == "logs" || topic == "metrics" {
		return []int{0, 1, 2}, nil
	}
	return nil, kafka.UnknownTopicOrPartition
}

func (templateProducer) produce(context.Context, dest, []message) error { return nil }

// TestHostile66MissingTopicsBounded: a topic template that names a topic
// per pod, none of which exists (every record goes to the fallback
// topic), on a node whose pods come and go (Jobs, CronJobs): each topic
// is remembered as missing for a minute, but one no pod renders again is
// never looked up again. The memory of missing topics must stay bounded
// however many pods the node ever ran.
func TestHostile66MissingTopicsBounded(t *testing.T) {
	cfg := testKafkaConfig("127.0.0.1:1")
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs.{{ .Pod }}", "logs"
	h := runShipperWith(t, cfg, nil, func(s *Shipper) { s.prod = templateProducer{} })
	const pods = (2*maxMissingTopics/100 + 1) * 100 // twice the bound and more
	for i := 0; i < pods; i += 100 {
		ls := make([]event.Log, 0, 100)
		for j := range 100 {
			ls = append(ls, makeLogs(uint64(i+j), 0, 1, metaFor(i+j))...)
		}
		h.logs <- ls
	}
	h.finish(t)
	if n := len(h.ack.cursors()); n != pods {
		t.Fatalf("%d of %d records acknowledged", n, pods)
	}
	if got := testutil.ToFloat64(h.s.m.fallback); got != pods {
		t.Errorf("fallback_topic_records_total = %v, want %d", got, pods)
	}
	h.s.route.mu.Lock()
	n := len(h.s.route.missing)
	h.s.route.mu.Unlock()
	if n > maxMissingTopics {
		t.Errorf("%d topics remembered as missing after %d pods, each seen once: grows with every pod the node ever ran (bound %d)", n, pods, maxMissingTopics)
	}
}
