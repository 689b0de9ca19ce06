package ship

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// gateWriter blocks every Write until open is closed.
type gateWriter struct {
	open chan struct{}
	mu   sync.Mutex
	n    int
}

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n += len(p)
	return len(p), nil
}

// TestHostile58IdleLoopTrimsTheArena: a burst that had many chunks out at
// once (the sink stalled while lines came), then silence: no line, no
// metric snapshot. The free chunks the burst left must still be let go
// after two trim periods; a loop that trims only when something else
// wakes it keeps them for as long as the node stays quiet.
func TestHostile58IdleLoopTrimsTheArena(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &gateWriter{open: make(chan struct{})}
		logs := make(chan []event.Log)
		acked := make(chan int, 1000)
		ack := &recAcker{hook: func(c []event.Cursor) { acked <- len(c) }}
		s, err := New(Config{Stdout: &StdoutConfig{Linger: time.Millisecond}}, nil,
			Options{Logs: logs, Acker: ack, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := newLoop(s)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- l.run(ctx) }()

		// The sink stalls: lines of 16 KiB pile up to the budget.
		body := bytes.Repeat([]byte("b"), 16<<10)
		sent := 0
		for i := 0; ; i++ {
			ls := makeLogs(1, i*8, 8, nil)
			for j := range ls {
				ls[j].Body = body
			}
			select {
			case logs <- ls:
				sent += len(ls)
				continue
			case <-time.After(time.Second):
			}
			break
		}
		close(out.open)
		for n := 0; n < sent; {
			n += <-acked
		}
		synctest.Wait() // the loop is blocked: its arena may be read
		burst := len(l.arena.free)
		if burst < 3 {
			t.Fatalf("after the burst %d free chunks (%d out): the burst did not need several", burst, l.arena.out)
		}
		logs <- nil // hands the arena back to the loop (an empty slice: nothing to ship)

		// Silence for three trim periods.
		time.Sleep(3 * arenaTrimEvery)
		synctest.Wait()
		if n := len(l.arena.free); n != 0 {
			t.Errorf("%d free chunks of the burst's %d still kept after %v of silence", n, burst, 3*arenaTrimEvery)
		}
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// TestHostile58KafkaBytesSurviveTrimAndRetries: records of every size
// (some over a quarter chunk) to several partitions, with the broker
// refusing batches now and then, and the arena trimmed at every turn of
// the loop: every record read back holds exactly the bytes of its line.
// A chunk reused while a record (or a failed attempt's message) still
// referred to it would show as a body changed or a record too many.
func TestHostile58KafkaBytesSurviveTrimAndRetries(t *testing.T) {
	c, addr := startCluster(t, kfake.SeedTopics(6, "logs", "metrics"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{1, 4}, Err: kerr.NotLeaderForPartition, Count: 6},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{2}, Err: kerr.RequestTimedOut, Count: 4},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: 3})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes = 256 << 10
	ack := &recAcker{}
	logs, metrics := make(chan []event.Log), make(chan event.Snapshot)
	s, err := New(cfg, slog.New(slog.DiscardHandler), Options{Logs: logs, Metrics: metrics, Acker: ack,
		Registerer: prometheus.NewPedanticRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newLoop(s)
	l.arena.every = -1 // trim at every turn
	errc := make(chan error, 1)
	go func() { errc <- l.run(t.Context()) }()

	rng := rand.New(rand.NewPCG(58, 1))
	sizes := []int{10, 200, 3000, 20 << 10, 60 << 10, 70 << 10, 120 << 10}
	var sent [][]event.Log
	for round := range 40 {
		for src := range 6 {
			ls := makeLogs(uint64(src), round*5, 5, metaFor(src))
			for i := range ls {
				ls[i].Body = hostile52Body(rng, sizes[rng.IntN(len(sizes))])
			}
			sent = append(sent, ls)
			logs <- ls
		}
	}
	close(logs)
	close(metrics)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	n := 0
	for _, ls := range sent {
		n += len(ls)
	}
	if got := len(ack.cursors()); got != n {
		t.Fatalf("%d of %d records acknowledged", got, n)
	}
	recs := consumeDistinct(t, addr, n, []string{"logs"})
	checkBodies(t, sent, recs)
	if got := testutil.ToFloat64(s.m.retries); got < 3 {
		t.Errorf("retries = %v: the faults were not hit", got)
	}
	if l.arena.out != 1 {
		t.Errorf("%d chunks out after every record was resolved; want the current one", l.arena.out)
	}
}

// TestHostile58ArenaAccounting: random allocations, releases, owns and
// trims, with records of every size (some over a quarter chunk): out is
// always the number of chunks the records and the current chunk hold, no
// free chunk is one a record still refers to, and every record keeps its
// bytes until it is released.
func TestHostile58ArenaAccounting(t *testing.T) {
	rng := rand.New(rand.NewPCG(58, 2))
	a := arena{max: 6}
	type held struct {
		r    rec
		want []byte
	}
	var live []held
	sizes := []int{1, 100, 5000, 40 << 10, chunkSize/4 - 1, chunkSize / 4, chunkSize/4 + 1, 100 << 10}
	// check compares the records' bytes every 100 steps.
	check := func(step int) {
		t.Helper()
		inUse := map[*chunk]bool{}
		if a.cur != nil {
			inUse[a.cur] = true
		}
		for i := range live {
			if step%100 == 0 && !bytes.Equal(live[i].r.data, live[i].want) {
				t.Fatalf("step %d: record %d changed", step, i)
			}
			if c := live[i].r.chunk; c != nil {
				inUse[c] = true
			}
		}
		if a.out != len(inUse) {
			t.Fatalf("step %d: out %d, chunks in use %d", step, a.out, len(inUse))
		}
		seen := map[*chunk]bool{}
		for _, c := range a.free {
			if inUse[c] || seen[c] || c.live != 0 {
				t.Fatalf("step %d: free chunk in use %v, twice %v, live %d", step, inUse[c], seen[c], c.live)
			}
			seen[c] = true
		}
		if a.high < a.out || len(a.free) > a.max {
			t.Fatalf("step %d: high %d < out %d, or %d free over max %d", step, a.high, a.out, len(a.free), a.max)
		}
	}
	for step := range 5000 {
		switch k := rng.IntN(10); {
		case k < 4 || len(live) == 0:
			p := make([]byte, sizes[rng.IntN(len(sizes))])
			for i := range p {
				p[i] = byte(i*7 + step)
			}
			var r rec
			r.data, r.chunk = a.alloc(p)
			live = append(live, held{r, p})
		case k < 8:
			i := rng.IntN(len(live))
			a.release(live[i].r.chunk)
			live = slices.Delete(live, i, i+1)
		case k < 9:
			a.own(&live[rng.IntN(len(live))].r)
		default:
			a.trim()
		}
		check(step)
	}
}
