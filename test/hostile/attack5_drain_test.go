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
)

// TestAttack5DrainGivesUpThenRestartDelivers: partition 0 of the logs
// topic answers UNKNOWN_TOPIC_OR_PARTITION (a refusal: the drain does
// not wait for it) to every Produce, while the other partitions take
// records. At SIGTERM the agent gives up on partition 0 well before
// shutdown_timeout, exits 0 and names it; its lines were never
// acknowledged, so the next agent (the partition healthy again) reads
// and delivers them: at least once holds across the early end of the
// drain, checked by an independent consumer.
func TestAttack5DrainGivesUpThenRestartDelivers(t *testing.T) {
	w := newWorld(t, worldOpt{})
	const pods = 8
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
	}
	refuse := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{0},
		Err: kerr.UnknownTopicOrPartition, Count: -1})
	for i, p := range paths {
		w.lines(p, i*1000, i*1000+40)
	}
	p := w.agent.Start()
	// The pods of the healthy partitions arrive whole; those of partition
	// 0 wait, none of their lines delivered. A pod with some of its lines
	// delivered is on a healthy partition and not finished yet (a loaded
	// machine): the wait goes on.
	var healthy, stuck []int
	waitFor(t, "the pods of the healthy partitions delivered", 30*time.Second, func() bool {
		healthy, stuck = healthy[:0], stuck[:0]
		for i := range paths {
			switch lost, _ := w.count(i*1000, i*1000+40); lost {
			case 0:
				healthy = append(healthy, i)
			case 40:
				stuck = append(stuck, i)
			default:
				return false
			}
		}
		return len(healthy) > 0 && len(stuck) > 0 && refuse.Hits() > 3
	})
	start := time.Now()
	stop(t, p) // exit 0 within 30 s
	took := time.Since(start)
	if took > 10*time.Second {
		t.Errorf("SIGTERM took %s: the drain waited for a refusing partition (shutdown_timeout 15s)", took.Round(time.Millisecond))
	}
	if out := p.Output(); !strings.Contains(out, "not waiting for a destination that refuses its records") {
		t.Errorf("no warning naming the refusing partition:\n%s", tailOf(out, 3000))
	}
	for _, i := range stuck {
		if lost, _ := w.count(i*1000, i*1000+40); lost != 40 {
			t.Fatalf("%d lines of pod %d arrived although partition 0 refused", 40-lost, i)
		}
	}
	refuse.Remove()
	p2 := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*1000, i*1000+40, 30*time.Second)
	}
	for i := range paths {
		w.check(i*1000, i*1000+40, true)
	}
	stop(t, p2)
	t.Logf("drain gave up in %s; healthy pods %v, pods on partition 0 %v", took.Round(time.Millisecond), healthy, stuck)
}
