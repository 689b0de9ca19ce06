package hostmetrics

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestConcurrentGathers: two scrapes at once share the collectors (their
// caches, the netclass check, the field caches of netstat and vmstat) and
// the pools (read buffers, attribute directories); each gets the whole
// snapshot a scrape alone gets. Run with -race, it also shows no
// collector or pool is used by two gathers without synchronisation. The
// netclass dump is one of sysfs' own namespace, so that the gathers take
// their values from it once it is checked.
func TestConcurrentGathers(t *testing.T) {
	cfg := fixtureConfig(t)
	sys, links := netclassFixture(t)
	cfg.Sys = sys
	c := newFixture(t, cfg, nil, Options{})
	var dumps atomic.Int32
	var nc *netclassCollector
	for _, p := range c.parts {
		if n, ok := p.src.(*netclassCollector); ok {
			nc = n
			n.dump = func() ([]nlLink, error) {
				dumps.Add(1)
				return append([]nlLink(nil), links...), nil
			}
		}
	}
	if nc == nil {
		t.Fatal("no netclass collector")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	text := func() ([]byte, error) {
		mfs, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if mf.GetName() == "node_scrape_collector_duration_seconds" {
				continue
			}
			if err := enc.Encode(mf); err != nil {
				return nil, err
			}
		}
		return buf.Bytes(), nil
	}
	want, err := text() // sysfs alone, checked against the dump
	if err != nil {
		t.Fatal(err)
	}
	if !nc.nl.verified.Load() {
		t.Fatal("the fixture's dump was not taken")
	}
	const workers, rounds = 4, 6
	errs := make(chan error, workers*rounds)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				got, err := text()
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("worker %d round %d: scrape differs from one alone:\n%s", w, r, lineDiff(want, got))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := dumps.Load(); n != 1+workers*rounds {
		t.Errorf("%d dumps, want one a scrape (%d)", n, 1+workers*rounds)
	}
}

// lineDiff is the lines of got not in want and of want not in got.
func lineDiff(want, got []byte) string {
	in := func(b []byte) map[string]bool {
		m := map[string]bool{}
		for l := range bytes.Lines(b) {
			m[string(l)] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out bytes.Buffer
	for l := range g {
		if !w[l] {
			fmt.Fprintf(&out, "+ %s", l)
		}
	}
	for l := range w {
		if !g[l] {
			fmt.Fprintf(&out, "- %s", l)
		}
	}
	return out.String()
}
