package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestStateDirUnwritable: the state directory becomes unusable for 6 s
// while containers write and rotate, in two ways:
//   - unwritable: tests run as root, where chmod does not stop writes, so
//     state_dir is a symlink that is swapped (atomically) to a path under a
//     regular file: every create in it fails with ENOTDIR;
//   - full: state_dir is a 1 MiB tmpfs (skipped where mount is not
//     permitted) filled to ENOSPC by another file.
//
// The test checks itself that writes really fail. The agent keeps
// shipping, counts each failed checkpoint, warns once; once the directory
// is usable again checkpoints resume. A SIGKILL after that loses nothing,
// and repeats no more than about one commit interval's worth: the
// checkpoint it resumed from is a fresh one, not the one from before the
// outage.
func TestStateDirUnwritable(t *testing.T) {
	t.Run("unwritable", func(t *testing.T) {
		stateDirFault(t, func(t *testing.T, dir, state string) (breakIt, restore func()) {
			real, blocker := state+"-real", filepath.Join(dir, "blocker")
			must(t, os.Mkdir(real, 0o700))
			must(t, os.WriteFile(blocker, []byte("a file, not a directory\n"), 0o600))
			point := func(target string) {
				t.Helper()
				tmp := state + ".swap"
				must(t, os.Symlink(target, tmp))
				must(t, os.Rename(tmp, state))
			}
			point(real)
			return func() { point(filepath.Join(blocker, "state")) }, func() { point(real) }
		})
	})
	t.Run("full", func(t *testing.T) {
		stateDirFault(t, func(t *testing.T, dir, state string) (breakIt, restore func()) {
			must(t, os.Mkdir(state, 0o700))
			if err := syscall.Mount("tmpfs", state, "tmpfs", 0, "size=1m"); err != nil {
				t.Skipf("cannot mount a tmpfs here (%v); the unwritable variant covers the scenario", err)
			}
			t.Cleanup(func() { _ = syscall.Unmount(state, syscall.MNT_DETACH) })
			filler := filepath.Join(state, "filler")
			return func() {
					f, err := os.Create(filler)
					must(t, err)
					defer f.Close()
					buf := make([]byte, 4096)
					for i := 0; i < 1024; i++ { // 4 MiB at most, the tmpfs holds 1 MiB
						if _, err := f.Write(buf); err != nil {
							return
						}
					}
					t.Fatal("the tmpfs did not fill up")
				}, func() {
					must(t, os.Remove(filler))
				}
		})
	})
}

// stateDirFault runs the scenario with a way to break the state directory
// (set up by fault, which may skip) and to restore it.
func stateDirFault(t *testing.T, fault func(t *testing.T, dir, state string) (breakIt, restore func())) {
	const containers, rate = 20, 100
	var state string
	e := newEnv(t, simnode.Config{Pods: containers / 2, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 100, LongBytes: 20 << 10, RotateBytes: 96 << 10, Keep: 4, Compress: true, Seed: 7},
		func(c *e2eharness.AgentConfig) { state = c.StateDir })
	breakIt, restore := fault(t, e.dir, state)

	e.cons.Start()
	p := e.agent.Start()
	e.write()
	waitFor(t, "a first checkpoint", 10*time.Second, func() bool {
		return e.scrape().Sum("ferry_tail_checkpoints_total") > 0
	})
	e.shipping(containers * rate)
	before := e.scrape()

	breakIt()
	if err := os.WriteFile(filepath.Join(state, "probe"), make([]byte, 4096), 0o600); err == nil {
		t.Fatal("the state directory is still writable: the scenario would prove nothing")
	} else {
		t.Logf("state dir broken: %v", err)
		_ = os.Remove(filepath.Join(state, "probe"))
	}
	// A commit in progress at the swap may still succeed: the first
	// failure counted says one began after it.
	waitFor(t, "a failed checkpoint", 30*time.Second, func() bool {
		return e.scrape().Sum("ferry_tail_checkpoint_errors_total") > before.Sum("ferry_tail_checkpoint_errors_total")
	})
	broken := e.scrape()
	sent := func(m e2eharness.Metrics) float64 { return m.Sum("ferry_ship_records_sent_total", `record="log"`) }
	// Three more failures (commit_interval 1s), and the node's lines
	// shipped meanwhile: checkpoints failing stall nothing.
	waitFor(t, "three more failed checkpoints and a second of the node's lines shipped", 60*time.Second, func() bool {
		m := e.scrape()
		return m.Sum("ferry_tail_checkpoint_errors_total")-broken.Sum("ferry_tail_checkpoint_errors_total") >= 3 &&
			sent(m)-sent(broken) >= containers*rate
	})
	during := e.scrape()
	restore()
	waitFor(t, "checkpoints to resume", 10*time.Second, func() bool {
		return e.scrape().Sum("ferry_tail_checkpoints_total") > during.Sum("ferry_tail_checkpoints_total")
	})

	errs := during.Sum("ferry_tail_checkpoint_errors_total") - broken.Sum("ferry_tail_checkpoint_errors_total")
	t.Logf("while broken: %v checkpoint errors, %v checkpoints, %v records sent", errs,
		during.Sum("ferry_tail_checkpoints_total")-broken.Sum("ferry_tail_checkpoints_total"), sent(during)-sent(broken))
	if n := during.Sum("ferry_tail_checkpoints_total") - broken.Sum("ferry_tail_checkpoints_total"); n != 0 {
		t.Errorf("%v checkpoints counted as written while the directory was unwritable", n)
	}
	out := p.Output()
	if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "cannot write checkpoint") {
		t.Errorf("no warning about the failed checkpoint in the agent's log")
	}
	if strings.Count(out, "cannot write checkpoint") != 1 {
		t.Errorf("the failure was warned %d times, want once per episode", strings.Count(out, "cannot write checkpoint"))
	}
	if !strings.Contains(out, "checkpoint written again") {
		t.Errorf("the agent's log does not say checkpoints resumed")
	}

	e.shipping(containers * rate)
	p.Kill()
	p = e.agent.Start()
	e.shipping(containers * rate) // the next agent ships
	e.stop()
	// One commit interval (1 s) plus the time to write and acknowledge,
	// generously 3 s of the node's writing; a checkpoint from before the
	// outage would repeat over 10 s of it.
	e.drain("state-dir", 3*containers*rate, 60*time.Second)
	e.balanced()
	e.term(p)
}
