package tail

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostile4LineLongerThanBurst: a container limited to 1,000 bytes a
// second (burst: one second) that writes one 3,000-byte line every ten
// seconds, 300 bytes a second, is well within its limit. Under policy
// defer its lines are read in parts as the budget allows and all arrive;
// under policy drop every one of them is dropped, for good, since a line
// is let through only when the bucket holds all of its bytes, which a
// bucket of 1,000 never does.
func TestHostile4LineLongerThanBurst(t *testing.T) {
	for _, policy := range []string{PolicyDefer, PolicyDrop} {
		t.Run(policy, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir, state := t.TempDir(), t.TempDir()
				cfg := limitConfig(dir, state, RateLimit{BytesPerSecond: 1000, Policy: policy})
				path := mkContainer(t, dir, "ns_trace_uid")
				appendFile(t, path, "")
				r := startPolling(t, cfg)
				const n = 6
				for i := range n {
					appendFile(t, path, criLine("stderr", "F", fmt.Sprintf("seq=%d %s", i, strings.Repeat("x", 3000))))
					time.Sleep(10 * time.Second)
					synctest.Wait()
				}
				got := 0
				for _, rc := range r.snapshot() {
					if _, ok := seqOf(rc.body); ok {
						got++
					}
				}
				dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
				if got != n {
					t.Errorf("%d of %d lines of 3 KB, one per 10 s under a limit of 1 KB/s, arrived; %v dropped", got, n, dropped)
				}
				r.stop()
			})
		})
	}
}

// TestHostile4PartialsCountUnderDrop: README: "A line is a
// newline-terminated line of the file (each CRI partial fragment counts)".
// Under policy defer a line of three fragments takes three of the
// budget's lines; under policy drop the merged record takes one, so a
// container writing long (split) lines ships three times its limit.
func TestHostile4PartialsCountUnderDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 30, Policy: PolicyDrop})
		path := mkContainer(t, dir, "ns_split_uid")
		var b strings.Builder
		for i := range 100 {
			b.WriteString(criLine("stdout", "P", fmt.Sprintf("seq=%d part one ", i)))
			b.WriteString(criLine("stdout", "P", "part two "))
			b.WriteString(criLine("stdout", "F", "part three"))
		}
		appendFile(t, path, b.String())
		r := startPolling(t, cfg)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if n := len(r.snapshot()); n > 11 {
			t.Errorf("%d lines of three fragments shipped from a burst of 30 lines: each took one of the budget", n)
		}
		r.stop()
	})
}
