package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPartialSplitByRotation: containerd wrote the first fragments (P) of
// a long line, kubelet rotated 0.log, and the last fragment (F) went to the
// new 0.log. pkg/tail merges the line across the two files: it arrives
// once, whole, not flagged, and nothing is counted in
// ferry_tail_partial_lines_cut_total; the lines after it arrive. With the
// agent up (it has read the P fragment before the rotation) and with the
// agent stopped by SIGTERM in between (the next one reads the fragment
// from the rotated file and merges it the same way).
func TestPartialSplitByRotation(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "running"
		if restart {
			name = "restart"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, worldOpt{})
			w.lines(w.path, 0, 10)
			p := w.agent.Start()
			w.waitSeqs(0, 10, 30*time.Second)
			head := "h-seq=10 " + strings.Repeat("a", 1000)
			tail := strings.Repeat("b", 1000)
			w.raw(w.path, "2026-11-26T03:55:09.123456789Z stdout P "+head+"\n")
			t1 := time.Now()
			// The agent read the P fragment: it is in the file it follows.
			waitFor(t, "the P fragment read", 10*time.Second, func() bool {
				m, err := w.agent.Scrape()
				return err == nil && m.Sum("ferry_tail_read_bytes_total") >= float64(fileSize(t, w.path))
			})
			t.Logf("P fragment read after %s", time.Since(t1).Round(time.Millisecond))
			if restart {
				stop(t, p)
			}
			must(t, os.Rename(w.path, w.path+".20261126-035509"))
			w.raw(w.path, "2026-11-26T03:55:09.223456789Z stdout F "+tail+"\n")
			w.lines(w.path, 11, 20)
			if restart {
				p = w.agent.Start()
			}
			t0 := time.Now()
			w.waitSeqs(11, 20, 60*time.Second)
			t.Logf("lines after the rotation arrived %s after it", time.Since(t0).Round(time.Millisecond))
			// Lines read: 10 before, the merged one, 11..19 (and, after a
			// restart, only what the second process read).
			want := 20.0
			if restart {
				want = 10
			}
			m := w.settled(want, 20*time.Second)
			if v := m.Sum("ferry_tail_partial_lines_cut_total"); v != 0 {
				t.Errorf(`ferry_tail_partial_lines_cut_total = %v, want 0 (the line is merged across the rotation)`, v)
			}
			var got []string
			for _, r := range w.records() {
				if strings.HasPrefix(r.Message, "h-seq=10 ") || strings.HasPrefix(r.Message, "bbb") {
					got = append(got, fmt.Sprintf("%.12q...(%d bytes, truncated=%v)", r.Message, len(r.Message), r.Truncated))
				}
			}
			var whole bool
			for _, r := range w.records() {
				whole = whole || (r.Message == head+tail && !r.Truncated)
			}
			if len(got) != 1 || !whole {
				t.Errorf("the line split by rotation arrived as %d records %v, want it once, whole and not flagged", len(got), got)
			}
			t.Logf("the line split by rotation arrived as %v", got)
			w.check(0, 20, false)
			t3 := time.Now()
			stop(t, p)
			t.Logf("SIGTERM took %s", time.Since(t3).Round(time.Millisecond))
			if time.Since(t3) > 5*time.Second {
				t.Errorf("SIGTERM took %s with nothing in flight:\n%s", time.Since(t3).Round(time.Millisecond), tailOf(p.Output(), 3000))
			}
		})
	}
}

// TestRotationUndone: kubelet renames 0.log to 0.log.<ts> and, because the
// runtime could not reopen, renames it back; the container keeps writing to
// the same file. Nothing is lost, nothing is read twice.
func TestRotationUndone(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"poll_interval: 100ms", "rescan_interval: 200ms"}})
	w.lines(w.path, 0, 50)
	p := w.agent.Start()
	w.waitSeqs(0, 50, 30*time.Second)
	rot := w.path + ".20261126-035509"
	must(t, os.Rename(w.path, rot))
	w.lines(rot, 50, 100) // the container still writes through its descriptor
	waitFor(t, "the rotation counted", 10*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_rotations_total") >= 1
	})
	w.waitSeqs(50, 100, 30*time.Second)
	must(t, os.Rename(rot, w.path))
	w.lines(w.path, 100, 150)
	w.waitSeqs(100, 150, 30*time.Second)
	// A second cycle, while the agent is stopped in between.
	stop(t, p)
	must(t, os.Rename(w.path, rot))
	w.lines(rot, 150, 200)
	must(t, os.Rename(rot, w.path))
	w.lines(w.path, 200, 250)
	p = w.agent.Start()
	w.waitSeqs(150, 250, 30*time.Second)
	w.lines(w.path, 250, 251)
	w.waitSeqs(250, 251, 30*time.Second)
	w.agent.WaitBalanced(20 * time.Second)
	w.check(0, 251, false)
	stop(t, p)
}

// TestNotAFileAsLog: a FIFO, a directory and a dangling symlink named
// 0.log beside a normal container: the agent neither blocks on the FIFO
// nor stops reading the others, and exits on SIGTERM.
func TestNotAFileAsLog(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"rescan_interval: 200ms"}})
	mk := func(pod string) string {
		p := filepath.Join(w.root, "ns_"+pod+"_uid", "app", "0.log")
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		return p
	}
	must(t, syscall.Mkfifo(mk("fifo"), 0o644))
	must(t, os.Mkdir(mk("dir"), 0o755))
	must(t, os.Symlink(filepath.Join(w.dir, "nowhere"), mk("dangling")))
	w.lines(w.path, 0, 50)
	p := w.agent.Start()
	w.waitSeqs(0, 50, 30*time.Second)
	// A FIFO that appears later, after a file of that name was followed.
	late := mk("late")
	w.lines(late, 1000, 1010)
	w.waitSeqs(1000, 1010, 30*time.Second)
	must(t, os.Remove(late))
	must(t, syscall.Mkfifo(late, 0o644))
	// The dangling symlink now points at a FIFO.
	must(t, syscall.Mkfifo(filepath.Join(w.dir, "nowhere"), 0o644))
	w.lines(w.path, 50, 100)
	w.waitSeqs(50, 100, 30*time.Second)
	w.agent.WaitHTTP("/healthz", 200, 5*time.Second)
	w.check(0, 100, false)
	stop(t, p)
}

// TestSymlinkOutsideRoot: 0.log is a symlink to a file outside the log
// root (a secret only root may read). The agent runs as root; does it ship
// the file's content?
func TestSymlinkOutsideRoot(t *testing.T) {
	w := newWorld(t, worldOpt{})
	secret := filepath.Join(w.dir, "etc-shadow")
	must(t, os.WriteFile(secret, []byte("root:$6$SECRET-HASH:19000:0:99999:7:::\n"), 0o600))
	evil := filepath.Join(w.root, "ns_evil_uid", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(evil), 0o755))
	must(t, os.Symlink(secret, evil))
	w.lines(w.path, 0, 20)
	p := w.agent.Start()
	w.waitSeqs(0, 20, 30*time.Second)
	w.lines(w.path, 20, 21) // the sentinel, after one more scan
	w.waitSeqs(20, 21, 30*time.Second)
	for _, r := range w.records() {
		if strings.Contains(r.Message, "SECRET-HASH") {
			t.Errorf("a file outside the log root, reached by a symlink, was shipped: %q from %s", r.Message, r.File)
		}
	}
	stop(t, p)
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	must(t, err)
	return fi.Size()
}
