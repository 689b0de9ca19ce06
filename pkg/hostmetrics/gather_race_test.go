package hostmetrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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

// TestReadFileSizes: readFile and withFile give a file's exact content at
// every size around the pooled buffer's (4 KiB at first, kept up to
// maxReadBuf), from several goroutines at once, so a buffer handed to two
// readers, or kept grown past the bound, shows.
func TestReadFileSizes(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{0, 1, 4095, 4096, 4097, 8192, maxReadBuf - 1, maxReadBuf, maxReadBuf + 1, 3 * maxReadBuf}
	paths := make([]string, len(sizes))
	for k, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + (i+k)%26)
		}
		paths[k] = filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(paths[k], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for r := range 20 {
				k := (w + r) % len(paths)
				want, _ := os.ReadFile(paths[k])
				got, err := readFile(paths[k])
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("readFile of %d bytes: %d bytes, %v", sizes[k], len(got), err)
					return
				}
				err = withFile(paths[k], func(b []byte) error {
					if !bytes.Equal(b, want) {
						return fmt.Errorf("withFile of %d bytes: %d bytes differ", sizes[k], len(b))
					}
					clear(b) // the buffer is the callback's until it returns
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if got2, _ := readFile(paths[k]); !bytes.Equal(got, got2) || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("a copy from readFile of %d bytes changed after the buffer was reused", sizes[k])
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
	for range 8 {
		bp := readBufs.Get().(*[]byte)
		if cap(*bp) > maxReadBuf {
			t.Errorf("the pool keeps a buffer of %d bytes, more than %d", cap(*bp), maxReadBuf)
		}
	}
}
