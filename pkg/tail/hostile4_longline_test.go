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
