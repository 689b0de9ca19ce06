package tail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lines returns CRI lines with sequence numbers from..to-1.
func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(criLine("stdout", "F", fmt.Sprintf("seq=%d %s", i, strings.Repeat("x", i%50))))
	}
	return b.String()
}

func seqs(recs []rec) []int {
	out := []int{}
	for _, r := range recs {
		n, ok := seqOf(r.body)
		if !ok {
			n = -1
		}
		out = append(out, n)
	}
	return out
}

func upto(from, to int) []int {
	out := []int{}
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func mkContainer(t *testing.T, dir, pod string) string {
	t.Helper()
	d := filepath.Join(dir, pod, "app")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "0.log")
}

// blockedRunner starts a tailer whose consumer holds every ack and whose
// in-flight limit is one byte, so that after one read it reads nothing more
// until the acks are released.
func blockedRunner(t *testing.T, dir string, first string, path string) *runner {
	t.Helper()
	appendFile(t, path, first)
	cfg := testConfig(dir, t.TempDir())
	cfg.DeleteWait = 200 * time.Millisecond
	// One byte: below any line, which Validate refuses, so set after New.
	r := startRunnerTuned(t, cfg, Options{}, slog.New(slog.DiscardHandler), func(tl *Tailer) { tl.cfg.MaxInflightBytes = 1 })
	r.setHold(true)
	n := strings.Count(first, "\n")
	waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == n })
	r.looked(2) // several polls: it stays blocked
	if len(r.snapshot()) != n {
		t.Fatalf("read past the in-flight limit")
	}
	return r
}

func TestCopyTruncate(t *testing.T) {
	for _, withCopy := range []bool{true, false} {
		t.Run(fmt.Sprintf("copy=%v", withCopy), func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			r := blockedRunner(t, dir, lines(0, 10), path)
			unread := lines(10, 20)
			appendFile(t, path, unread)
			// The tailer sees the unread bytes at its next poll.
			waitFor(t, 5*time.Second, "bytes behind", func() bool { return testutil.ToFloat64(r.tl.m.behind) == float64(len(unread)) })
			if withCopy {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path+".1", data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(20, 30)) // longer than before: only the fingerprint tells
			waitFor(t, 5*time.Second, "truncation seen", func() bool { return testutil.ToFloat64(r.tl.m.truncations) == 1 })
			r.setHold(false)
			want := append(upto(0, 10), upto(20, 30)...)
			if withCopy {
				want = upto(0, 30)
			}
			waitFor(t, 5*time.Second, "all lines", func() bool { return len(r.snapshot()) >= len(want) })
			r.settle()
			r.stop()
			if diff := cmp.Diff(want, seqs(r.snapshot())); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated))
			wantLost := float64(len(unread))
			if withCopy {
				wantLost = 0
			}
			if lost != wantLost {
				t.Fatalf("lost bytes = %v, want %v", lost, wantLost)
			}
			for _, x := range r.snapshot() {
				if x.path != path {
					t.Fatalf("line under path %s", x.path)
				}
			}
		})
	}
}

func TestDeletedBeforeRead(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := blockedRunner(t, dir, lines(0, 10), path)
	unread := lines(10, 20) + "2026-11-26T03:55:09Z stdout F seq=20 unterminated"
	appendFile(t, path, unread)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	lost := r.tl.m.lost.WithLabelValues(lostDeleted)
	waitFor(t, 5*time.Second, "deleted file closed", func() bool {
		return testutil.ToFloat64(lost) > 0 && testutil.ToFloat64(r.tl.m.openFiles) == 0
	})
	if got := testutil.ToFloat64(lost); got != float64(len(unread)) {
		t.Fatalf("lost %v bytes, want exactly %d", got, len(unread))
	}
	if got := testutil.ToFloat64(r.tl.m.openFiles); got != 0 {
		t.Fatalf("open files = %v", got)
	}
	if got := testutil.ToFloat64(r.tl.m.backpressure); got <= 0 {
		t.Fatalf("backpressure seconds = %v while blocked", got)
	}
	r.setHold(false)
	r.settle()
	r.stop()
	if diff := cmp.Diff(upto(0, 10), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// readState decodes the state file in dir.
func readState(t *testing.T, dir string) stateFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func writeStateFor(t *testing.T, state, path string, fp []byte, offset int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := writeState(state, []stateEntry{{Dev: uint64(st.Dev), Ino: st.Ino, FingerprintLen: len(fp), Fingerprint: fpHash(fp), Path: path, Offset: offset}}); err != nil {
		t.Fatal(err)
	}
}

func TestResumeAndInodeReuse(t *testing.T) {
	content := lines(0, 10)
	third := int64(len(lines(0, 3)))
	tests := []struct {
		name   string
		fp     []byte
		offset int64
		want   []int
	}{
		{"same file resumes", []byte(content[:100]), third, upto(3, 10)},
		{"whole first KiB", []byte(content[:min(len(content), fpSize)]), third, upto(3, 10)},
		{"reused inode, other start", []byte("2026-11-26T03:55:09Z stdout F seq=99 another file"), third, upto(0, 10)},
		{"shorter than checkpoint", []byte(content[:10]), int64(len(content) + 100), upto(0, 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, content)
			writeStateFor(t, state, path, tc.fp, tc.offset)
			cfg := testConfig(dir, state)
			cfg.StartAt = "end" // not fresh: start_at must not apply
			r := startRunner(t, cfg, Options{})
			waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) >= len(tc.want) })
			r.settle()
			r.stop()
			if diff := cmp.Diff(tc.want, seqs(r.snapshot())); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestInodeReuseAcrossRestart deletes a file while no tailer runs and
// creates another at the same path (ext4 and tmpfs tend to hand out the
// freed inode again): the new file is read from 0.
func TestInodeReuseAcrossRestart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 50))
	r := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) == 50 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(100, 160))
	after, _ := os.Stat(path)
	t.Logf("inode reused: %v", before.Sys().(*syscall.Stat_t).Ino == after.Sys().(*syscall.Stat_t).Ino)
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r2.snapshot()) >= 60 })
	r2.stop()
	if diff := cmp.Diff(upto(100, 160), seqs(r2.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5)+"2026-11-26T03:55:09Z stdout F seq=5 half")
	cfg := testConfig(dir, t.TempDir())
	cfg.StartAt = "end"
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the start's scan", func() bool { return r.tl.rescans.Load() > 0 })
	appendFile(t, path, " written\n"+lines(6, 8))
	path2 := mkContainer(t, dir, "ns_pod2_uid") // appears while running: from 0
	appendFile(t, path2, lines(100, 102))
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) >= 5 })
	r.settle()
	r.stop()
	got := seqs(r.snapshot())
	var a, b []int
	for i, n := range got {
		if r.snapshot()[i].path == path {
			a = append(a, n)
		} else {
			b = append(b, n)
		}
	}
	if diff := cmp.Diff([]int{5, 6, 7}, a); diff != "" {
		t.Fatalf("start_at end (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{100, 101}, b); diff != "" {
		t.Fatalf("new file (-want +got):\n%s", diff)
	}
}

func TestCorruptStateSetAside(t *testing.T) {
	for _, garbage := range []string{"{not json", `{"version":99,"files":[]}`, `{"version":1,"files":{}}`, ""} {
		t.Run(garbage, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 5))
			if err := os.WriteFile(filepath.Join(state, stateName), []byte(garbage), 0o600); err != nil {
				t.Fatal(err)
			}
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) == 5 })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			aside, err := os.ReadFile(filepath.Join(state, stateName+".corrupt"))
			if err != nil || string(aside) != garbage {
				t.Fatalf("corrupt state not set aside: %q %v", aside, err)
			}
			st := readState(t, state)
			if st.Version != 1 || len(st.Files) != 1 || st.Files[0].Offset != int64(len(lines(0, 5))) {
				t.Fatalf("state after recovery: %+v", st)
			}
		})
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStateDirUnwritable(t *testing.T) {
	dir, base := t.TempDir(), t.TempDir()
	blocker := filepath.Join(base, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(blocker, "state") // a directory under a file: cannot exist
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	var logs lockedBuffer
	r := startRunnerLog(t, testConfig(dir, state), Options{}, slog.New(slog.NewTextHandler(&logs, nil)))
	appendFile(t, path, lines(5, 10))
	waitFor(t, 5*time.Second, "lines despite the state dir", func() bool { return len(r.snapshot()) == 10 })
	waitFor(t, 5*time.Second, "several failed commits", func() bool { return testutil.ToFloat64(r.tl.m.commitErrors) >= 3 })
	if n := strings.Count(logs.String(), "cannot write checkpoint"); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, logs.String())
	}
	// The directory becomes writable: commits resume by themselves.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(10, 11))
	waitFor(t, 5*time.Second, "a commit", func() bool { return testutil.ToFloat64(r.tl.m.commits) >= 1 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, state); len(st.Files) != 1 || st.Files[0].Offset != int64(len(lines(0, 11))) {
		t.Fatalf("state: %+v", st)
	}
	if !strings.Contains(logs.String(), "checkpoint written again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
}

func TestSymlinkReadOnce(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 20))
	links := filepath.Join(dir, "containers")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(links, "pod_ns_app-0123.log")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.Include = append(cfg.Include, filepath.Join(links, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) >= 20 })
	appendFile(t, path, lines(20, 25))
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) >= 25 })
	r.settle() // past a rescan
	r.stop()
	if diff := cmp.Diff(upto(0, 25), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.openFiles); got != 0 {
		t.Fatalf("open files after Run = %v", got)
	}
}

type excludeSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (e *excludeSet) Excluded(p string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[p]
}

func TestExcluder(t *testing.T) {
	dir := t.TempDir()
	a, b := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, a, lines(0, 3))
	appendFile(t, b, lines(10, 13))
	ex := &excludeSet{m: map[string]bool{b: true}}
	cfg := testConfig(dir, t.TempDir())
	cfg.Exclude = []string{filepath.Join(dir, "ns_c_uid", "*", "*.log")}
	r := startRunner(t, cfg, Options{Excluder: ex})
	c := mkContainer(t, dir, "ns_c_uid")
	appendFile(t, c, lines(20, 23))
	waitFor(t, 5*time.Second, "a", func() bool { return len(r.snapshot()) >= 3 })
	r.settle()
	if diff := cmp.Diff(upto(0, 3), seqs(r.snapshot())); diff != "" {
		t.Fatalf("excluded files read (-want +got):\n%s", diff)
	}
	ex.mu.Lock()
	ex.m[b] = false // the pod showed up: read on the next rescan
	ex.mu.Unlock()
	waitFor(t, 5*time.Second, "b", func() bool { return len(r.snapshot()) >= 6 })
	r.stop()
	if diff := cmp.Diff(append(upto(0, 3), upto(10, 13)...), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestPruneVanished(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 3))
	gone := mkContainer(t, dir, "ns_gone_uid")
	appendFile(t, gone, lines(0, 3))
	writeStateFor(t, state, gone, []byte(lines(0, 1)), 10)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) == 3 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	st := readState(t, state)
	if len(st.Files) != 1 || st.Files[0].Path != path {
		t.Fatalf("vanished file not pruned: %+v", st.Files)
	}
}

// TestRotatedAwayUnderBackpressure: the sink is stalled, kubelet rotates and
// compresses the file the tailer has not finished: the rotated file is read
// through its descriptor until delete_wait, then its unread bytes are counted
// as lost, to the byte, and the new file is read whole.
func TestRotatedAwayUnderBackpressure(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := blockedRunner(t, dir, lines(0, 10), path)
	unread := lines(10, 20)
	appendFile(t, path, unread)
	waitFor(t, 5*time.Second, "bytes behind", func() bool { return testutil.ToFloat64(r.tl.m.behind) == float64(len(unread)) })
	rotated := path + ".20261126-035509"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(20, 30))
	if err := os.Remove(rotated); err != nil { // compressed away
		t.Fatal(err)
	}
	lost := r.tl.m.lost.WithLabelValues(lostDeleted)
	waitFor(t, 5*time.Second, "rotated file given up", func() bool { return testutil.ToFloat64(lost) > 0 })
	if got := testutil.ToFloat64(lost); got != float64(len(unread)) {
		t.Fatalf("lost %v bytes, want %d", got, len(unread))
	}
	r.setHold(false)
	waitFor(t, 5*time.Second, "new file", func() bool { return len(r.snapshot()) >= 20 })
	r.settle()
	r.stop()
	if diff := cmp.Diff(append(upto(0, 10), upto(20, 30)...), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestEndMarkers: with Options.EndMarkers, a file the tailer is done with
// (truncated, or rotated and read to its end) is followed by one End
// marker per stream, after its last line and carrying its source; without
// the option there are none.
func TestEndMarkers(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_a_uid1")
			appendFile(t, path, lines(0, 10))
			r := startRunner(t, testConfig(dir, state), Options{EndMarkers: on})
			defer r.stop()
			waitFor(t, 5*time.Second, "the first lines", func() bool { return nLines(r.snapshot()) == 10 })
			must(t, os.Truncate(path, 0))
			appendFile(t, path, lines(10, 12))
			waitFor(t, 5*time.Second, "the lines after the truncation", func() bool { return nLines(r.snapshot()) == 12 })
			must(t, os.Rename(path, path+".20261204-101500"))
			appendFile(t, path, lines(12, 14))
			waitFor(t, 5*time.Second, "the new file's lines", func() bool { return nLines(r.snapshot()) == 14 })
			want := 0
			if on {
				want = 4 // the truncated file's content, then the rotated file
				waitFor(t, 10*time.Second, "the rotated file's markers", func() bool {
					n := 0
					for _, x := range r.snapshot() {
						if x.end {
							n++
						}
					}
					return n == want
				})
			}
			var got []string
			last := map[uint64]int{} // source -> index of its last line
			for i, x := range r.snapshot() {
				if !x.end {
					last[x.cursor.Source] = i
					continue
				}
				got = append(got, x.stream.String())
				if i < last[x.cursor.Source] || x.body != "" || x.cursor.Offset != 0 {
					t.Errorf("marker %d of source %d: before the file's last line (%d), or with a body or offset", i, x.cursor.Source, last[x.cursor.Source])
				}
			}
			if len(got) != want {
				t.Errorf("%d markers %v, want %d", len(got), got, want)
			}
		})
	}
}

// nLines counts the lines among recs (not the end markers).
func nLines(recs []rec) int {
	n := 0
	for _, r := range recs {
		if !r.end {
			n++
		}
	}
	return n
}
