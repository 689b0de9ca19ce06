package hostile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestHostileUnkeyedPartitionsAdded: with key: none, 8 files write while
// the logs topic grows from 3 to 12 partitions (kafka.metadata_max_age 1s,
// so the agent sees it soon). Then the agent is stopped (SIGTERM) and
// started again and the files write more. Nothing is lost, nothing arrives
// twice (SIGTERM: no duplicates), the counters balance.
func TestHostileUnkeyedPartitionsAdded(t *testing.T) {
	w := newWorld(t, worldOpt{sink: []string{"key: none", "metadata_max_age: 1s"}})
	const pods = 8
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
	}
	p := w.agent.Start()
	t.Cleanup(func() {
		if t.Failed() {
			m, _ := w.agent.Scrape()
			for k, v := range m {
				if strings.HasPrefix(k, "ferry_tail_") && v != 0 && !strings.Contains(k, "bucket") {
					t.Logf("%s %v", k, v)
				}
			}
			t.Logf("agent:\n%s", tailOf(p.Output(), 3000))
		}
	})
	next := make([]int, pods)
	write := func(n int) {
		for i, pa := range paths {
			w.lines(pa, i*100000+next[i], i*100000+next[i]+n)
			next[i] += n
		}
	}
	for r := 0; r < 20; r++ {
		write(10)
		time.Sleep(50 * time.Millisecond) // pacing the writer
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.broker.Addr()))
	must(t, err)
	defer cl.Close()
	req := kmsg.NewPtrCreatePartitionsRequest()
	tp := kmsg.NewCreatePartitionsRequestTopic()
	tp.Topic, tp.Count = e2eharness.Topic, 12
	req.Topics = append(req.Topics, tp)
	req.TimeoutMillis = 5000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := req.RequestWith(ctx, cl)
	cancel()
	must(t, err)
	if c := resp.Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create partitions: error %d", c)
	}
	for r := 0; r < 40; r++ {
		write(10)
		time.Sleep(50 * time.Millisecond) // pacing the writer
	}
	total := 0
	for i := range paths {
		total += next[i]
	}
	w.settled(float64(total), 60*time.Second)
	stop(t, p)
	write(20)
	p = w.agent.Start()
	write(20)
	total += 40 * pods
	w.settled(float64(40*pods), 60*time.Second)
	stop(t, p)
	// A consumer of its own: the world's consumer took the partitions
	// there were when it started.
	read := consumeFresh(t, w.broker.Addr())
	var seen map[int]int
	var parts map[int]int32
	waitFor(t, "every line read back", 60*time.Second, func() bool {
		seen, parts = read()
		return len(seen) >= total
	})
	n, onNew := 0, 0
	for s, c := range seen {
		n += c
		if parts[s] >= 3 {
			onNew++
		}
	}
	lost, dup := 0, 0
	var first []int
	for i := range paths {
		for s := i * 100000; s < i*100000+next[i]; s++ {
			switch seen[s] {
			case 0:
				lost++
				if len(first) < 10 {
					first = append(first, s)
				}
			case 1:
			default:
				dup += seen[s] - 1
			}
		}
	}
	t.Logf("%d lines written, %d records read back (%d on the added partitions), %d lost (first %v), %d duplicates",
		total, n, onNew, lost, first, dup)
	if onNew == 0 {
		t.Error("no record on the added partitions: the attack did nothing")
	}
	if lost > 0 || dup > 0 {
		t.Errorf("%d lost (first %v), %d duplicates", lost, first, dup)
	}
}
