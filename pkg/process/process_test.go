package process

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

const javaTrace = `2026-12-04 20:50:00 ERROR request failed
java.lang.IllegalStateException: outer problem
	at Main.outer(Main.java:3)
	at Main.main(Main.java:6)
Caused by: java.lang.IllegalArgumentException: inner problem
	at Main.inner(Main.java:2)
	... 9 more
after`

func javaConfig() Config {
	cfg := DefaultConfig()
	cfg.Multiline.Rule = "java"
	return cfg
}

func TestUnconfiguredPassesThroughWithoutAllocating(t *testing.T) {
	p, _ := newTest(t, DefaultConfig())
	batch := linesOf([]byte(javaTrace), nil, event.Stdout)
	want := append([]event.Log(nil), batch...)
	var got []event.Log
	if n := testing.AllocsPerRun(100, func() { got = p.Process(batch) }); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch changed (-want +got):\n%s", diff)
	}
	if DefaultConfig().Enabled() {
		t.Error("the defaults enable processing")
	}
}

// A grouped record carries the cursor of its last line, and its lines are
// acknowledged only when the record is.
func TestGroupAcksEveryLineOnlyWhenAcked(t *testing.T) {
	p, a := newTest(t, javaConfig())
	lines := linesOf([]byte(javaTrace), nil, event.Stdout)
	recs := runAll(p, lines, 3)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	if recs[0].Cursor != lines[6].Cursor || recs[0].Lines != 7 {
		t.Errorf("group record: cursor %+v lines %d, want cursor %+v lines 7", recs[0].Cursor, recs[0].Lines, lines[6].Cursor)
	}
	if got := a.got(); len(got) != 0 {
		t.Fatalf("acknowledged before the sink did: %v", got)
	}
	p.Ack([]event.Cursor{recs[1].Cursor})
	if diff := cmp.Diff([]event.Cursor{lines[7].Cursor}, a.got()); diff != "" {
		t.Errorf("a one-line record's ack (-want +got):\n%s", diff)
	}
	p.Ack([]event.Cursor{recs[0].Cursor})
	var want []event.Cursor
	want = append(want, lines[7].Cursor)
	for _, l := range lines[:7] {
		want = append(want, l.Cursor)
	}
	if diff := cmp.Diff(want, a.got()); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	if n := p.npend.Load(); n != 0 {
		t.Errorf("%d grouped records still pending", n)
	}
}

// Groups are kept per file and stream: stderr lines between the lines of a
// stdout trace neither join nor break it.
func TestGroupsPerStream(t *testing.T) {
	p, _ := newTest(t, javaConfig())
	out := linesOf([]byte(javaTrace), nil, event.Stdout)
	errs := linesOf([]byte("E one\nE two\nE three"), nil, event.Stderr)
	var mixed []event.Log
	for i, l := range out {
		mixed = append(mixed, l)
		if i < len(errs) {
			mixed = append(mixed, errs[i])
		}
	}
	got := map[string][]string{}
	for _, r := range runAll(p, mixed, 4) {
		got[r.Stream.String()] = append(got[r.Stream.String()], strings.SplitN(string(r.Body), "\n", 2)[0])
	}
	want := map[string][]string{
		"stderr": {"E one", "E two", "E three"},
		"stdout": {"2026-12-04 20:50:00 ERROR request failed", "after"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestGroupCaps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lines     int
		bytes     int
		wantLines []int32
		reason    string
	}{
		{"lines", 3, 1 << 20, []int32{3, 3, 0, 0}, cutLines},
		{"bytes", 1000, 1024, []int32{4, 3, 0}, cutBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := javaConfig()
			cfg.Multiline.MaxLines, cfg.Multiline.MaxBytes = tc.lines, tc.bytes
			reg := prometheus.NewRegistry()
			a := &recAcker{}
			p, err := New(cfg, nil, Options{Acker: a, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			text := javaTrace
			if tc.name == "bytes" {
				text = strings.Replace(javaTrace, "inner problem", strings.Repeat("x", 900), 1)
			}
			recs := runAll(p, linesOf([]byte(text), nil, event.Stdout), 2)
			var got []int32
			var trunc []bool
			for _, r := range recs {
				got = append(got, r.Lines)
				trunc = append(trunc, r.Truncated)
				if len(r.Body) > tc.bytes {
					t.Errorf("record of %d bytes over the cap %d", len(r.Body), tc.bytes)
				}
			}
			if diff := cmp.Diff(tc.wantLines, got); diff != "" {
				t.Errorf("lines per record (-want +got):\n%s", diff)
			}
			if !trunc[0] || trunc[len(trunc)-1] {
				t.Errorf("truncated flags %v: want the cut record flagged, the last not", trunc)
			}
			if n := testutil.ToFloat64(p.m.cuts.WithLabelValues(tc.reason)); n < 1 {
				t.Errorf("ferry_process_multiline_cut_total{reason=%q} = %v", tc.reason, n)
			}
		})
	}
}

// A held group goes out flush_timeout after its last line, not before.
func TestFlushTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := make(chan []event.Log), make(chan []event.Log, 4)
		a := &recAcker{}
		p, err := New(javaConfig(), nil, Options{In: in, Out: out, Acker: a})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- p.Run(context.Background()) }()
		lines := linesOf([]byte(javaTrace), nil, event.Stdout)
		in <- append([]event.Log(nil), lines[:3]...)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatal("a record went out before the next line or the timeout")
		}
		time.Sleep(999 * time.Millisecond)
		in <- append([]event.Log(nil), lines[3:4]...) // the group goes on: the timeout restarts
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatal("flushed before flush_timeout passed since the last line")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if len(out) != 1 {
			t.Fatalf("%d batches out after the timeout, want 1", len(out))
		}
		b := <-out
		if len(b) != 1 || b[0].Lines != 4 {
			t.Fatalf("flushed %d records (lines %d), want one of 4 lines", len(b), b[0].Lines)
		}
		if n := testutil.ToFloat64(p.m.timeoutFlushes); n != 1 {
			t.Errorf("timeout flushes = %v, want 1", n)
		}
		// Shutdown sends what is held and closes Out.
		in <- append([]event.Log(nil), lines[4:]...)
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var n int
		for b := range out {
			for _, r := range b {
				n += int(max(r.Lines, 1))
			}
		}
		if n != len(lines)-4 {
			t.Errorf("%d lines out at shutdown, want %d", n, len(lines)-4)
		}
	})
}

// A hard stop returns without acknowledging held lines (they are read again).
func TestHardStopAcksNothingHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := make(chan []event.Log), make(chan []event.Log, 4)
		a := &recAcker{}
		p, _ := New(javaConfig(), nil, Options{In: in, Out: out, Acker: a})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		in <- linesOf([]byte(javaTrace), nil, event.Stdout)[:5]
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, ok := <-out; ok {
			t.Error("a record went out after the hard stop")
		}
		if got := a.got(); len(got) != 0 {
			t.Errorf("acknowledged %v at hard stop", got)
		}
	})
}

func TestCustomRules(t *testing.T) {
	text := "2026-01-01 first\n  more\nnot a date\n2026-01-02 second\n2026-01-03 third\n  x"
	for _, tc := range []struct {
		rule CustomRule
		want []int32
	}{
		{CustomRule{Name: "c", Start: `^\d{4}-`}, []int32{3, 0, 2}},
		{CustomRule{Name: "c", Continuation: `^\s`}, []int32{2, 0, 0, 2}},
		{CustomRule{Name: "c", Continuation: `^\d{4}-`, Negate: true}, []int32{3, 0, 2}},
		{CustomRule{Name: "c", Start: `^\d{4}-`, Continuation: `^\s`}, []int32{2, 0, 0, 2}},
		{CustomRule{Name: "c", Start: `^\s`, Negate: true}, []int32{2, 0, 0, 2}},
	} {
		cfg := DefaultConfig()
		cfg.Multiline.Rule, cfg.Multiline.Custom = "c", []CustomRule{tc.rule}
		p, _ := newTest(t, cfg)
		var got []int32
		for _, r := range runAll(p, linesOf([]byte(text), nil, event.Stdout), 2) {
			got = append(got, r.Lines)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%+v: lines per record (-want +got):\n%s", tc.rule, diff)
		}
	}
}

// The state of a stream idle for a while, with nothing held, is forgotten.
func TestIdleStreamsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTest(t, javaConfig())
		runAll(p, linesOf([]byte("a\nb"), nil, event.Stdout), 10)
		if len(p.streams) != 1 {
			t.Fatalf("%d streams, want 1", len(p.streams))
		}
		time.Sleep(2 * streamIdle)
		l := linesOf([]byte("c"), nil, event.Stderr)
		p.Process(l)
		if len(p.streams) != 1 {
			t.Errorf("%d streams after the first went idle, want only the new one", len(p.streams))
		}
	})
}

// TestNoticePassesThrough: the agent's own records (a rate limit's summary,
// event.Log.Notice) are never grouped into the container's lines (not even
// by a rule that takes any undated line along), nor with each other when
// they carry no cursor, and no parser or mask touches them; the filters
// drop them with their pod's records.
func TestNoticePassesThrough(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Multiline = MultilineConfig{Rule: "dated", Custom: []CustomRule{{Name: "dated", Start: `^\d{4}-`}},
		FlushTimeout: time.Second, MaxLines: 100, MaxBytes: 1 << 20}
	cfg.Parser.Format = "json"
	cfg.Filters = []FilterRule{{Name: "no-c", Action: "drop", Namespaces: []string{"c"}}}
	cfg.Redact.Builtins = []string{"email"}
	p, _ := newTest(t, cfg)
	a, b := &event.Meta{Namespace: "a", Pod: "pa"}, &event.Meta{Namespace: "b", Pod: "pb"}
	c := &event.Meta{Namespace: "c", Pod: "pc"} // filtered out: its notice too
	notice := func(m *event.Meta, src uint64) event.Log {
		return event.Log{Body: []byte("ferry: 5 lines of this container dropped by its rate limit, ops@example.com"), Meta: m,
			Stream: event.Stderr, Notice: true, Cursor: event.Cursor{Source: src, Offset: 99}}
	}
	lines := []event.Log{
		{Body: []byte("2026-12-04 20:50:00 working"), Meta: a, Stream: event.Stdout, Cursor: event.Cursor{Source: 1, Offset: 10}},
		notice(a, 1), notice(a, 0), notice(b, 0), notice(c, 0),
		{Body: []byte("2026-12-04 20:50:01 calm"), Meta: a, Stream: event.Stdout, Cursor: event.Cursor{Source: 1, Offset: 20}},
	}
	out := runAll(p, lines, len(lines))
	var notices, others []string
	for _, r := range out {
		if r.Notice {
			if r.Lines != 0 || r.Fields != nil || string(r.Body) != string(notice(a, 0).Body) {
				t.Errorf("a notice was changed: %+v", r)
			}
			notices = append(notices, r.Meta.Namespace)
		} else {
			others = append(others, string(r.Body))
		}
	}
	if !slices.Equal(notices, []string{"a", "a", "b"}) || len(others) != 2 {
		t.Errorf("notices by namespace %v, other records %q; want a, a, b and the two lines", notices, others)
	}
}
