package ship

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

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

func (g *gateProducer) produce(context.Context, dest, []kafka.Message) error {
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
