package tail

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/event"
)

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustTruncate(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// firstRun reads seq 0-99 of path, acknowledges them and stops gracefully.
func firstRun(t *testing.T, cfg Config, path string) {
	t.Helper()
	appendFile(t, path, lines(0, 100))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 100 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRotationWhileStopped: while no tailer runs, kubelet rotates the
// checkpointed file twice, and then compresses or deletes it, or the new
// 0.log takes its inode. The next tailer reads every rotated file newer than
// the checkpoint in order, then the current file; only a deleted file is
// lost, and it is counted.
func TestRotationWhileStopped(t *testing.T) {
	const ts1, ts2 = ".20261126-035509", ".20261126-035510"
	for _, tc := range []struct {
		name      string
		away      func(t *testing.T, path, state string) // what happens to path+ts1 after both rotations
		want      []int
		lostFiles float64
	}{
		{
			name: "compressed",
			away: func(t *testing.T, path, _ string) { mustGzip(t, path+ts1) },
			want: upto(100, 250),
		},
		{
			name: "compressed, inode reused by the new file",
			away: func(t *testing.T, path, state string) {
				mustGzip(t, path+ts1)
				// The checkpoint's inode now names the current 0.log (as a
				// file system that reuses inodes does).
				st := readState(t, state)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				sys := fi.Sys().(*syscall.Stat_t)
				st.Files[0].Dev, st.Files[0].Ino = uint64(sys.Dev), sys.Ino
				if err := writeState(state, st.Files); err != nil {
					t.Fatal(err)
				}
			},
			want: upto(100, 250),
		},
		{
			name: "compressed twice (multistream)",
			away: func(t *testing.T, path, _ string) {
				// Two gzip members in one file read as one stream.
				data, err := os.ReadFile(path + ts1)
				if err != nil {
					t.Fatal(err)
				}
				out, err := os.Create(path + ts1 + ".gz")
				if err != nil {
					t.Fatal(err)
				}
				for _, part := range [][]byte{data[:len(data)/3], data[len(data)/3:]} {
					zw := gzip.NewWriter(out)
					_, _ = zw.Write(part)
					_ = zw.Close()
				}
				_ = out.Close()
				_ = os.Remove(path + ts1)
			},
			want: upto(100, 250),
		},
		{
			name:      "deleted",
			away:      func(t *testing.T, path, _ string) { _ = os.Remove(path + ts1) },
			want:      upto(150, 250),
			lostFiles: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			firstRun(t, cfg, path)
			appendFile(t, path, lines(100, 150))
			mustRename(t, path, path+ts1)
			appendFile(t, path, lines(150, 200))
			mustRename(t, path, path+ts2)
			appendFile(t, path, lines(200, 250))
			tc.away(t, path, state)

			r := startRunner(t, cfg, Options{})
			appendFile(t, path, lines(250, 251)) // the sentinel: the last line
			waitFor(t, 5*time.Second, "the sentinel", func() bool {
				s := seqs(r.snapshot())
				return len(s) > 0 && s[len(s)-1] == 250
			})
			r.stop()
			got := seqs(r.snapshot())
			if diff := cmp.Diff(append(tc.want, 250), got); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); got != tc.lostFiles {
				t.Errorf("lost files = %v, want %v", got, tc.lostFiles)
			}
		})
	}
}

// TestPodVanishedWhileStopped: a checkpointed pod directory deleted while no
// tailer ran is a counted loss, not only a warning.
func TestPodVanishedWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	firstRun(t, cfg, path)
	if err := os.RemoveAll(filepath.Dir(filepath.Dir(path))); err != nil {
		t.Fatal(err)
	}
	other := mkContainer(t, dir, "ns_other_uid")
	appendFile(t, other, lines(0, 5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the other pod", func() bool { return len(r.snapshot()) == 5 })
	r.stop()
	if got := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("lost files = %v, want 1", got)
	}
}

// TestRotatedAfterCompressed: while running, files kubelet rotated after the
// one the tailer knew, and compressed before the tailer opened them, are
// found by kubelet's order and read (inflated), newest last; older ones and
// the reference itself (compressed too) are not read again.
func TestRotatedAfterCompressed(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl := newIdleTailer(t, dir)
	for i, ts := range []string{".20261126-035508", ".20261126-035509", ".20261126-035510", ".20261126-035511"} {
		appendFile(t, path+ts, lines(i*5, i*5+5))
		if i < 3 {
			mustGzip(t, path+ts)
		}
	}
	ref, err := os.Stat(path + ".20261126-035511")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range tl.rotatedAfter(path, ref, fileKey{}, []byte(lines(5, 10)), false, 0, time.Time{}, nil, nil, time.Now()) {
		got = append(got, filepath.Base(f.path))
		if f.dec.path != path || f.st != stDraining || f.off != 0 {
			t.Errorf("%s: path %s state %v offset %d", f.path, f.dec.path, f.st, f.off)
		}
	}
	if diff := cmp.Diff([]string{"0.log.20261126-035510.gz", "0.log.20261126-035511"}, got); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
}

// TestNewPodRotatedWhileStopped: a pod that appeared while no tailer ran and
// whose log was already rotated has its rotated file read, before 0.log.
func TestNewPodRotatedWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	firstRun(t, cfg, mkContainer(t, dir, "ns_pod_uid"))
	path := mkContainer(t, dir, "ns_new_uid")
	appendFile(t, path, lines(1000, 1010))
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, lines(1010, 1020))
	readsNewPod(t, cfg)
}

// TestSiblingOrder: kubelet's names sort by their timestamp whatever the
// files' times; other rotators' names (logrotate's 0.log.1 is newer than
// 0.log.2) by last write.
func TestSiblingOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	t0 := time.Unix(1_700_000_000, 0)
	mk := func(name string, age int) {
		appendFile(t, filepath.Join(dir, name), "x\n")
		if err := os.Chtimes(filepath.Join(dir, name), t0, t0.Add(-time.Duration(age)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		var out []string
		for _, s := range listSiblings(path) {
			out = append(out, filepath.Base(s.path))
		}
		return out
	}
	mk("0.log.20261126-035509.gz", 0) // compressed last, rotated first
	mk("0.log.20261126-035510", 5)
	mk("0.log.20261126-035510.gz.tmp", 0)
	if diff := cmp.Diff([]string{"0.log.20261126-035509.gz", "0.log.20261126-035510"}, names()); diff != "" {
		t.Errorf("kubelet (-want +got):\n%s", diff)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "0.log")
	mk("0.log.1", 1)
	mk("0.log.2.gz", 2)
	if diff := cmp.Diff([]string{"0.log.2.gz", "0.log.1"}, names()); diff != "" {
		t.Errorf("logrotate (-want +got):\n%s", diff)
	}
}

// mustGzip compresses a rotated file as the kubelet does (simnode.GzipFile).
func mustGzip(t *testing.T, path string) {
	t.Helper()
	if err := simnode.GzipFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestNewPathRotatedBeforeSeen: a path first found while running whose log
// kubelet rotated (once plainly, once compressed) before the tailer looked
// has those rotated files read first, oldest first; a rotated file last
// written before the agents began to follow the node is history, not read.
// Found again, the path's siblings are not read twice.
func TestNewPathRotatedBeforeSeen(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	start := time.Now()
	tl.loadState(start)
	path := mkContainer(t, dir, "ns_new_uid")
	appendFile(t, path+".20261126-035500", lines(0, 5)) // history from before any agent
	old := start.Add(-time.Hour)
	if err := os.Chtimes(path+".20261126-035500", old, old); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".20261126-035508", lines(5, 10))
	mustGzip(t, path+".20261126-035508")
	appendFile(t, path+".20261126-035509", lines(10, 15))
	appendFile(t, path, lines(15, 20))
	tl.discover(path, time.Now(), false)
	cur := tl.byPath[path]
	if cur == nil {
		t.Fatal("path not followed")
	}
	var chain []string
	for f := cur.pred; f != nil; f = f.pred {
		chain = append([]string{filepath.Base(f.path)}, chain...)
		if f.off != 0 || f.st != stDraining {
			t.Errorf("%s: offset %d state %v, want 0, draining", f.path, f.off, f.st)
		}
	}
	if diff := cmp.Diff([]string{"0.log.20261126-035508.gz", "0.log.20261126-035509"}, chain); diff != "" {
		t.Errorf("read before 0.log (-want +got):\n%s", diff)
	}
	// Every file closed, as if 0.log was deleted and then came back: the
	// rotated files are not read again.
	for f := cur.pred; f != nil; f = f.pred {
		tl.closeFollower(f, evEnd)
	}
	cur.fire(evUnlinked, time.Now())
	tl.closeFollower(cur, evEnd)
	delete(tl.lastRotated, path)
	n := len(tl.order)
	tl.discover(path, time.Now(), false)
	if got := len(tl.order) - n; got != 1 {
		t.Errorf("found again: %d files opened, want 1 (0.log only)", got)
	}
}

// TestPathNeverSeenBeforeStop: the last agent ran while a new pod's log was
// written and rotated, and stopped before it looked (so its checkpoint does
// not name the path, and the rotated file is older than the checkpoint).
// The next agent reads the rotated file: it was written after the agents
// began to follow the node (the checkpoint's since), so none of them read it.
func TestPathNeverSeenBeforeStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	firstRun(t, cfg, mkContainer(t, dir, "ns_pod_uid"))
	since := loadSince(state)
	if since.IsZero() {
		t.Fatal("no tail.since beside the checkpoint")
	}
	// The agents have followed the node for an hour.
	since = since.Add(-time.Hour)
	if err := writeSince(state, since); err != nil {
		t.Fatal(err)
	}
	path := mkContainer(t, dir, "ns_new_uid")
	appendFile(t, path+".20261126-035509", lines(1000, 1010))
	during := since.Add(30 * time.Minute) // while the last agent ran
	if err := os.Chtimes(path+".20261126-035509", during, during); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(1010, 1020))
	readsNewPod(t, cfg)
}

// TestFileSetCheckpointedSoon: the checkpoint is written at once, not at the
// next commit_interval, when a file is first followed (an agent killed
// right after must leave a checkpoint that names it, so that its loss is
// counted if kubelet deletes it before the next agent runs) and when a
// rotated file was read to its end and every line of it acknowledged (an
// agent killed right after kubelet deleted that file must not find it in
// its checkpoint: it would count it as lost).
func TestFileSetCheckpointedSoon(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.CommitInterval = time.Hour
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 10))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	rotatedIno := fi.Sys().(*syscall.Stat_t).Ino
	r := startRunner(t, cfg, Options{})
	defer r.stop()
	waitFor(t, 5*time.Second, "a checkpoint naming the file found at start", func() bool {
		m, ok, _, err := loadState(state)
		if err != nil || !ok {
			return false
		}
		for _, e := range m {
			if e.Ino == rotatedIno {
				return true
			}
		}
		return false
	})
	waitFor(t, 5*time.Second, "first lines", func() bool { return hasSeq(r, 9) })
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, lines(10, 20))
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r, 19) })
	waitFor(t, 5*time.Second, "a checkpoint with the rotated file finished (its anchor)", func() bool {
		m, ok, _, err := loadState(state)
		if err != nil || !ok {
			return false
		}
		live := 0
		for _, e := range m {
			if e.Ino == rotatedIno && !e.Done {
				return false
			}
			if !e.Done {
				live++
			}
		}
		return live == 1
	})
}

// TestEmptyCheckpointedFileInodeReused: the checkpoint was written while its
// file was still empty (no first bytes to know it by); while no tailer ran
// the file was written, rotated, and deleted, and the new 0.log got its
// inode. The next tailer must not take the new file for the checkpointed one
// (and skip the rotated file written after the checkpoint): a file rotated
// since the checkpoint says the checkpointed file is no longer current.
func TestEmptyCheckpointedFileInodeReused(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	emptyCheckpoint(t, cfg, path)
	appendFile(t, path, lines(0, 50))
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, lines(50, 100))
	// The checkpoint's inode now names the current 0.log.
	reuseInode(t, state, path)
	r := startRunner(t, cfg, Options{})
	appendFile(t, path, lines(100, 101)) // the sentinel
	waitFor(t, 5*time.Second, "the sentinel", func() bool { return hasSeq(r, 100) })
	r.stop()
	if diff := cmp.Diff(upto(0, 101), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("lost files = %v, want 1 (the checkpointed file is not found)", got)
	}
}

// TestCompressedInflatedInTurn: a compressed rotated file is inflated only
// when its turn to be read comes, at most maxInflated at once; one that
// kubelet deleted before its turn is counted lost and closed.
func TestCompressedInflatedInTurn(t *testing.T) {
	dir := t.TempDir()
	tl, err := New(testConfig(dir, t.TempDir()), nil, make(chan []event.Log, 16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	tl.loadState(time.Now())
	var fs []*follower
	for i := range maxInflated + 2 {
		path := mkContainer(t, dir, fmt.Sprintf("ns_pod%d_uid", i))
		appendFile(t, path+".20261126-035509", lines(i*10, i*10+10))
		mustGzip(t, path+".20261126-035509")
		fs = append(fs, tl.openSibling(path, listSiblings(path)[0], nil, time.Now()))
	}
	for _, f := range fs {
		if f == nil || f.f != nil || f.gz == "" {
			t.Fatalf("compressed sibling opened as %+v, want waiting to be inflated", f)
		}
	}
	for i, f := range fs {
		if got, want := tl.inflateTurn(f), i < maxInflated; got != want {
			t.Errorf("file %d inflated: %v, want %v (at most %d at once)", i, got, want, maxInflated)
		}
	}
	if err := os.Remove(fs[len(fs)-1].gz); err != nil {
		t.Fatal(err)
	}
	tl.closeFollower(fs[0], evEnd) // read: a slot is free
	if tl.inflateTurn(fs[len(fs)-1]) || fs[len(fs)-1].st != stClosed {
		t.Errorf("deleted before its turn: inflated, or not closed (state %v)", fs[len(fs)-1].st)
	}
	if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("lost files = %v, want 1", got)
	}
	if !tl.inflateTurn(fs[maxInflated]) || tl.inflatedNow != maxInflated {
		t.Errorf("the waiting file was not inflated into the free slot (%d inflated)", tl.inflatedNow)
	}
}

// TestEmptyEntryInodeReusedBySibling: as TestEmptyCheckpointedFileInodeReused,
// but the file that got the checkpointed inode was rotated too: it is a
// plain sibling, after compressed ones written since the checkpoint. Its
// birth time (after the checkpoint) says it is not the checkpointed file:
// every sibling written since is read, not only the ones after it.
func TestEmptyEntryInodeReusedBySibling(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	probe := filepath.Join(dir, "probe")
	appendFile(t, probe, "")
	if !bornAfter(probe, time.Now().Add(-time.Hour)) {
		t.Skip("the file system keeps no birth time")
	}
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	emptyCheckpoint(t, cfg, path)
	appendFile(t, path, lines(0, 20))
	mustRename(t, path, path+".20261126-035501")
	mustGzip(t, path+".20261126-035501")
	appendFile(t, path, lines(20, 40))
	mustRename(t, path, path+".20261126-035502")
	appendFile(t, path, lines(40, 60))
	// The checkpoint's inode is now the newest rotated file's.
	reuseInode(t, state, path+".20261126-035502")
	r := startRunner(t, cfg, Options{})
	appendFile(t, path, lines(60, 61))
	waitFor(t, 5*time.Second, "the sentinel", func() bool { return hasSeq(r, 60) })
	r.stop()
	if diff := cmp.Diff(upto(0, 61), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
}

// emptyCheckpoint runs a tailer on an empty 0.log until its checkpoint names
// it (an entry without fingerprint) and stops it gracefully.
func emptyCheckpoint(t *testing.T, cfg Config, path string) {
	t.Helper()
	appendFile(t, path, "")
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "a checkpoint naming the empty file", func() bool {
		m, ok, _, err := loadState(cfg.StateDir)
		return err == nil && ok && len(m) == 1
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, cfg.StateDir); len(st.Files) != 1 || st.Files[0].FingerprintLen != 0 {
		t.Fatalf("checkpoint %+v, want one entry without fingerprint", st.Files)
	}
}

// reuseInode makes the checkpoint's one entry name the inode of path now
// (as a file system that reuses inodes does) and dates the checkpoint a
// minute back, before what was written since.
func reuseInode(t *testing.T, state, path string) {
	t.Helper()
	st := readState(t, state)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := fi.Sys().(*syscall.Stat_t)
	st.Files[0].Dev, st.Files[0].Ino = uint64(sys.Dev), sys.Ino
	if err := writeState(state, st.Files); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(state, stateName), before, before); err != nil {
		t.Fatal(err)
	}
}

// TestRotatedAfterDeletedRef: while running, the file the tailer knew last
// at a path was rotated, compressed and deleted before the tailer looked
// again, and so was the next one (compressed, not deleted yet). Every
// sibling left is newer than the deleted one (kubelet deletes the oldest
// first): the compressed one too, not only the plain ones written after it.
func TestRotatedAfterDeletedRef(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl := newIdleTailer(t, dir)
	gone := path + ".20261126-035505"
	appendFile(t, gone, lines(0, 5))
	ref, err := os.Stat(gone)
	if err != nil {
		t.Fatal(err)
	}
	refKey, _ := keyOf(ref)
	appendFile(t, path+".20261126-035506", lines(5, 10))
	mustGzip(t, path+".20261126-035506")
	appendFile(t, path+".20261126-035507", lines(10, 15))
	// Deleted last, so that no file above reuses its inode.
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range tl.rotatedAfter(path, ref, refKey, []byte(lines(0, 5)), false, 0, time.Time{}, nil, nil, time.Now()) {
		got = append(got, filepath.Base(f.path))
	}
	if diff := cmp.Diff([]string{"0.log.20261126-035506.gz", "0.log.20261126-035507"}, got); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
}

// readsNewPod starts a tailer on cfg and checks that it reads a new pod's
// lines 1000-1019, the rotated file's (1000-1009) first, and nothing else.
func readsNewPod(t *testing.T, cfg Config) {
	t.Helper()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the new pod", func() bool { return hasSeq(r, 1019) })
	r.stop()
	if diff := cmp.Diff(upto(1000, 1020), seqs(r.snapshot())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestFirstBytesCheckpointedSoon: a file checkpointed while empty is known
// by its inode alone. When its first bytes arrive, the checkpoint takes
// them at once (not at the next commit_interval): an agent killed after
// that leaves an entry that still matches the file once kubelet has
// rotated and compressed it while no agent ran. Before, the entry stayed
// without fingerprint for up to commit_interval, and the next agent
// counted the file as vanished though all of it was on disk (test/model,
// seed 37).
func TestFirstBytesCheckpointedSoon(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	cfg.CommitInterval = time.Hour
	appendFile(t, path, "")
	r := startRunner(t, cfg, Options{})
	entry := func() (stateEntry, bool) {
		m, ok, _, err := loadState(state)
		if err != nil || !ok || len(m) != 1 {
			return stateEntry{}, false
		}
		for _, e := range m {
			return e, true
		}
		return stateEntry{}, false
	}
	waitFor(t, 5*time.Second, "a checkpoint naming the empty file", func() bool {
		_, ok := entry()
		return ok
	})
	if e, _ := entry(); e.FingerprintLen != 0 {
		t.Fatalf("first checkpoint %+v, want one entry without fingerprint", e)
	}
	appendFile(t, path, lines(0, 20))
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 19) })
	waitFor(t, 5*time.Second, "a checkpoint with the file's first bytes, long before commit_interval", func() bool {
		e, ok := entry()
		return ok && e.FingerprintLen > 0
	})
	r.stop() // no Close: the checkpoint is what a SIGKILL leaves
	// While no agent runs, kubelet rotates the file and compresses it.
	mustRename(t, path, path+".20261126-035509")
	mustGzip(t, path+".20261126-035509")
	appendFile(t, path, lines(20, 30))
	r2 := startRunner(t, cfg, Options{})
	defer r2.stop()
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r2, 29) })
	if got := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
		t.Errorf("lost files = %v, want 0: the checkpointed file is on disk, compressed", got)
	}
}

// TestDeletedAndReadNotCheckpointed: a rotated file read to its end that
// kubelet deleted or compressed while the tailer ran, right before a
// graceful stop it did not look at the file again: the final checkpoint
// has it as its path's anchor (done), not as a file to go on with, so the
// next tailer neither counts a file as vanished that lost nothing (test/model,
// seed 1274) nor reads the compressed copy again. Polling is off after the
// first scan, so the tailer cannot have noticed the rotation.
func TestDeletedAndReadNotCheckpointed(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "deleted", true: "compressed"}[compress], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			appendFile(t, path, lines(0, 10))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			ino := fi.Sys().(*syscall.Stat_t).Ino
			r := startBlindRunner(t, cfg)
			waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 9) })
			rotated := path + ".20261126-035509"
			mustRename(t, path, rotated)
			appendFile(t, path, lines(10, 20))
			if compress {
				mustGzip(t, rotated)
			} else if err := os.Remove(rotated); err != nil {
				t.Fatal(err)
			}
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			for _, e := range readState(t, state).Files {
				if e.Ino == ino && !e.Done {
					t.Errorf("the final checkpoint has the deleted file to go on with: %+v", e)
				}
			}
			r2 := startRunner(t, cfg, Options{})
			defer r2.stop()
			waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r2, 19) })
			if diff := cmp.Diff(upto(10, 20), seqs(r2.snapshot())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
				t.Errorf("lost files = %v, want 0: the file was read to its end", got)
			}
		})
	}
}

// TestEmptyEntryCompressedBesideFound: the checkpoint names a rotated file
// read halfway and the new 0.log, still empty. While no agent runs, 0.log
// is rotated still empty and both rotated files are compressed. The empty
// entry has no first bytes to be found by, but a file of the path older
// than it is still there, so it was not deleted (kubelet deletes the
// oldest first): no loss is counted, and the rest of the half-read file
// and the new 0.log are read (test/model, seed 1127).
func TestEmptyEntryCompressedBesideFound(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	rot1, rot2 := path+".20261126-035500", path+".20261126-035510"
	appendFile(t, rot1, lines(0, 20))
	appendFile(t, path, "")
	entry := func(p string, off int64) stateEntry {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := keyOf(fi)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n := min(len(data), fpSize)
		return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: n, Fingerprint: fpHash(data[:n]), Path: path, Offset: off, AckedTo: off}
	}
	if err := writeState(state, []stateEntry{entry(rot1, int64(len(lines(0, 10)))), entry(path, 0)}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(state, stateName), before, before); err != nil {
		t.Fatal(err)
	}
	mustRename(t, path, rot2)
	mustGzip(t, rot1)
	mustGzip(t, rot2)
	appendFile(t, path, lines(20, 30))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r, 29) })
	r.stop()
	if diff := cmp.Diff(upto(10, 30), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
		t.Errorf("lost files = %v, want 0: the empty file was compressed, not deleted", got)
	}
}

// TestCompressedReadToItsEnd: a rotated file the checkpoint has at its end,
// compressed while no agent ran, is not inflated again: the gzip trailer's
// size says there is nothing after the offset, so it becomes the path's
// anchor at once. Before, it waited for its turn to be inflated, and
// kubelet deleting it meanwhile was counted as a loss though nothing was
// unread (test/model, seed 5359). A file with something left is still
// opened, from its offset.
func TestCompressedReadToItsEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int // lines read before the stop
		opened bool
	}{
		{"at its end", 10, false},
		{"halfway", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tl := newIdleTailer(t, dir)
			tl.loadState(time.Now())
			path := mkContainer(t, dir, "ns_pod_uid")
			rot := path + ".20261126-035500"
			body := lines(0, 10)
			appendFile(t, rot, body)
			fi, err := os.Stat(rot)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := keyOf(fi)
			off := int64(len(lines(0, tc.offset)))
			n := min(len(body), fpSize)
			e := stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: n, Fingerprint: fpHash([]byte(body[:n])),
				Path: path, Offset: off, AckedTo: off}
			appendFile(t, path, lines(10, 20)) // before the gzip frees the inode
			mustGzip(t, rot)
			tl.resumePath(path, []stateEntry{e}, time.Now())
			opened := false
			for _, f := range tl.order {
				if f.path == rot+".gz" {
					opened = true
					if f.off != off {
						t.Errorf("opened at %d, want %d", f.off, off)
					}
				}
			}
			if opened != tc.opened {
				t.Errorf("compressed file opened: %v, want %v", opened, tc.opened)
			}
			a, ok := tl.anchors[path]
			if !tc.opened && (!ok || !a.Done || a.Offset != off || a.Fingerprint != e.Fingerprint) {
				t.Errorf("anchor %+v (%v), want the compressed file at its end", a, ok)
			}
		})
	}
}

// TestRotatedAfterEmptyRef: while running, the file the tailer followed
// at the path was rotated while still empty and compressed (it has no first
// bytes to be found by, and its descriptor says it has no name left), and
// a newer file was rotated after it before the tailer looked. The rotated
// file closed before the empty one, found compressed by its first bytes,
// places the files after it: only those are read, not that older file
// again (test/model seed 5359: it was read twice, or, deleted before its
// second turn, counted as lost). When the newer file took the inode the
// older one had (compressing it freed the inode; file systems reuse freed
// inodes), the older one is still found by its first bytes in its .gz, not
// by the inode in the newer file, which would be skipped, its lines never
// read.
func TestRotatedAfterEmptyRef(t *testing.T) {
	for _, reused := range []bool{false, true} {
		t.Run(map[bool]string{false: "older compressed", true: "older's inode reused"}[reused], func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl := newIdleTailer(t, dir)
			b, c, d := path+".20261126-035508", path+".20261126-035509", path+".20261126-035510"
			appendFile(t, b, lines(0, 5)) // read and closed before
			fi, err := os.Stat(b)
			if err != nil {
				t.Fatal(err)
			}
			older := rotated{fi: fi, off: int64(len(lines(0, 5)))}
			older.key, _ = keyOf(fi)
			older.fpLen = copy(older.fp[:], lines(0, 5))
			mustGzip(t, b)
			ref, refKey := emptyRefCompressed(t, c) // the followed file, rotated while empty
			appendFile(t, d, lines(5, 10))          // rotated before the tailer looked
			if reused {
				dfi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				older.key, _ = keyOf(dfi)
			}
			got := rotatedAfterNames(tl, path, ref, refKey, &older)
			if diff := cmp.Diff([]string{"0.log.20261126-035510"}, got); diff != "" {
				t.Errorf("files read (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStopNamesNewFiles: a file created after the last rescan, which no
// notification reported (polling only, rescans an hour apart), is in the
// checkpoint a graceful stop writes: if kubelet deletes it before the next
// agent runs, that agent knows of it and counts the loss (test/model seed
// 21110: a rotation right before a SIGTERM, the new file's lines deleted
// while stopped, no counter moved).
func TestStopNamesNewFiles(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	first := mkContainer(t, dir, "ns_a_uid")
	appendFile(t, first, lines(0, 5))
	r := startBlindRunner(t, cfg)
	waitFor(t, 5*time.Second, "the first file's lines", func() bool { return hasSeq(r, 4) })
	late := mkContainer(t, dir, "ns_b_uid")
	appendFile(t, late, lines(5, 10))
	stopThenLossCounted(t, r, cfg, first, late)
}

// TestStopSeesUnnotifiedRotation: kubelet rotates right before a SIGTERM,
// and the notification is not in yet (here: none come at all). The stop's
// rescan found nothing new: the path was followed already, by the file
// just renamed. A poll at the stop sees the path names another file; the
// final checkpoint names the new one, so the next agent reads it or counts
// it lost.
func TestStopSeesUnnotifiedRotation(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_a_uid")
	appendFile(t, path, lines(0, 5))
	r := startBlindRunner(t, cfg)
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	mustRename(t, path, path+".20261126-035501")
	appendFile(t, path, lines(5, 10))
	ino := inoOf(t, path)
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	named := false
	for _, e := range readState(t, cfg.StateDir).Files {
		named = named || (e.Ino == ino && e.Path == path && e.Offset == 0 && !e.Done)
	}
	if !named {
		t.Errorf("the final checkpoint does not name the new %s: %+v", path, readState(t, cfg.StateDir).Files)
	}
	// While stopped, the new file is rotated and compressed too.
	mustRename(t, path, path+".20261126-035502")
	mustGzip(t, path+".20261126-035502")
	appendFile(t, path, lines(10, 11))
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the new file's lines and the sentinel", func() bool { return hasSeq(r2, 9) && hasSeq(r2, 10) })
	r2.stop()
	if diff := cmp.Diff(upto(0, 11), seqs(append(r.snapshot(), r2.snapshot()...))); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// stopThenLossCounted stops r gracefully and checks that its final
// checkpoint names late (at offset 0); deletes late's pod directory while
// no agent runs; and checks that the next tailer counts late lost. first,
// a file of another pod, carries the next tailer's sentinel (line 10).
func stopThenLossCounted(t *testing.T, r *runner, cfg Config, first, late string) {
	t.Helper()
	ino := inoOf(t, late)
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	named := false
	for _, e := range readState(t, cfg.StateDir).Files {
		named = named || (e.Ino == ino && e.Path == late && e.Offset == 0)
	}
	if !named {
		t.Errorf("the final checkpoint does not name %s: %+v", late, readState(t, cfg.StateDir).Files)
	}
	if err := os.RemoveAll(filepath.Dir(filepath.Dir(late))); err != nil { // deleted while no agent runs
		t.Fatal(err)
	}
	r2 := startRunner(t, cfg, Options{})
	defer r2.stop()
	appendFile(t, first, lines(10, 11))
	waitFor(t, 5*time.Second, "the sentinel", func() bool { return hasSeq(r2, 10) })
	if got := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("lost files = %v, want 1: %s, deleted while stopped, was never read", got, late)
	}
}

// TestEmptyFileKeepsAnchor: a file rotated while empty is finished after a
// file with lines; the anchor stays the file with lines, which can be found
// once compressed. While no agent runs, every rotated file is compressed:
// the next agent finds the anchor in its .gz and reads only what came after
// it. Before, the empty file became the anchor, nothing of the path could
// be found, every file compressed since the checkpoint was read from 0, and
// the anchor's lines came twice after a graceful stop (test/model soak,
// seeds 21366, 22136, 22162).
func TestEmptyFileKeepsAnchor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	appendFile(t, path, lines(0, 10))
	ino := func(p string) uint64 {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	checkpointed := func(what string, ok func(live, done map[uint64]bool) bool) {
		t.Helper()
		waitFor(t, 5*time.Second, what, func() bool {
			m, loaded, _, err := loadState(state)
			if err != nil || !loaded {
				return false
			}
			live, done := map[uint64]bool{}, map[uint64]bool{}
			for _, e := range m {
				if e.Done {
					done[e.Ino] = true
				} else {
					live[e.Ino] = true
				}
			}
			return ok(live, done)
		})
	}
	f1 := ino(path)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 9) })
	rot1, rot2, rot3 := path+".20261126-035501", path+".20261126-035502", path+".20261126-035503"
	mustRename(t, path, rot1)
	appendFile(t, path, "") // f2, rotated while empty
	f2 := ino(path)
	checkpointed("the file with lines finished, the anchor", func(live, done map[uint64]bool) bool { return done[f1] && live[f2] })
	mustRename(t, path, rot2)
	appendFile(t, path, "") // f3
	f3 := ino(path)
	checkpointed("the empty file finished", func(live, _ map[uint64]bool) bool { return !live[f2] && live[f3] })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	// While no agent runs: f3 written and rotated, all compressed.
	appendFile(t, path, lines(10, 20))
	mustRename(t, path, rot3)
	appendFile(t, path, lines(20, 25))
	mustGzip(t, rot1)
	mustGzip(t, rot2)
	mustGzip(t, rot3)
	r2 := startRunner(t, cfg, Options{})
	defer r2.stop()
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r2, 24) })
	if diff := cmp.Diff(upto(10, 25), seqs(r2.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
}

// TestRotatedAfterClosedRefInodeReused: the reference is the last rotated
// file closed (no file is followed at the path), compressed since, and a
// newer rotated file took its inode. The reference is no longer open, so
// its inode proves nothing: it is found by its first bytes in its .gz, and
// the newer file is read, not taken for the reference and skipped.
func TestRotatedAfterClosedRefInodeReused(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl := newIdleTailer(t, dir)
	b, d := path+".20261126-035508", path+".20261126-035510"
	appendFile(t, b, lines(0, 5)) // read and closed before
	ref, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	mustGzip(t, b)
	appendFile(t, d, lines(5, 10))
	dfi, err := os.Stat(d)
	if err != nil {
		t.Fatal(err)
	}
	reused, _ := keyOf(dfi) // as a file system that reuses the freed inode gives it
	var got []string
	for _, f := range tl.rotatedAfter(path, ref, reused, []byte(lines(0, 5)), true, int64(len(lines(0, 5))), time.Time{}, nil, nil, time.Now()) {
		got = append(got, filepath.Base(f.path))
	}
	if diff := cmp.Diff([]string{"0.log.20261126-035510"}, got); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
}

// TestEmptyCompressedNotFollowed: a compressed rotated file that holds
// nothing (rotated before anything was written to it) is not followed: a
// checkpoint written while it waited for its turn named it with no first
// bytes, and the next agent, unable to find it, counted a file as lost that
// lost nothing (test/model seed 1274 with the broker's refusals). One with
// lines is followed.
func TestEmptyCompressedNotFollowed(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	appendFile(t, path+".20261126-035508", "")
	appendFile(t, path+".20261126-035509", lines(0, 5))
	mustGzip(t, path+".20261126-035508")
	mustGzip(t, path+".20261126-035509")
	var got []string
	for _, s := range listSiblings(path) {
		if f := tl.openSibling(path, s, nil, time.Now()); f != nil {
			got = append(got, filepath.Base(f.path))
		}
	}
	if diff := cmp.Diff([]string{"0.log.20261126-035509.gz"}, got); diff != "" {
		t.Errorf("compressed files followed (-want +got):\n%s", diff)
	}
}

// TestEmptyEntryWrittenRotatedCompressed: the checkpoint names 0.log,
// empty when it was written (no first bytes). While no agent runs, 0.log
// is written, rotated, and a new 0.log written; then the rotated file is
// compressed, before the next agent starts (compressed) or while it
// starts (plain). The rotated file was last written after the checkpoint:
// its lines are read, then the new 0.log's (test/model -seeds, seed
// 62083: 89 lines never delivered, the file counted as vanished).
func TestEmptyEntryWrittenRotatedCompressed(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run(map[bool]string{true: "compressed", false: "plain"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			path := mkContainer(t, dir, "ns_pod_uid")
			emptyCheckpoint(t, cfg, path)
			appendFile(t, path, lines(0, 8))
			rot := path + ".20261126-035500"
			mustRename(t, path, rot)
			appendFile(t, path, lines(8, 10))
			if gz {
				mustGzip(t, rot)
			}
			r := startRunner(t, cfg, Options{})
			waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r, 9) })
			r.stop()
			if diff := cmp.Diff(upto(0, 10), seqs(r.snapshot())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
			// Compressed, the empty entry's file cannot be told from
			// another (no first bytes, a new inode): it is counted as a
			// file that may have been lost (kubelet may have deleted it),
			// and every file of the path written since is read.
			want := map[bool]float64{true: 1, false: 0}[gz]
			if got := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); got != want {
				t.Errorf("lost files = %v, want %v", got, want)
			}
		})
	}
}

// TestSiblingCompressedWhileListed: a rotated file listed plain and
// compressed before its last write was looked at is known by its .gz.
func TestSiblingCompressedWhileListed(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	rot := path + ".20261126-035500"
	appendFile(t, rot, lines(0, 8))
	mustGzip(t, rot)
	s := sibling{path: rot, order: "20261126-035500"}
	statSibling(&s)
	if s.path != rot+".gz" || !s.gz || s.mtime.IsZero() || s.size == 0 {
		t.Errorf("sibling %+v, want its .gz with its last write and size", s)
	}
}

// TestNewPathSiblingCompressedWhileListed: a new pod's first file, written
// and rotated, and compressed by kubelet between the listing of the
// directory and the look at its files, when the tailer finds the path (its
// next file at 0.log). The rotated file's lines are read first, from its
// .gz. Before, it was taken for a file last written before the agents
// began to follow the node, and never read (test/model -seeds: seeds 62322
// and 62473, a new pod's first lines; 62083 across a restart).
func TestNewPathSiblingCompressedWhileListed(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now().Add(-time.Minute))
	path := mkContainer(t, dir, "ns_new_uid")
	rot := path + ".20261204-000001"
	appendFile(t, rot, lines(0, 1))
	appendFile(t, path, lines(1, 8))
	siblingsListed = func() {
		siblingsListed = nil
		mustGzip(t, rot)
	}
	t.Cleanup(func() { siblingsListed = nil })
	tl.discover(path, time.Now(), false)
	cur := tl.byPath[path]
	if cur == nil {
		t.Fatal("path not followed")
	}
	if siblingsListed != nil {
		t.Fatal("the siblings were not listed")
	}
	var chain []string
	for f := cur.pred; f != nil; f = f.pred {
		chain = append([]string{filepath.Base(f.path)}, chain...)
	}
	if diff := cmp.Diff([]string{"0.log.20261204-000001.gz"}, chain); diff != "" {
		t.Errorf("read before 0.log (-want +got):\n%s", diff)
	}
}

// TestRotatedRefCompressedAfterListing: the file followed is rotated, the
// next one written and rotated too, and kubelet gzips the first between
// the listing of the siblings and the look for the followed file among
// them (test/model -seeds: seeds 190860 and 230068, a file read whole a
// second time with no restart). It is found by its first bytes as its
// .gz; only the file rotated after it is read apart. Before, it was taken
// for deleted and its .gz read whole beside its own follower.
func TestRotatedRefCompressedAfterListing(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 10))
	tl.rescan(time.Now(), true)
	a := tl.byPath[path]
	if a == nil || a.fpLen == 0 {
		t.Fatal("path not followed, or without first bytes")
	}
	r7, r8 := path+".20261204-000007", path+".20261204-000008"
	mustRename(t, path, r7)
	appendFile(t, path, lines(10, 12))
	mustRename(t, path, r8)
	appendFile(t, path, lines(12, 13))
	tl.check(a, time.Now())
	siblingsStated = func() {
		siblingsStated = nil
		mustGzip(t, r7)
	}
	t.Cleanup(func() { siblingsStated = nil })
	tl.discover(path, time.Now(), false)
	if siblingsStated != nil {
		t.Fatal("the siblings were not listed")
	}
	cur := tl.byPath[path]
	if cur == nil || cur == a {
		t.Fatal("the new file is not followed")
	}
	var chain []string
	for f := cur.pred; f != nil && f != a; f = f.pred {
		chain = append([]string{filepath.Base(f.path)}, chain...)
	}
	if diff := cmp.Diff([]string{"0.log.20261204-000008"}, chain); diff != "" {
		t.Errorf("read before 0.log, after the followed file (-want +got):\n%s", diff)
	}
	noCompressedOpened(t, tl, "")
}

// TestFollowedFileCompressedAtStart: a fresh agent's scan opens 0.log, and
// kubelet rotates it and gzips it before the rotated files are looked at.
// Its .gz is the file the scan's follower reads through its descriptor:
// not read apart. Before, its lines came twice (found by a stress run of
// rotations in a row as the agent started).
func TestFollowedFileCompressedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r1 := path + ".20261204-000001"
	// Found with lines, and found empty and written before its first
	// read (its follower has no first bytes yet; its descriptor has).
	for _, empty := range []bool{false, true} {
		tl := newIdleTailer(t, dir)
		tl.loadState(time.Now().Add(-time.Second))
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if !empty {
			appendFile(t, path, lines(0, 5))
		}
		tl.rescan(time.Now(), true)
		if tl.byPath[path] == nil {
			t.Fatal("path not followed")
		}
		if empty {
			appendFile(t, path, lines(0, 5))
		}
		mustRename(t, path, r1)
		appendFile(t, path, lines(5, 8))
		mustGzip(t, r1)
		tl.resumeRotated(time.Now(), nil)
		noCompressedOpened(t, tl, fmt.Sprintf("found empty %v: ", empty))
		tl.closeAll()
		if err := os.Remove(r1 + ".gz"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r1, lines(0, 5))
	mustGzip(t, r1)
	appendFile(t, path, lines(5, 8))
	// A compressed file that is not the followed one is read.
	tl2 := newIdleTailer(t, dir)
	tl2.loadState(time.Now().Add(-time.Second))
	tl2.rescan(time.Now(), true)
	tl2.resumeRotated(time.Now(), nil)
	n := 0
	for _, f := range tl2.order {
		if f.gz == r1+".gz" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s opened %d times by an agent that follows only the new 0.log, want 1", r1+".gz", n)
	}
}

// TestFollowedFileCompressedAtRestart: as TestFollowedFileCompressedAtStart,
// with a checkpoint: the scan resumes 0.log at its committed offset, and
// kubelet rotates and gzips it before the rotated files are looked at. The
// .gz matches 0.log's entry by its first bytes, but it is the file the
// scan's follower reads on from that offset: not read from it a second time.
func TestFollowedFileCompressedAtRestart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	firstRun(t, cfg, path)
	appendFile(t, path, lines(100, 105))
	tl, saved := restartedTailer(t, cfg)
	now := time.Now()
	tl.rescan(now, true)
	cur := tl.byPath[path]
	if cur == nil || cur.off == 0 {
		t.Fatal("path not resumed at its checkpoint")
	}
	r1 := path + ".20261204-000001"
	mustRename(t, path, r1)
	appendFile(t, path, lines(105, 108))
	mustGzip(t, r1)
	tl.resumeRotated(time.Now(), saved)
	noCompressedOpened(t, tl, "")
}

// noCompressedOpened fails t for each compressed file tl opened: the file
// its follower reads, compressed, read a second time.
func noCompressedOpened(t *testing.T, tl *Tailer, prefix string) {
	t.Helper()
	for _, f := range tl.order {
		if f.gz != "" {
			t.Errorf("%s%s opened at offset %d: the followed file, compressed, read a second time", prefix, f.path, f.off)
		}
	}
}

// TestNoFileAtPathAtStartThenRotated: the scan finds no 0.log (kubelet
// renamed it and had not created the next one yet), so the checkpoint's
// file is read as a rotated sibling; the next 0.log is created, written
// and rotated in turn before the tailer looks, and the path's third file
// is found (test/model seed 610029: 29 lines never delivered, no counter).
// The second file is read, from 0, before the third, and after the
// checkpoint's file, read on from its offset (not beside them:
// TestStartBetweenRenameAndCreate).
func TestNoFileAtPathAtStartThenRotated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	firstRun(t, cfg, path)
	appendFile(t, path, lines(100, 104))
	r1, r2 := path+".20261204-000001", path+".20261204-000002"
	mustRename(t, path, r1)
	tl, saved := restartedTailer(t, cfg)
	now := time.Now()
	tl.rescan(now, true)
	if tl.byPath[path] != nil {
		t.Fatal("a file followed at the path, which has none")
	}
	tl.resumeRotated(now, saved)
	appendFile(t, path, lines(104, 110))
	mustRename(t, path, r2)
	appendFile(t, path, lines(110, 111))
	tl.discover(path, time.Now(), false)
	cur := tl.byPath[path]
	if cur == nil {
		t.Fatal("the path's third file is not followed")
	}
	var chain []string
	for f := cur.pred; f != nil; f = f.pred {
		chain = append([]string{fmt.Sprintf("%s@%d", filepath.Base(f.path), f.off)}, chain...)
	}
	first := "0.log.20261204-000001@0"
	for _, f := range tl.order {
		if f.path == r1 && f.off > 0 {
			first = fmt.Sprintf("%s@%d", filepath.Base(r1), f.off)
		}
	}
	if diff := cmp.Diff([]string{first, "0.log.20261204-000002@0"}, chain); diff != "" {
		t.Errorf("read before the third file (-want +got):\n%s", diff)
	}
	opened := 0
	for _, f := range tl.order {
		if f.path == r1 {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("the checkpoint's file opened %d times, want 1", opened)
	}
}

// restartedTailer is a tailer on cfg that is never run, its checkpoint
// loaded, and the entries loaded as Run has them when it starts.
func restartedTailer(t *testing.T, cfg Config) (*Tailer, []stateEntry) {
	t.Helper()
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	tl.loadState(time.Now())
	var saved []stateEntry
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	return tl, saved
}

// emptyRefCompressed makes name an empty file, opened as the file a
// follower knew, and compresses it (rotated while empty, then gzipped): it
// returns the descriptor's stat, which names no file now, and its key.
func emptyRefCompressed(t *testing.T, name string) (os.FileInfo, fileKey) {
	t.Helper()
	appendFile(t, name, "")
	fh, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	ref, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keyOf(ref)
	mustGzip(t, name)
	if ref, err = fh.Stat(); err != nil { // no name left
		t.Fatal(err)
	}
	return ref, key
}

// anchorAt writes data to name, a rotated file of path read to its end,
// and makes it path's anchor in tl.
func anchorAt(t *testing.T, tl *Tailer, path, name, data string) {
	t.Helper()
	appendFile(t, name, data)
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keyOf(fi)
	tl.setAnchor(stateEntry{Dev: key.dev, Ino: key.ino, FingerprintLen: len(data), Fingerprint: fpHash([]byte(data)),
		Path: path, Offset: int64(len(data)), AckedTo: int64(len(data))})
}

// rotatedAfterNames is the names of the files rotatedAfter opens for an
// empty reference that is no longer open.
func rotatedAfterNames(tl *Tailer, path string, ref os.FileInfo, refKey fileKey, older *rotated) []string {
	var got []string
	for _, f := range tl.rotatedAfter(path, ref, refKey, nil, false, 0, time.Time{}, older, nil, time.Now()) {
		got = append(got, filepath.Base(f.path))
	}
	return got
}
