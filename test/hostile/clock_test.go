package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimestampsAtTheEdges: a container writes one line stamped far from
// now, valid RFC 3339 as CRI writes it: year 0000 or 9999, a zone offset
// that pushes the UTC time past 9999-12-31 or before 0000-01-01, past what
// int64 nanoseconds hold (2262, 1677). Then a normal line. Both lines
// arrive once, readable by a Kafka client, and the record's "time" is RFC
// 3339 with nine fractional digits (README, Records), or the line is
// shipped raw and counted in ferry_tail_parse_errors_total.
func TestTimestampsAtTheEdges(t *testing.T) {
	for _, ts := range []string{
		"2026-11-26T03:55:09.123456789Z", // the control
		"9999-12-31T23:59:59.999999999Z",
		"9999-12-31T23:59:59.999999999-23:59", // UTC: year 10000
		"0000-01-01T00:00:00Z",
		"0000-01-01T00:00:00.5+23:59", // UTC: year -1
		"2262-04-12T00:00:00Z",        // past int64 nanoseconds since 1970
		"1677-09-20T00:00:00Z",
		"1969-12-31T23:59:59Z", // just before the epoch
	} {
		t.Run(ts, func(t *testing.T) {
			// A stamp whose UTC time has no RFC 3339 form (outside years
			// 0000-9999) is not a time: the line is shipped raw, counted
			// as a parse error, with its read time.
			outOfRange := strings.HasSuffix(ts, "-23:59") || strings.HasSuffix(ts, "+23:59")
			w := newWorld(t, worldOpt{})
			w.raw(w.path, line(0, ts)+line(1, ""))
			p := w.agent.Start()
			defer stop(t, p)
			first := 0
			if outOfRange {
				first = 1
			}
			deadline := time.Now().Add(10 * time.Second)
			for w.missing(first, 2) != "" && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			m := w.settled(2, 10*time.Second)
			if miss := w.missing(first, 2); miss != "" {
				t.Fatalf("not consumed within 10 s: %s; the agent counts %v records sent, %v dropped",
					miss, m.Sum("ferry_ship_records_sent_total", `record="log"`), m.Sum("ferry_ship_dropped_records_total"))
			}
			w.check(first, 2, false)
			found := 0
			for _, r := range w.records() {
				if !strings.Contains(r.Message, "h-seq=0 ") {
					continue
				}
				found++
				if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil || len(r.Time) != len("2006-01-02T15:04:05.000000000Z") {
					t.Errorf("time %q is not RFC 3339 with nine digits (%v)", r.Time, err)
				}
				if outOfRange && !strings.HasPrefix(r.Message, ts+" ") {
					t.Errorf("out-of-range stamp: message %q, want the raw line", r.Message)
				}
				t.Logf("%s -> %s", ts, r.Time)
			}
			if found != 1 {
				t.Errorf("line 0 arrived %d times, want once", found)
			}
			want := 0.0
			if outOfRange {
				want = 1
			}
			if pe := m.Sum("ferry_tail_parse_errors_total"); pe != want {
				t.Errorf("parse errors: %v, want %v", pe, want)
			}
		})
	}
}

// TestHostileClockSteppedBack: the node's clock was an hour fast when the
// agent wrote its last checkpoint and was stepped back (NTP) while it was
// stopped; meanwhile a new pod wrote its log and kubelet rotated it. The
// files' modification times are then before the checkpoint's, though
// every byte of them was written after it. The README promises that
// rotation while the agent was down is finished and that nothing is lost
// silently: the rotated file's lines arrive, or are counted.
func TestHostileClockSteppedBack(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	stop(t, p)
	// The checkpoint was written when the clock said an hour later.
	state := filepath.Join(w.cfg.StateDir, "tail.json")
	ahead := time.Now().Add(time.Hour)
	must(t, os.Chtimes(state, ahead, ahead))
	// While stopped, a new pod writes, kubelet rotates, the pod writes on.
	fresh := filepath.Join(w.root, "ns_new_uid2", "app", "0.log")
	mkdirFor(t, fresh)
	w.lines(fresh, 100, 150)
	must(t, os.Rename(fresh, fresh+".20261126-035509"))
	w.lines(fresh, 150, 200)
	p = w.agent.Start()
	w.waitSeqs(150, 200, 30*time.Second)
	w.lines(w.path, 10, 11) // a sentinel after the startup
	w.waitSeqs(10, 11, 30*time.Second)
	m := w.settled(51, 20*time.Second)
	lost, _ := w.count(100, 150)
	if lost > 0 {
		t.Errorf("%d lines of the rotated file never arrived (%s); lost counters: files %v, bytes %v",
			lost, w.missing(100, 150), m.Sum("ferry_tail_lost_files_total"), m.Sum("ferry_tail_lost_bytes_total"))
	}
	stop(t, p)
}
