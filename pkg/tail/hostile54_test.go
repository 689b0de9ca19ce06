package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/event"
)

// hostile54Start is an agent's start on dir with the checkpoint in state
// (none: a fresh agent) and kubelet's work between its scan and its look
// at the rotated files (between). It returns the tailer, its lines, and
// the time of the start.
func hostile54Start(t *testing.T, dir, state string, between func()) (*Tailer, func() []int, time.Time) {
	t.Helper()
	tl, take := outTailerIn(t, dir, state)
	var saved []stateEntry // as Run starts
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	now := time.Now()
	tl.rescan(now, true)
	between()
	tl.resumeRotated(now, saved)
	return tl, func() []int { return hostile50Seqs(take()) }, now
}

// TestHostile54TwoRotationsAsTheAgentStarts: the scan opens 0.log, and
// kubelet rotates it twice before the rotated files are looked at: the
// file the scan opened is renamed, the next 0.log written and renamed too,
// and the first one compressed (kubelet gzips every rotated file but the
// newest: the file the scan opened is compressed only once a second one
// was rotated after it). The second rotated file is newer than the file
// the scan's follower reads: its lines come after that file's, once,
// whether or not the second file was read to its end before the rotation
// of 0.log is noticed. A fresh agent, and one resuming from a checkpoint;
// and the same without compression (a rotator that does not compress:
// the scan's file is then found among the siblings by its inode).
func TestHostile54TwoRotationsAsTheAgentStarts(t *testing.T) {
	for _, c := range []struct{ compress, restart, readFirst bool }{
		{true, false, false}, {true, false, true}, {true, true, false}, {true, true, true},
		{false, false, false}, {false, false, true}, {false, true, false}, {false, true, true},
	} {
		compress, restart, readFirst := c.compress, c.restart, c.readFirst
		name := map[bool]string{false: "plain", true: "compressed"}[compress] + "/" +
			map[bool]string{false: "fresh", true: "restart"}[restart] + "/" +
			map[bool]string{false: "rotation noticed first", true: "rotated file read first"}[readFirst]
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 10))
			want := upto(0, 30)
			if restart {
				if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(lines(0, 5))))}); err != nil {
					t.Fatal(err)
				}
				want = upto(5, 30)
			}
			r1, r2 := path+".20261206-120001", path+".20261206-120002"
			tl, take, now := hostile54Start(t, dir, state, func() {
				appendFile(t, path, lines(10, 15))
				mustRename(t, path, r1)
				appendFile(t, path, lines(15, 25))
				if compress {
					mustGzip(t, r1)
				}
				mustRename(t, path, r2)
				appendFile(t, path, lines(25, 30))
			})
			if readFirst {
				for range 6 {
					now = now.Add(time.Second)
					tl.readTurn(now)
				}
			}
			hostile51Steps(tl, now)
			hostile51Once(t, want, take())
		})
	}
}

// TestHostile54BannerGenerationAsTheAgentStarts: every generation of a
// log starts with the same banner, longer than the fingerprint (1 KiB). The
// checkpoint names 0.log read halfway; while no agent runs it is rotated
// and the next generation written. The agent's scan opens that one, and
// kubelet rotates it too and compresses the first before the rotated files
// are looked at. The first generation's .gz starts as the scan's file does
// (the banner) and decompresses to less, or to exactly as much (lines of
// equal length): it is not that file compressed (which would hold the same
// bytes), but the checkpoint's file, whose lines after the checkpoint are
// still owed. Every line once, in order; nothing counted lost.
func TestHostile54BannerGenerationAsTheAgentStarts(t *testing.T) {
	for _, c := range []struct {
		name          string
		first, second [2]int // the lines of each generation, after the banner
	}{
		{"shorter", [2]int{0, 10}, [2]int{100, 120}},
		{"as long", [2]int{10, 20}, [2]int{60, 70}},
	} {
		t.Run(c.name, func(t *testing.T) {
			first, second := lines(c.first[0], c.first[1]), lines(c.second[0], c.second[1])
			if c.name == "as long" && len(first) != len(second) {
				t.Fatalf("premise: generations of %d and %d bytes", len(first), len(second))
			}
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, hostile50Banner+first)
			half := c.first[0] + 5
			if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(hostile50Banner+lines(c.first[0], half))))}); err != nil {
				t.Fatal(err)
			}
			r1, r2 := path+".20261206-120001", path+".20261206-120002"
			mustRename(t, path, r1)
			appendFile(t, path, hostile50Banner+second)
			tl, take, now := hostile54Start(t, dir, state, func() {
				mustGzip(t, r1)
				mustRename(t, path, r2)
				appendFile(t, path, lines(200, 205))
			})
			hostile51Steps(tl, now)
			want := append(upto(half, c.first[1]), -1)
			want = append(append(want, upto(c.second[0], c.second[1])...), upto(200, 205)...)
			hostile51Once(t, want, take())
			if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
				t.Errorf("lost files = %v, want 0", got)
			}
		})
	}
}

// TestHostile54EarlierSiblingNotTheScansFile: logrotate's numbered names
// with compress and delaycompress (its .gz stamped when it is made), and a
// log whose every generation starts with the same banner. The checkpoint
// names 0.log.1, rotated and read halfway, and 0.log, read halfway too;
// while no agent runs logrotate rotates again: 0.log.1 becomes 0.log.2,
// compressed, 0.log becomes 0.log.1, and a new 0.log is written. By last
// write 0.log.1 comes first and is opened first (from its entry); the .gz
// starts as it does and is exactly as long (lines of equal length), but it
// is not the scan's file compressed: the scan's file is the new 0.log.
// Each rotated file is read from its entry (in the order of their last
// writes: compared as a set), nothing counted lost. (The entries are
// looked at in the order given: a map's order in Run, so half the time.)
func TestHostile54EarlierSiblingNotTheScansFile(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	older, newer := lines(10, 20), lines(60, 70)
	if len(older) != len(newer) {
		t.Fatalf("premise: generations of %d and %d bytes", len(older), len(newer))
	}
	appendFile(t, path+".1", hostile50Banner+older)
	appendFile(t, path, hostile50Banner+newer)
	eOld := entryOf(t, path, path+".1", int64(len(hostile50Banner+lines(10, 15))))
	eNew := entryOf(t, path, path, int64(len(hostile50Banner+lines(60, 65))))
	if err := writeState(state, []stateEntry{eNew, eOld}); err != nil {
		t.Fatal(err)
	}
	mustRename(t, path+".1", path+".2")
	mustGzip(t, path+".2")
	mustRename(t, path, path+".1")
	hostile51SetMtime(t, time.Now().Add(-time.Minute), path+".1")
	appendFile(t, path, lines(200, 205))
	tl, take := outTailerIn(t, dir, state)
	now := time.Now()
	tl.rescan(now, true)
	tl.resumeRotated(now, []stateEntry{eNew, eOld})
	hostile51Steps(tl, now)
	got := take()
	want := append(append(upto(15, 20), upto(65, 70)...), upto(200, 205)...)
	if diff := cmp.Diff(want, hostile50Seqs(got), cmpopts.SortSlices(func(a, b int) bool { return a < b })); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
		t.Errorf("lost files = %v, want 0", got)
	}
}

// BenchmarkHostile54FollowedAsGz: the look, at the start, at one
// compressed rotated sibling of a path whose scan's file is still at the
// path (the usual case), with followers of other paths beside it.
func BenchmarkHostile54FollowedAsGz(b *testing.B) {
	for _, others := range []int{0, 10000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			dir := b.TempDir()
			tl, err := New(testConfig(dir, b.TempDir()), nil, make(chan []event.Log), Options{})
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, "0.log")
			r := path + ".20261206-000001"
			if err := os.WriteFile(r, []byte(lines(20, 30)), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := simnode.GzipFile(r); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(lines(0, 10)), 0o644); err != nil {
				b.Fatal(err)
			}
			fh, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer fh.Close()
			fi, err := fh.Stat()
			if err != nil {
				b.Fatal(err)
			}
			key, _ := keyOf(fi)
			cur := &follower{path: path, f: fh, key: key}
			cur.dec.path = path
			tl.order = append(tl.order, cur)
			for i := range others {
				f := &follower{path: filepath.Join(dir, strconv.Itoa(i)), f: fh}
				f.dec.path = f.path
				tl.order = append(tl.order, f)
			}
			s := sibling{path: r + ".gz", gz: true}
			b.ResetTimer()
			for range b.N {
				if tl.followedAsGz(path, cur, s) {
					b.Fatal("taken for the scan's file")
				}
			}
		})
	}
}

// TestHostile54ClosedRefCompressedAfterListing: a rotated file is read to
// its end and closed while nothing is at its path (the runtime has not
// reopened its log yet). Then a new 0.log is written and rotated, a third
// written, and kubelet compresses the closed file between the listing of
// the siblings and the look for it among them (its inode freed: the third
// 0.log may take it). It is found by its first bytes as its .gz: only the
// file rotated after it is read apart, then the third. Every line once.
func TestHostile54ClosedRefCompressedAfterListing(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 10), take, 10)
	r7, r8 := path+".20261206-000007", path+".20261206-000008"
	mustRename(t, path, r7)
	for range 20 {
		if f := tl.byPath[path]; f == nil || f.st == stClosed {
			break
		}
		now = now.Add(10 * time.Second) // past rotatedLinger: no new file came
		tl.poll(now)
		tl.readTurn(now)
	}
	if f := tl.byPath[path]; f != nil && f.st != stClosed {
		t.Fatalf("premise: the rotated file is closed, not %v", f.st)
	}
	if _, ok := tl.lastRotated[path]; !ok {
		t.Fatal("premise: the rotated file is the path's last rotated file")
	}
	appendFile(t, path, lines(10, 20))
	mustRename(t, path, r8)
	appendFile(t, path, lines(20, 25))
	siblingsStated = func() {
		siblingsStated = nil
		mustGzip(t, r7)
	}
	t.Cleanup(func() { siblingsStated = nil })
	tl.rescan(now, false)
	if siblingsStated != nil {
		t.Fatal("premise: the siblings were listed")
	}
	hostile51Steps(tl, now)
	hostile51Once(t, upto(0, 25), hostile50Seqs(take()))
}

// TestHostile54NewPathOlderBannerGeneration: a pod's log found for the
// first time while the tailer runs, every generation starting with the
// same banner (longer than the fingerprint): kubelet rotated it and
// compressed the rotated file (listed as its .gz, or listed plain and
// compressed before it is looked at) before the tailer looked, and the
// new 0.log is longer. The .gz starts as 0.log does and holds less, but it
// is not a copy 0.log still holds (a copytruncate's, not truncated yet:
// the same bytes as 0.log's start): its lines come first, then 0.log's.
func TestHostile54NewPathOlderBannerGeneration(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "listed compressed", true: "compressed after listing"}[late], func(t *testing.T) {
			tl, first, take := outTailer(t)
			dir := filepath.Dir(filepath.Dir(filepath.Dir(first)))
			now := firstRead(t, tl, first, lines(1000, 1001), take, 1)
			path := mkContainer(t, dir, "ns_new_uid")
			r1 := path + ".20261206-120001"
			appendFile(t, r1, hostile50Banner+lines(0, 10))
			if late {
				siblingsStated = func() {
					siblingsStated = nil
					mustGzip(t, r1)
				}
				t.Cleanup(func() { siblingsStated = nil })
			} else {
				mustGzip(t, r1)
			}
			appendFile(t, path, hostile50Banner+lines(100, 130))
			tl.rescan(now, false)
			hostile51Steps(tl, now)
			want := append(append([]int{1000, -1}, upto(0, 10)...), append([]int{-1}, upto(100, 130)...)...)
			hostile51Once(t, want, hostile50Seqs(take()))
		})
	}
}

// TestHostile54NewPathCopyStillHeld: the case the look of
// TestHostile54NewPathOlderBannerGeneration keeps: a pod's log found for
// the first time while the tailer runs, beside a compressed copy that a
// copytruncate (logrotate's, with compress) made of it and has not
// truncated yet, 0.log written since. Its lines are 0.log's own, read from
// there: once.
func TestHostile54NewPathCopyStillHeld(t *testing.T) {
	for _, banner := range []string{"", hostile50Banner} {
		t.Run(map[bool]string{false: "no banner", true: "banner"}[banner != ""], func(t *testing.T) {
			tl, first, take := outTailer(t)
			dir := filepath.Dir(filepath.Dir(filepath.Dir(first)))
			now := firstRead(t, tl, first, lines(1000, 1001), take, 1)
			path := mkContainer(t, dir, "ns_new_uid")
			appendFile(t, path, banner+lines(0, 10))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", data, 0o644); err != nil {
				t.Fatal(err)
			}
			mustGzip(t, path+".1") // the truncation still to come
			appendFile(t, path, lines(10, 15))
			tl.rescan(now, false)
			hostile51Steps(tl, now)
			want := append([]int{1000}, upto(0, 15)...)
			if banner != "" {
				want = append([]int{1000, -1}, upto(0, 15)...)
			}
			hostile51Once(t, want, hostile50Seqs(take()))
		})
	}
}

// TestHostile54RotationsAsTheAgentStartsPathEmpty: as
// TestHostile54TwoRotationsAsTheAgentStarts, three rotations (the second
// file compressed too), or two and the runtime slow to reopen its log:
// the path names nothing for a while after the last rename, long enough
// for the scan's file to be read to its end and closed. The files after
// the scan's file are read after it all the same, when the path's next
// file is found. Every line once, in order.
func TestHostile54RotationsAsTheAgentStartsPathEmpty(t *testing.T) {
	for _, three := range []bool{false, true} {
		t.Run(map[bool]string{false: "two, path empty", true: "three"}[three], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 10))
			if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(lines(0, 5))))}); err != nil {
				t.Fatal(err)
			}
			r1, r2, r3 := path+".20261206-120001", path+".20261206-120002", path+".20261206-120003"
			tl, take, now := hostile54Start(t, dir, state, func() {
				mustRename(t, path, r1)
				appendFile(t, path, lines(10, 20))
				mustGzip(t, r1)
				mustRename(t, path, r2)
				if three {
					appendFile(t, path, lines(20, 30))
					mustGzip(t, r2)
					mustRename(t, path, r3)
					appendFile(t, path, lines(30, 35))
				}
			})
			if !three {
				for range 20 {
					if f := tl.byPath[path]; f == nil || f.st == stClosed {
						break
					}
					now = now.Add(10 * time.Second) // past rotatedLinger: no new file came
					if tl.poll(now) {
						tl.rescan(now, false)
					}
					tl.readTurn(now)
				}
				if f := tl.byPath[path]; f != nil && f.st != stClosed {
					t.Fatalf("premise: the scan's file is closed, not %v", f.st)
				}
				appendFile(t, path, lines(20, 35)) // the runtime reopened at last
				tl.rescan(now, false)              // its creation taken
			}
			hostile51Steps(tl, now)
			hostile51Once(t, upto(5, 35), take())
			if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
				t.Errorf("lost files = %v, want 0", got)
			}
		})
	}
}

// TestHostile54SiblingGoneBetweenListingAndLook: the checkpoint names
// 0.log read halfway; while no agent runs it is rotated and a new 0.log
// written. As the agent looks at the rotated files, kubelet compresses
// the rotated one, or deletes it, between their listing and the look. The
// compressed one is read from the checkpoint's offset, nothing counted
// lost; the deleted one's unread lines are lost, and counted once.
func TestHostile54SiblingGoneBetweenListingAndLook(t *testing.T) {
	for _, deleted := range []bool{false, true} {
		t.Run(map[bool]string{false: "compressed", true: "deleted"}[deleted], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 10))
			if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(lines(0, 5))))}); err != nil {
				t.Fatal(err)
			}
			r1 := path + ".20261206-120001"
			mustRename(t, path, r1)
			appendFile(t, path, lines(10, 15))
			siblingsStated = func() {
				siblingsStated = nil
				if deleted {
					if err := os.Remove(r1); err != nil {
						t.Fatal(err)
					}
					return
				}
				mustGzip(t, r1)
			}
			t.Cleanup(func() { siblingsStated = nil })
			tl, take, now := hostile54Start(t, dir, state, func() {})
			if siblingsStated != nil {
				t.Fatal("premise: the siblings were listed")
			}
			hostile51Steps(tl, now)
			want, lost := upto(5, 15), 0.0
			if deleted {
				want, lost = upto(10, 15), 1
			}
			hostile51Once(t, want, take())
			if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); got != lost {
				t.Errorf("lost files = %v, want %v", got, lost)
			}
		})
	}
}
