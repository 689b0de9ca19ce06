package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestAttackStartupScanSlowDiskHealthz: a node with 5,000 container log
// files (one per pod) on a slow disk - every open takes a millisecond
// (strace delays each openat of the agent, directories and files alike).
// The start-up scan beats /healthz's heartbeat per file it takes up, but
// before the first file it lists the directories twice with no beat: the
// watch set (every pod directory) and the include glob (every pod and
// container directory), some 15,000 directory opens. /healthz answers 503
// "tail loop stuck: no round for 10s" for the part of that past the 10 s
// bound (about 9 s here, the whole scan a minute), although the agent works
// through the node at the disk's pace; on a slower disk (4 ms an open)
// the gap passes the chart's liveness budget (6 failures, 10 s apart) and
// the kubelet restarts the agent, which starts the same scan again.
//
// It takes over a minute and needs strace: it runs with FERRY_HOSTILE=1.
// TestGlob and TestStartupScanHeartbeat (pkg/tail) guard the fix in every
// run.
func TestAttackStartupScanSlowDiskHealthz(t *testing.T) {
	guarded(t)
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatalf("strace is needed to slow the agent's opens: %v", err)
	}
	w := newWorld(t, worldOpt{logs: []string{"max_open_files: 6000"}})
	const files = 5000
	for i := range files {
		p := filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid%d", i, i), "app", "0.log")
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(cri("stdout", fmt.Sprintf("h-seq=%d", i))), 0o644))
	}
	logf, err := os.Create(filepath.Join(w.dir, "strace-agent.log"))
	must(t, err)
	defer logf.Close()
	cmd := exec.Command("strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=openat",
		"-e", "inject=openat:delay_enter=1000", e2eharness.Ferry(t), "run", "--config", w.agent.Config)
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	var fails []string
	var failFrom, longest time.Duration
	start := time.Now()
	ok := eventually(3*time.Minute, func() bool {
		code, body := w.agent.Get("/healthz")
		now := time.Since(start)
		if code != 200 && code != 0 {
			if failFrom == 0 {
				failFrom = now
			}
			longest = max(longest, now-failFrom)
			if len(fails) < 3 {
				fails = append(fails, fmt.Sprintf("%s: %d %s", now.Round(time.Second), code, strings.TrimSpace(body)))
			}
		} else {
			failFrom = 0
		}
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_lines_read_total") >= files
	})
	if !ok {
		t.Fatalf("the agent did not read the %d files within 3m", files)
	}
	w.waitSeqs(0, files, time.Minute)
	if len(fails) > 0 {
		t.Errorf("/healthz failed during the start-up scan for up to %s (scan took %s), e.g.\n%s",
			longest.Round(time.Second), time.Since(start).Round(time.Second), strings.Join(fails, "\n"))
	}
}
