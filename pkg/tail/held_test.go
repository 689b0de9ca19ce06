package tail

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUnfinishedLinesBounded: many files each hold unfinished lines (CRI
// fragments of a stderr line being merged, and a stdout line with no
// newline yet), together far more than memory.queue_bytes. The memory they
// hold stays near that budget (files over it are spilled: rewound, to be
// read again from disk once they grow); the complete lines written between
// the fragments arrive at once, and once the unfinished lines are finished
// every line arrives exactly once.
func TestUnfinishedLinesBounded(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files, budget = 20, 512 << 10
	cfg := testConfig(dir, state)
	cfg.MaxInflightBytes = budget
	paths := podLogs(t, dir, files)
	frag := strings.Repeat("a", 16<<10)
	for i, p := range paths {
		var b strings.Builder
		for s := 0; s < 3; s++ {
			b.WriteString(criLine("stdout", "F", fmt.Sprintf("seq=%d file=%d", s, i)))
		}
		b.WriteString(criLine("stderr", "P", fmt.Sprintf("seq=3 file=%d %s", i, frag)))
		b.WriteString(criLine("stdout", "F", fmt.Sprintf("seq=4 file=%d", i)))
		b.WriteString(criLine("stderr", "P", frag))
		b.WriteString(criLine("stdout", "F", fmt.Sprintf("seq=5 file=%d", i)))
		b.WriteString(strings.TrimSuffix(criLine("stdout", "F", fmt.Sprintf("seq=6 file=%d %s", i, strings.Repeat("z", 40<<10))), "\n"))
		appendFile(t, p, b.String())
	}
	r := startRunner(t, cfg, Options{})
	waitFor(t, 20*time.Second, "the complete lines of every file", func() bool {
		return len(r.snapshot()) >= files*5
	})
	// Every file was read (its complete lines arrived); what they hold of
	// their unfinished lines is near the budget, not their sum (~1.6 MiB).
	if held := testutil.ToFloat64(r.tl.m.held); held > budget+256<<10 {
		t.Errorf("unfinished lines hold %.0f KiB, budget %d KiB", held/1024, budget>>10)
	}
	if testutil.ToFloat64(r.tl.m.spills) == 0 {
		t.Error("no file was spilled: the test did not exercise what it is for")
	}
	for i, p := range paths {
		appendFile(t, p, "\n"+criLine("stderr", "F", "end")+criLine("stdout", "F", fmt.Sprintf("seq=7 file=%d", i)))
	}
	waitFor(t, 20*time.Second, "every line of every file", func() bool {
		return len(r.snapshot()) >= files*8
	})
	r.stop()
	exactlyOnce(t, r.snapshot(), paths, 8)
	for _, rc := range r.snapshot() {
		if s, _ := seqOf(rc.body); s == 3 && !strings.HasSuffix(rc.body, frag+"end") {
			t.Errorf("%s: the merged line is %d bytes, want its three fragments", rc.path, len(rc.body))
		}
	}
}
