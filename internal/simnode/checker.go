package simnode

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Checker tallies the lines read back from a sink against what a Node
// wrote: per source, every sequence number must arrive, and arrive once.
// It is safe for concurrent use.
type Checker struct {
	mu      sync.Mutex
	sources map[string]*sourceState
	foreign int64 // records that were not simnode lines
	corrupt int64 // simnode lines whose length did not match
}

type sourceState struct {
	seen      map[int64]int // seq -> times seen
	last      int64
	reordered int64
}

// NewChecker returns an empty Checker.
func NewChecker() *Checker { return &Checker{sources: map[string]*sourceState{}} }

// Observe records one message read back from the sink. A message of
// several lines (a record made by multiline grouping) counts each of them.
func (c *Checker) Observe(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		line, rest, more := bytes.Cut(msg, []byte{'\n'})
		c.observe(line)
		if !more {
			return
		}
		msg = rest
	}
}

func (c *Checker) observe(msg []byte) {
	src, seq, ok := ParseLine(msg)
	if src == "" {
		c.foreign++
		return
	}
	if !ok {
		c.corrupt++
		return
	}
	s := c.sources[src]
	if s == nil {
		s = &sourceState{seen: map[int64]int{}}
		c.sources[src] = s
	}
	s.seen[seq]++
	if seq < s.last && s.seen[seq] == 1 {
		s.reordered++
	}
	if seq > s.last {
		s.last = seq
	}
}

// Report compares what was observed with what was written.
type Report struct {
	Written, Received int64 // logical lines written; distinct lines received
	Lost              int64 // written, never received
	Duplicates        int64 // receptions beyond the first
	Reordered         int64 // lines that arrived after a later line of their source
	Corrupt, Foreign  int64
	LostBySource      map[string]int64
	// FirstLost holds, per source, the first few sequence numbers lost.
	FirstLost map[string][]int64
}

// OK is true when nothing was lost or corrupted.
func (r Report) OK() bool { return r.Lost == 0 && r.Corrupt == 0 }

func (r Report) String() string {
	s := fmt.Sprintf("written %d, received %d, lost %d, duplicates %d, reordered %d, corrupt %d",
		r.Written, r.Received, r.Lost, r.Duplicates, r.Reordered, r.Corrupt)
	if len(r.LostBySource) > 0 {
		var parts []string
		for k, v := range r.LostBySource {
			parts = append(parts, fmt.Sprintf("%s:%d", k, v))
		}
		sort.Strings(parts)
		if len(parts) > 10 {
			parts = append(parts[:10], "...")
		}
		s += " (lost by source: " + strings.Join(parts, " ") + ")"
		for k, v := range r.FirstLost {
			s += fmt.Sprintf(" first lost of %s: %v", k, v)
			break
		}
	}
	return s
}

// Report checks the observations against the containers' written counts.
func (c *Checker) Report(containers []*Container) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Report{Corrupt: c.corrupt, Foreign: c.foreign, LostBySource: map[string]int64{}, FirstLost: map[string][]int64{}}
	for _, ct := range containers {
		written := ct.Written()
		r.Written += written
		s := c.sources[ct.Source()]
		var lost int64
		for seq := int64(1); seq <= written; seq++ {
			n := 0
			if s != nil {
				n = s.seen[seq]
			}
			if n == 0 {
				lost++
				if len(r.FirstLost[ct.Source()]) < 5 {
					r.FirstLost[ct.Source()] = append(r.FirstLost[ct.Source()], seq)
				}
				continue
			}
			r.Received++
			r.Duplicates += int64(n - 1)
		}
		if s != nil {
			r.Reordered += s.reordered
		}
		if lost > 0 {
			r.LostBySource[ct.Source()] = lost
		}
		r.Lost += lost
	}
	return r
}

// Prefix is the length of the longest run of sequence numbers 1, 2, ...
// of src that were all observed.
func (c *Checker) Prefix(src string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sources[src]
	if s == nil {
		return 0
	}
	var n int64
	for s.seen[n+1] > 0 {
		n++
	}
	return n
}

// Distinct is how many distinct sequence numbers of src were observed.
func (c *Checker) Distinct(src string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sources[src]; s != nil {
		return int64(len(s.seen))
	}
	return 0
}
