package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestHostileUnkeyedStuckPartitionRestart: with sink.kafka.key: none, one
// partition refuses (retryably) while the agent reads batch after batch of
// several files. At SIGTERM the refused lines cannot be confirmed within
// shutdown_timeout; the README says what was not confirmed is read again,
// as after a restart. The tailer commits a file's acknowledged prefix, so
// a line confirmed after a refused line of its file would be read and
// delivered again: with key none, each file's lines therefore go to one
// partition. Lines the consumer had already received before the stop
// were confirmed: none of them may arrive a second time, and no file has
// a line received after one of its own that is missing.
func TestHostileUnkeyedStuckPartitionRestart(t *testing.T) {
	w := newWorld(t, worldOpt{
		sink: []string{"key: none", "retry: {backoff_min: 100ms, backoff_max: 500ms}"},
		edit: func(s string) string { return strings.Replace(s, "shutdown_timeout: 15s", "shutdown_timeout: 2s", 1) },
	})
	const files = 6
	paths := make([]string, files)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*1000, i*1000+10)
	}
	partOf := consumeFresh(t, w.broker.Addr())
	p := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*1000, i*1000+10, 30*time.Second)
	}
	// Each file's first lines went to one partition: refuse the partition
	// of the first file.
	filePart := func(i int) int32 {
		_, ps := partOf()
		var p int32 = -1
		for q := i * 1000; q < i*1000+10; q++ {
			got, ok := ps[q]
			if !ok || (p >= 0 && got != p) {
				return -1
			}
			p = got
		}
		return p
	}
	waitFor(t, "each file's first lines consumed", 20*time.Second, func() bool {
		for i := range paths {
			if filePart(i) < 0 {
				return false
			}
		}
		return true
	})
	refused := filePart(0)
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e2eharness.Topic,
		Partitions: []int32{refused}, Err: kerr.NotEnoughReplicas, Count: -1})
	// Batches of lines, each read and placed on its own.
	const rounds, per = 4, 20
	next := 10
	for range rounds {
		for i, p := range paths {
			w.lines(p, i*1000+next, i*1000+next+per)
		}
		next += per
		waitFor(t, "the batch read", 10*time.Second, func() bool {
			m, err := w.agent.Scrape()
			return err == nil && m.Sum("ferry_tail_lines_read_total") >= float64(files*next)
		})
	}
	for i := range paths {
		if filePart(i) != refused {
			w.waitSeqs(i*1000+10, i*1000+next, 30*time.Second)
		}
	}
	waitFor(t, "the refusing partition asked", 20*time.Second, func() bool { return h.Hits() > 0 })
	var before []int
	for i := range paths {
		if gap := w.deliveredAfterGap(i*1000, i*1000+next); len(gap) > 0 {
			t.Errorf("file %d: %d lines received after a missing line of the same file (first %d)", i, len(gap), gap[0])
		}
		for q := i * 1000; q < i*1000+next; q++ {
			if w.times(q) > 0 {
				before = append(before, q)
			}
		}
	}
	stop(t, p)
	h.Remove()
	p = w.agent.Start()
	for i, p := range paths {
		w.waitSeqs(i*1000, i*1000+next, 30*time.Second)
		w.lines(p, i*1000+next, i*1000+next+1)
		w.waitSeqs(i*1000+next, i*1000+next+1, 30*time.Second)
	}
	w.settled(files, 20*time.Second)
	again := 0
	for _, s := range before {
		if w.times(s) > 1 {
			again++
		}
	}
	dup := 0
	for i := range paths {
		_, d := w.count(i*1000, i*1000+next+1)
		dup += d
	}
	t.Logf("partition %d refused; %d lines received before the stop; %d of them arrived again; %d duplicates in all", refused, len(before), again, dup)
	if again > 0 {
		t.Errorf("%d lines confirmed before a graceful stop were read and delivered again", again)
	}
	stop(t, p)
}

// deliveredAfterGap returns the seqs in [from, to) received while an
// earlier seq of that range is still missing.
func (w *world) deliveredAfterGap(from, to int) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	gap := false
	for i := from; i < to; i++ {
		if w.seen[i] == 0 {
			gap = true
		} else if gap {
			out = append(out, i)
		}
	}
	return out
}

func (w *world) times(seq int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[seq]
}
