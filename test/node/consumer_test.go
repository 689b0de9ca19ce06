package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// record is a log record as ferry ships it (README "Records").
type record struct {
	Time       string `json:"time"`
	Stream     string `json:"stream"`
	Message    string `json:"message"`
	File       string `json:"file"`
	Offset     int64  `json:"offset"`
	Truncated  bool   `json:"truncated"`
	Kubernetes struct {
		Namespace   string            `json:"namespace"`
		Pod         string            `json:"pod"`
		PodUID      string            `json:"pod_uid"`
		Container   string            `json:"container"`
		ContainerID string            `json:"container_id"`
		Image       string            `json:"image"`
		Node        string            `json:"node"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Owner       struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"owner"`
	} `json:"kubernetes"`
}

// metricRecord is a host metric sample (README "Records").
type metricRecord struct {
	Name string `json:"name"`
	Node string `json:"node"`
}

var (
	// dropRE is the summary record of a container's lines dropped by its
	// rate limit (policy drop): lines, bytes, the limit.
	dropRE = regexp.MustCompile(`^ferry: (\d+) lines \((\d+) bytes\) of this container dropped by its rate limit \(([^)]*)\)`)
	lineRE = regexp.MustCompile(`^ferry-line tag=(\S+) seq=(\d+) len=(\d+) `)
	endRE  = regexp.MustCompile(`^ferry-(end|term) tag=(\S+) lines=(\d+)$`)
)

// stream is what the consumer saw of one logger (one container of one pod).
type stream struct {
	seqs []int    // sequence numbers in the order consumed
	bad  []string // lines of the wrong length, truncated, or not on stdout
	// A line kubelet's rotation cut between two of its CRI fragments
	// arrives in two records, both flagged truncated (the tailer does not
	// merge fragments across files, and counts the cut): its first part
	// (cuts: the bytes missing from it) and the rest, which has no header
	// (conts: its length). Each cut must be made whole by a continuation.
	cuts    []cut
	conts   []int
	end     int    // lines announced by ferry-end; -1 before it
	term    int    // lines announced by ferry-term; -1 before it
	last    record // the last record (its metadata is checked)
	records int
	// The summary records of lines dropped by a rate limit: the lines
	// they add up to, how many, the limit the last one names, and that
	// record (its metadata is checked).
	dropped, summaries int
	limit              string
	summary            record
}

// cut is the first part of a line cut by a rotation.
type cut struct{ seq, got, want int }

// consumer reads the logs and metrics topics from their start with franz-go,
// independent of ferry's Kafka client.
type consumer struct {
	mu        sync.Mutex
	streams   map[string]*stream // by tag
	byNS      map[string]int     // log records per namespace
	logs      int                // every log record
	metrics   int                // metric records of the node
	metricNms map[string]bool
	undecoded []string
	node      string
	cancel    context.CancelFunc
	done      chan struct{}
}

func startConsumer(t *testing.T, broker, node string) *consumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("logs", "metrics"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxPartitionBytes(8<<20), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{streams: map[string]*stream{}, byNS: map[string]int{}, metricNms: map[string]bool{},
		node: node, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fetches := cl.PollFetches(ctx)
			c.mu.Lock()
			fetches.EachRecord(c.observe)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func (c *consumer) get(tag string) *stream {
	s := c.streams[tag]
	if s == nil {
		s = &stream{end: -1, term: -1}
		c.streams[tag] = s
	}
	return s
}

// observe takes one record; c.mu is held.
func (c *consumer) observe(r *kgo.Record) {
	if r.Topic == "metrics" {
		var m metricRecord
		if err := json.Unmarshal(r.Value, &m); err != nil {
			c.undecoded = append(c.undecoded, fmt.Sprintf("metrics: %v: %.200s", err, r.Value))
			return
		}
		if m.Node == c.node {
			c.metrics++
			c.metricNms[m.Name] = true
		}
		return
	}
	var rec record
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		c.undecoded = append(c.undecoded, fmt.Sprintf("logs: %v: %.200s", err, r.Value))
		return
	}
	c.logs++
	c.byNS[rec.Kubernetes.Namespace]++
	if m := lineRE.FindStringSubmatch(rec.Message); m != nil {
		s := c.get(m[1])
		seq, _ := strconv.Atoi(m[2])
		size, _ := strconv.Atoi(m[3])
		s.seqs = append(s.seqs, seq)
		s.records++
		s.last = rec
		if rec.Truncated && len(rec.Message) < size && rec.Stream == "stdout" {
			s.cuts = append(s.cuts, cut{seq: seq, got: len(rec.Message), want: size})
		} else if len(rec.Message) != size || rec.Truncated || rec.Stream != "stdout" {
			s.bad = append(s.bad, fmt.Sprintf("seq %d: %d bytes (want %d), truncated %v, stream %q",
				seq, len(rec.Message), size, rec.Truncated, rec.Stream))
		}
		return
	}
	if rec.Truncated && rec.Stream == "stdout" && strings.Trim(rec.Message, "x") == "" {
		// The rest of a line cut by a rotation: its filler only.
		s := c.get(rec.Kubernetes.Pod + "." + rec.Kubernetes.Container)
		s.conts = append(s.conts, len(rec.Message))
		return
	}
	if m := dropRE.FindStringSubmatch(rec.Message); m != nil {
		// Its tag is the logger's: $(POD_NAME).<container>.
		s := c.get(rec.Kubernetes.Pod + "." + rec.Kubernetes.Container)
		n, _ := strconv.Atoi(m[1])
		s.dropped += n
		s.summaries++
		s.limit = m[3]
		s.summary = rec
		return
	}
	if m := endRE.FindStringSubmatch(rec.Message); m != nil {
		s := c.get(m[2])
		n, _ := strconv.Atoi(m[3])
		if m[1] == "end" {
			s.end = n
		} else {
			s.term = n
		}
		s.records++
		s.last = rec
	}
}

// snapshot copies what one logger's stream holds so far.
func (c *consumer) snapshot(tag string) stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[tag]
	if s == nil {
		return stream{end: -1, term: -1}
	}
	cp := *s
	cp.seqs = append([]int(nil), s.seqs...)
	cp.bad = append([]string(nil), s.bad...)
	return cp
}

// counts is (log records, log records of namespace ns, metric records of
// the node).
func (c *consumer) counts(ns string) (logs, inNS, metrics int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs, c.byNS[ns], c.metrics
}

// verdict checks a stream: each of want lines exactly once (or at least once
// with maxDup duplicates at most) and in order. It returns "" when all is well.
func (s stream) verdict(want, maxDup int) string {
	seen := make([]int, want)
	dups, outOfOrder, prev := 0, 0, -1
	var unknown []int
	for _, q := range s.seqs {
		if q < 0 || q >= want {
			unknown = append(unknown, q)
			continue
		}
		seen[q]++
		if seen[q] > 1 {
			dups++
		} else if q < prev {
			outOfOrder++
		}
		if seen[q] == 1 {
			prev = max(prev, q)
		}
	}
	var missing []int
	for q, n := range seen {
		if n == 0 {
			missing = append(missing, q)
		}
	}
	var msg string
	if len(missing) > 0 {
		msg += fmt.Sprintf("%d of %d lines missing (first %v); ", len(missing), want, missing[:min(len(missing), 10)])
	}
	if dups > maxDup {
		msg += fmt.Sprintf("%d duplicates (at most %d allowed); ", dups, maxDup)
	}
	if outOfOrder > 0 {
		msg += fmt.Sprintf("%d lines out of order; ", outOfOrder)
	}
	if len(unknown) > 0 {
		msg += fmt.Sprintf("lines never written: %v; ", unknown[:min(len(unknown), 10)])
	}
	bad := s.bad
	for _, c := range s.cuts {
		if !slices.Contains(s.conts, c.want-c.got) {
			bad = append(bad, fmt.Sprintf("seq %d: %d bytes (want %d), truncated true, and no rest of %d bytes",
				c.seq, c.got, c.want, c.want-c.got))
		}
	}
	if len(bad) > 0 {
		msg += fmt.Sprintf("%d bad lines (first: %s); ", len(bad), bad[0])
	}
	return msg
}
