package hostile

import (
	"strings"
	"testing"
	"time"
)

// TestRestartInsidePartialLine: a 400 KiB line written as containerd
// writes it, 16 KiB P fragments then an F; max_line_bytes is 64 KiB. The
// agent is stopped (SIGTERM, then SIGKILL) after half of the fragments
// were written and read; the rest is written while it is down. The line
// arrives once, cut and flagged truncated, counted once in
// ferry_tail_lines_truncated_total; no fragment is shipped as a line of its
// own; the lines after it arrive once (SIGTERM) or at least once (SIGKILL).
func TestRestartInsidePartialLine(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "sigterm"
		if kill {
			name = "sigkill"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, worldOpt{logs: []string{"max_line_bytes: 65536"}})
			w.lines(w.path, 0, 10)
			frag := func(i int) string {
				return "2026-11-26T03:55:09.123456789Z stdout P " + strings.Repeat(string(rune('a'+i%26)), 16<<10) + "\n"
			}
			var b strings.Builder
			b.WriteString("2026-11-26T03:55:09.123456789Z stdout P h-seq=10 " + strings.Repeat("A", 16<<10-9) + "\n")
			for i := 1; i < 12; i++ {
				b.WriteString(frag(i))
			}
			w.raw(w.path, b.String())
			p := w.agent.Start()
			w.waitSeqs(0, 10, 30*time.Second)
			size := fileSize(t, w.path)
			waitFor(t, "the fragments read", 10*time.Second, func() bool {
				m, err := w.agent.Scrape()
				return err == nil && m.Sum("ferry_tail_read_bytes_total") >= float64(size)
			})
			if kill {
				waitFor(t, "a checkpoint", 10*time.Second, func() bool {
					_, ok := w.checkpoint(w.path)
					return ok
				})
				p.Kill()
			} else {
				stop(t, p)
			}
			b.Reset()
			for i := 12; i < 24; i++ {
				b.WriteString(frag(i))
			}
			b.WriteString("2026-11-26T03:55:09.123456789Z stdout F end-of-line\n")
			w.raw(w.path, b.String())
			w.lines(w.path, 11, 20)
			p = w.agent.Start()
			w.waitSeqs(11, 20, 30*time.Second)
			m := w.settled(10, 20*time.Second)
			w.check(0, 20, kill)
			var long, other int
			cut := 0
			for _, r := range w.records() {
				switch {
				case strings.HasPrefix(r.Message, "h-seq=10 "):
					long++
					if r.Truncated {
						cut++
					}
				case !strings.HasPrefix(r.Message, "h-seq="):
					other++
					t.Logf("foreign record: %.40q... (%d bytes, truncated %v, offset %d)", r.Message, len(r.Message), r.Truncated, r.Offset)
				}
			}
			if long != 1 || cut != 1 || other != 0 {
				t.Errorf("the long line arrived %d times (%d cut), and %d records of its fragments; want once, cut, and none", long, cut, other)
			}
			if v := m.Sum("ferry_tail_parse_errors_total"); v != 0 {
				t.Errorf("ferry_tail_parse_errors_total = %v, want 0", v)
			}
			stop(t, p)
		})
	}
}
