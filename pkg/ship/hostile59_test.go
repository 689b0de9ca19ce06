package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ferry-dev/ferry/pkg/event"
)

// chaosProducer is a sink that checks every record it is sent against the
// line it was made of, then answers at random: confirmed, a broker or
// network error, a timeout, a record refused, or a partition gone (the
// topic's partition count moves between 1 and 6 while records are held).
type chaosProducer struct {
	mu    sync.Mutex
	rng   *rand.Rand
	count int
	want  map[string]string // "file offset" -> body
	bad   []string
	calls int
}

func (p *chaosProducer) partitions(context.Context, string) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.IntN(20) == 0 {
		return nil, errors.New("metadata: connection reset")
	}
	parts := make([]int, p.count)
	for i := range parts {
		parts[i] = i
	}
	return parts, nil
}

func (p *chaosProducer) produce(ctx context.Context, d dest, msgs []message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	for i := range msgs {
		var r logRecord
		if err := json.Unmarshal(msgs[i].Value, &r); err != nil {
			p.bad = append(p.bad, fmt.Sprintf("call %d: record %d: %v", p.calls, i, err))
			continue
		}
		if w, ok := p.want[fmt.Sprint(r.File, " ", r.Offset)]; !ok || w != r.Message {
			p.bad = append(p.bad, fmt.Sprintf("call %d: record %d of %s at %d: %d bytes, not its line's", p.calls, i, r.File, r.Offset, len(r.Message)))
		}
	}
	if d.partition >= p.count {
		return kafka.UnknownTopicOrPartition
	}
	switch k := p.rng.IntN(100); {
	case k < 8:
		p.count = 1 + p.rng.IntN(6)
		return nil
	case k < 16:
		return errors.New("write: broken pipe")
	case k < 22:
		return kafka.NotLeaderForPartition
	case k < 25:
		return kafka.MessageSizeTooLarge // bisected, then one dropped
	case k < 27:
		return context.DeadlineExceeded
	}
	return nil
}

// TestHostile59ArenaThroughChaos: records of every size (some of memory
// of their own) through a sink that fails, refuses records, times out and
// loses and regains partitions (records moved to other lanes, lanes
// retried and moved to memory of their own), with the arena trimmed every
// millisecond: every request carries the bytes of its lines, every line
// is acknowledged, and at the end nothing is held and the arena has only
// its current chunk out.
func TestHostile59ArenaThroughChaos(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Kafka.Batch.Linger = time.Millisecond
	cfg.Kafka.Batch.MaxBytes = 256 << 10
	cfg.Kafka.WriteTimeout = time.Second
	cfg.Kafka.Retry = RetryConfig{BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond}
	logs := make(chan []event.Log)
	ack := &recAcker{}
	s, err := New(cfg, slog.New(slog.DiscardHandler), Options{Logs: logs, Acker: ack, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prod := &chaosProducer{rng: rand.New(rand.NewPCG(59, 1)), count: 3, want: map[string]string{}}
	s.prod = prod
	l := newLoop(s)
	l.arena.every = time.Millisecond
	errc := make(chan error, 1)
	go func() { errc <- l.run(t.Context()) }()

	rng := rand.New(rand.NewPCG(59, 2))
	sizes := []int{10, 300, 5000, 30 << 10, 63 << 10, 65 << 10, 100 << 10}
	var batches [][]event.Log
	n := 0
	for round := range 20 {
		for src := range 12 {
			ls := makeLogs(uint64(src), round*6, 6, metaFor(src))
			for i := range ls {
				ls[i].Body = hostile52Body(rng, sizes[rng.IntN(len(sizes))])
				prod.mu.Lock()
				prod.want[fmt.Sprint(ls[i].Path, " ", ls[i].Cursor.Offset)] = string(ls[i].Body)
				prod.mu.Unlock()
			}
			batches = append(batches, ls)
			n += len(ls)
		}
	}
	for _, ls := range batches {
		// A copy: ship recycles what it is given.
		feed(t, logs, append(event.NewBatch(), ls...))
	}
	close(logs)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return after its input was closed")
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	for i, b := range prod.bad {
		if i == 10 {
			t.Errorf("... %d more", len(prod.bad)-i)
			break
		}
		t.Error(b)
	}
	seen := map[event.Cursor]bool{}
	for _, c := range ack.cursors() {
		seen[c] = true
	}
	for _, ls := range batches {
		for _, x := range ls {
			if !seen[x.Cursor] {
				t.Fatalf("line %v never acknowledged", x.Cursor)
			}
		}
	}
	if l.logBytes != 0 || l.logRecs != 0 {
		t.Errorf("after the drain %d records (%d bytes) still counted as held", l.logRecs, l.logBytes)
	}
	a := &l.arena
	if a.out != 1 || a.high < a.out || len(a.free) > a.max {
		t.Errorf("arena after the drain: %d out (want the current one), peak %d, %d free (max %d)", a.out, a.high, len(a.free), a.max)
	}
	t.Logf("%d lines, %d requests", n, prod.calls)
}

// TestHostile59TrimWakeAlwaysAhead: whatever the times the loop turns at
// (the same instant again, a nanosecond later, exactly a window later, an
// hour later after a stall) and whatever the arena holds, maybeTrim asks
// for a wake-up only while free chunks are kept, never at or before the
// turn's time (the loop would spin on a timer of zero) and never more
// than a window after it (an idle loop would keep the chunks); and a
// turn a window or more after the last trim trims.
func TestHostile59TrimWakeAlwaysAhead(t *testing.T) {
	const every = 10 * time.Second
	rng := rand.New(rand.NewPCG(59, 3))
	a := arena{max: 8, every: every}
	var held []*chunk
	now := time.Now()
	lastTrim := time.Time{}
	steps := []time.Duration{0, 1, time.Millisecond, every - 1, every, every + 1, 3 * every, time.Hour}
	for i := range 20000 {
		switch k := rng.IntN(4); {
		case k == 0 || len(held) == 0:
			_, c := a.alloc(make([]byte, chunkSize/4))
			held = append(held, c)
		case k == 1:
			j := rng.IntN(len(held))
			a.release(held[j])
			held = append(held[:j], held[j+1:]...)
		}
		now = now.Add(steps[rng.IntN(len(steps))])
		trimsBefore := a.trimmedAt
		next := a.maybeTrim(now)
		if !lastTrim.IsZero() && now.Sub(lastTrim) >= every && a.trimmedAt.Equal(trimsBefore) {
			t.Fatalf("step %d: %v since the last trim, and no trim", i, now.Sub(lastTrim))
		}
		if !a.trimmedAt.Equal(trimsBefore) || lastTrim.IsZero() {
			lastTrim = a.trimmedAt
		}
		switch {
		case len(a.free) == 0 && !next.IsZero():
			t.Fatalf("step %d: a wake-up asked for at +%v with no free chunk", i, next.Sub(now))
		case len(a.free) > 0 && !next.After(now):
			t.Fatalf("step %d: a wake-up asked for %v before the turn (%d free): the loop would spin", i, now.Sub(next), len(a.free))
		case len(a.free) > 0 && next.Sub(now) > every:
			t.Fatalf("step %d: a wake-up asked for %v ahead, more than a window", i, next.Sub(now))
		}
		if a.out < 0 || a.high < a.out {
			t.Fatalf("step %d: out %d, high %d", i, a.out, a.high)
		}
	}
}
