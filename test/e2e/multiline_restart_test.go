package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// traces appends CRI lines rr-seq=from..to-1 to path as Java stack traces
// of ten lines: a line whose seq is a multiple of ten logs an error, the
// nine after it are the frames of its trace ("\tat rr-seq=N ...").
func (w *restartWorld) traces(path string, from, to int) {
	w.t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "2026-11-26T03:55:09.123456789Z stdout F rr-seq=%d ERROR request failed\n", i)
		} else {
			fmt.Fprintf(&b, "2026-11-26T03:55:09.123456789Z stdout F \tat rr-seq=%d com.example.Handler.serve(Handler.java:%d)\n", i, i)
		}
	}
	w.raw(path, b.String())
}

// TestRestartMidTrace: with multiline grouping on, the agent stops while
// the trace being written is held (its first four lines read, the rest not
// yet written), and kubelet rotates the file twice and gzips it while the
// agent is down. Nothing is lost and nothing repeated, after SIGTERM as
// after SIGKILL:
//   - SIGTERM sends the held lines as a record of their own and commits
//     them; the next agent ships the rest of the trace as another;
//   - SIGKILL leaves the held lines unacknowledged, so the checkpoint stays
//     before the trace; the next agent reads it again from the .gz and
//     ships the whole trace, ten lines, as one record.
func TestRestartMidTrace(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "sigterm"
		if kill {
			name = "sigkill"
		}
		t.Run(name, func(t *testing.T) {
			w := newRestartWorldWith(t, func(c *e2eharness.AgentConfig) {
				// Long enough for the first agent to be stopped before the
				// held trace goes out on its own. The last trace of each
				// rotated file (nothing follows it) goes out when the agent
				// is done with the file, not after it.
				c.Processing = "{multiline: {rule: java, flush_timeout: 20s}}"
			})
			w.traces(w.path, 0, 100)
			fi, err := os.Stat(w.path)
			must(t, err)
			beforeTrace := fi.Size()
			w.traces(w.path, 100, 104)
			p := w.agent.Start()
			w.waitSeqs(0, 100, 30*time.Second)
			waitFor(t, "the four lines of the unfinished trace held", 30*time.Second, func() bool {
				m, err := w.agent.Scrape()
				return err == nil && m.Sum("ferry_process_multiline_held_lines") == 4
			})
			if kill {
				waitFor(t, "a checkpoint up to the held trace", 10*time.Second, func() bool {
					e, ok := w.checkpoint()
					return ok && e.Offset == beforeTrace
				})
				if e, _ := w.checkpoint(); e.AckedTo > e.Offset {
					t.Fatalf("held lines acknowledged: %+v", e)
				}
				p.Kill()
			} else if err := p.Term(30 * time.Second); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}

			w.rotateTwice(w.traces, 104)

			p = w.agent.Start()
			w.waitSeqs(0, 240, 30*time.Second)
			m, err := w.agent.Scrape()
			must(t, err)
			if v := m.Sum("ferry_process_multiline_end_flushes_total"); v < 2 {
				t.Errorf("ferry_process_multiline_end_flushes_total = %v: the last traces of the two rotated files did not go out when their files ended", v)
			}
			for _, name := range []string{"ferry_tail_lost_bytes_total", "ferry_tail_lost_files_total", "ferry_tail_parse_errors_total",
				"ferry_process_multiline_cut_total"} {
				if v := m.Sum(name); v != 0 {
					t.Errorf("%s = %v, want 0", name, v)
				}
			}
			// The last trace (240..249) is held until shutdown (or the
			// flush timeout) sends it.
			if err := p.Term(30 * time.Second); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
			w.waitSeqs(240, 250, 30*time.Second)
			w.check(0, 250, false)

			w.mu.Lock()
			defer w.mu.Unlock()
			want := map[int]int{100: 4, 104: 6}
			if kill {
				want = map[int]int{100: 10}
			}
			for head, lines := range want {
				if w.heads[head] != lines {
					t.Errorf("the record beginning with rr-seq=%d has %d lines, want %d (records by first line: %v)",
						head, w.heads[head], lines, w.heads)
				}
			}
			for _, head := range []int{0, 90, 110, 150, 200, 240} {
				if w.heads[head] != 10 {
					t.Errorf("the trace of rr-seq=%d came as a record of %d lines, want 10", head, w.heads[head])
				}
			}
		})
	}
}
