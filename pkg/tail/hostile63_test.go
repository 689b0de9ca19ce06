package tail

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLaterFileRenamedAwayAtStop: a file nothing was read of (written,
// renamed away by kubelet's rotation before its read; the rename seen) is
// followed as rotated; the runtime makes the path's next file, which is
// written and renamed away in turn before the tailer found it, and the
// agent stops before the runtime makes the next one: nothing is at the
// path. The later file is not a copy of the first: its lines come after
// the first file's. The next agent reads every line once, in order.
func TestLaterFileRenamedAwayAtStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	appendFile(t, path, lines(0, 5))
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	if f.st != stRotated || f.off != 0 {
		t.Fatalf("the rotation not seen, or read: state %v, offset %d", f.st, f.off)
	}
	bornLater(t, path, away, lines(5, 10)) // never found
	mustRename(t, path, path+".20261206-000002")
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	restartWant(t, cfg, 0, 10)
}

// hostile63StartTick starts an agent on a checkpoint that read the file
// at the path to its end (lines 0-5), after an older rotated file read
// whole. between runs after the start's scan resumed the file, in the
// start's tick of the file system's clock (simulated as in
// TestCopyMadeAsTheAgentStartsInItsTick: the start's tick is the birth of
// the file mark names, which the start's listing took), before the start
// looks at the rotated files.
func hostile63StartTick(t *testing.T, between func(path string) (mark string)) (*Tailer, *follower, string) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old, first := lines(100, 103), lines(0, 5)
	r0 := path + ".20261206-000001"
	appendFile(t, r0, old)
	appendFile(t, path, first)
	entry := func(p, data string, done bool) stateEntry { return dataEntry(t, path, p, data, done) }
	if err := writeState(state, []stateEntry{entry(r0, old, true), entry(path, first, false)}); err != nil {
		t.Fatal(err)
	}
	tl, saved, now := startSteps(t, dir, state)
	cur := tl.byPath[path]
	if cur == nil || cur.off != int64(len(first)) {
		t.Fatalf("the file at the path not resumed at its offset: %+v", cur)
	}
	mark := between(path)
	if mark != "" {
		b, ok := born(mark)
		if !ok {
			t.Skip("no birth times on this file system")
		}
		cur.opened, cur.tick = b, true
		cur.took = append(cur.took, birth{key: statKeyT(t, mark), at: b})
	}
	tl.resumeRotated(now, saved)
	return tl, cur, path
}

// TestStartTickCopyCompressedBeforeLook: the copy copytruncate made of
// the file the start resumed is compressed (logrotate's compress, no
// delaycompress) before the start looks at the rotated files, its .gz
// born after the start's listing or in its tick. What the checkpoint read
// (lines 0-4) is not read again from the .gz: the file's truncation finds
// it and reads it from the file's offset.
func TestStartTickCopyCompressedBeforeLook(t *testing.T) {
	for _, inTick := range []bool{false, true} {
		t.Run(fmt.Sprintf("in the tick %v", inTick), func(t *testing.T) {
			tl, cur, _ := hostile63StartTick(t, func(path string) string {
				cp := path + ".20261206-000002"
				hostile51CopyTo(t, path, cp)
				appendFile(t, path, lines(5, 6))
				mustGzip(t, cp)
				if inTick {
					return cp + ".gz"
				}
				return ""
			})
			readAllWant(t, tl, cur, upto(5, 6))
		})
	}
}

// TestStartTickCopyThenFileGoes: the copy copytruncate (or logrotate's
// copy, without truncating) made in the start's tick of the file the
// start resumed is left to that file. Then the file is not truncated
// and found again, but renamed away by kubelet's rotation (the runtime
// makes the next file), deleted, or the agent stops first. Every line
// comes once, in order: the copy's lines past what the checkpoint read
// (lines 0-4) too.
func TestStartTickCopyThenFileGoes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		truncate bool
		then     string // rename, delete, stop
	}{
		{"copy, renamed", false, "rename"},
		{"copytruncate, renamed", true, "rename"},
		{"copy, deleted", false, "delete"},
		{"copytruncate, deleted", true, "delete"},
		{"copy, stop", false, "stop"},
		{"copytruncate, stop", true, "stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, cur, path := hostile63StartTick(t, func(path string) string {
				appendFile(t, path, lines(5, 7)) // not read yet
				cp := path + ".20261206-000002"
				if tc.truncate {
					hostile51CopyTo(t, path, cp)
				} else {
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(cp, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return cp
			})
			end := 9
			switch tc.then {
			case "rename":
				appendFile(t, path, lines(7, 8))
				mustRename(t, path, path+".20261206-000003")
				appendFile(t, path, lines(8, 9))
				tl.check(cur, time.Now())
				tl.discover(path, time.Now(), false)
				hostile62ReadTurns(tl, 10)
			case "delete":
				appendFile(t, path, lines(7, 8))
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				end = 8
				tl.check(cur, time.Now())
				hostile62ReadTurns(tl, 10)
			case "stop":
				appendFile(t, path, lines(7, 8))
				end = 8
				tl.lastLook(time.Now())
				if err := tl.commit(true); err != nil {
					t.Fatal(err)
				}
				tl.closeAll()
				restartWant(t, tl.cfg, 5, end)
				return
			}
			if got := emitted(tl); !slices.Equal(got, upto(5, end)) {
				t.Errorf("lines %v, want %v", got, upto(5, end))
			}
		})
	}
}

// TestStartTickCopyThenMore: the copy copytruncate made in the start's
// tick of the file the start resumed is left to that file; before its
// truncation is found, logrotate compresses the copy, or moves it on
// (numbered names: 0.log.1 to 0.log.2) and copytruncates the file again.
// Every line comes once, in order.
func TestStartTickCopyThenMore(t *testing.T) {
	for _, then := range []string{"gzip", "numbered again", "numbered again, gzip"} {
		t.Run(then, func(t *testing.T) {
			tl, cur, path := hostile63StartTick(t, func(path string) string {
				appendFile(t, path, lines(5, 7))
				cp := path + ".1"
				hostile51CopyTo(t, path, cp)
				return cp
			})
			appendFile(t, path, lines(7, 9))
			switch then {
			case "gzip":
				mustGzip(t, path+".1")
			case "numbered again", "numbered again, gzip":
				mustRename(t, path+".1", path+".2")
				if then == "numbered again, gzip" {
					mustGzip(t, path+".2")
				}
				hostile51CopyTo(t, path, path+".1")
			}
			appendFile(t, path, lines(9, 10))
			readAllWant(t, tl, cur, upto(5, 10))
		})
	}
}

// TestResumedFileCopiedWhileWaiting: the checkpoint read a container's
// 0.log part way (lines 0-9 of 0-14). The agent starts with
// logs.max_open_files reached: 0.log waits for a descriptor. It is
// copytruncated before the start, or while it waits, or copied as the
// agent starts and truncated while it waits; then written again. When its
// turn comes the copy's lines past the checkpoint's offset are read, then
// the file's: lines 10 on, each once, in order. (Copytruncated while it
// waited, the copy was read whole: lines 0-9 twice; copied before, its
// lines 10-14 were lost, no counter moved.)
func TestResumedFileCopiedWhileWaiting(t *testing.T) {
	for _, when := range []string{"before the start", "while waiting", "copied before, truncated while waiting", "while waiting, then rotated"} {
		t.Run(when, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			cfg.MaxOpenFiles = 1
			first, late := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
			appendFile(t, first, lines(100, 105))
			appendFile(t, late, lines(0, 15))
			if err := writeState(state, []stateEntry{entryOf(t, late, late, int64(len(lines(0, 10))))}); err != nil {
				t.Fatal(err)
			}
			cp := late + ".20261206-040000"
			switch when {
			case "before the start":
				hostile51CopyTo(t, late, cp)
			case "copied before, truncated while waiting":
				data, err := os.ReadFile(late)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cp, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := startRunner(t, cfg, Options{})
			waitFor(t, 10*time.Second, "the first file's lines, the second waiting", func() bool {
				return hasSeq(r, 104) && testutil.ToFloat64(r.tl.m.waiting) == 1
			})
			afterTick(t, time.Now())
			switch when {
			case "while waiting", "while waiting, then rotated":
				hostile51CopyTo(t, late, cp)
			case "copied before, truncated while waiting":
				mustTruncate(t, late)
			}
			appendFile(t, late, lines(15, 20))
			if when == "while waiting, then rotated" {
				// kubelet renames it away while it still waits; the
				// runtime makes the next file.
				mustRename(t, late, late+".20261206-050000")
				appendFile(t, late, lines(20, 21))
				appendFile(t, first, lines(105, 106))
			}
			end := 20
			if when == "while waiting, then rotated" {
				end = 21
			}
			waitFor(t, 10*time.Second, "the second file's lines", func() bool { return hasSeq(r, end-1) })
			r.stop()
			got := slices.DeleteFunc(seqs(r.snapshot()), func(s int) bool { return s >= 100 })
			if !slices.Equal(got, upto(10, end)) {
				t.Errorf("lines %v, want %v (lost %v)", got, upto(10, end), testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)))
			}
		})
	}
}

// TestUndoneAtStartThenCopyCompressed: the checkpoint read the file at
// the path part way (lines 0-4 of 0-9). The agent starts while kubelet
// has it renamed away (a rotation it then undoes): the start reads it as
// a rotated file, from the checkpoint's offset to its end, and closes it.
// It is renamed back, copytruncated, and the copy compressed at once
// (logrotate's compress) before the tailer finds the file at its path
// again. The copy holds what was read: not read again (seed 63093 of the
// mixed randomized test read it whole, and the older rotated files too).
func TestUndoneAtStartThenCopyCompressed(t *testing.T) {
	for _, tc := range []struct {
		gz    string // compressed: no, before, listed, indexed
		empty bool
	}{{"no", false}, {"before", false}, {"listed", false}, {"indexed", false}, {"no", true}, {"before", true}, {"listed", true}, {"indexed", true}} {
		gz, empty := tc.gz, tc.empty
		t.Run(fmt.Sprintf("compressed %v, empty %v", gz, empty), func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			old, first := lines(100, 103), lines(0, 5)
			r0 := path + ".20261206-000001"
			appendFile(t, r0, old)
			mustGzip(t, r0)
			appendFile(t, path, first)
			k := statKeyT(t, path)
			n := int64(len(first))
			gzEntry := stateEntry{Dev: ^uint64(0), Ino: 1, FingerprintLen: len(old), Fingerprint: fpHash([]byte(old)), Path: path, Offset: int64(len(old)), AckedTo: int64(len(old)), Done: true}
			live := stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: len(first), Fingerprint: fpHash([]byte(first)), Path: path, Offset: n, AckedTo: n}
			if err := writeState(state, []stateEntry{gzEntry, live}); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(5, 10))
			away := path + ".20261206-000002"
			mustRename(t, path, away)
			tl, saved, now := startSteps(t, dir, state)
			if tl.byPath[path] != nil {
				t.Fatal("premise: nothing at the path at the start")
			}
			tl.resumeRotated(now, saved)
			hostile62ReadTurns(tl, 10)
			mustRename(t, away, path)
			cp := path + ".20261206-000003"
			hostile51CopyTo(t, path, cp)
			switch gz {
			case "before":
				mustGzip(t, cp)
			case "listed":
				// Compressed after the discovery listed it plain.
				siblingsStated = func() {
					siblingsStated = nil
					mustGzip(t, cp)
				}
				t.Cleanup(func() { siblingsStated = nil })
			case "indexed":
				// Compressed after the discovery looked for the file
				// it read last among the siblings listed (seed 63093).
				siblingsIndexed = func() {
					siblingsIndexed = nil
					mustGzip(t, cp)
				}
				t.Cleanup(func() { siblingsIndexed = nil })
			}
			if !empty {
				appendFile(t, path, lines(10, 12))
			}
			tl.discover(path, time.Now(), false)
			f := tl.byPath[path]
			if f == nil {
				t.Fatal("the file at the path not followed")
			}
			if empty {
				readAll(t, tl, f)
				appendFile(t, path, lines(10, 12))
			}
			readAllWant(t, tl, f, upto(5, 12))
		})
	}
}

// TestStartTickCopyAcrossStop: the copy copytruncate made in the start's
// tick of the file the start resumed is left to that file, whose
// truncation the agent does not see before it stops (nothing written
// since, or written past the old length). Before the next agent starts
// the copy is compressed, or the file renamed away by kubelet. The next
// agent reads the copy from the checkpoint's offset, then the file: every
// line once, in order.
func TestStartTickCopyAcrossStop(t *testing.T) {
	for _, tc := range []struct {
		name       string
		after      int // lines written after the truncation
		gz, rename bool
		gzRenamed  bool // the file renamed away compressed too
	}{
		{"written, gz, renamed and compressed", 8, true, true, true},
		{"empty, gz, renamed and compressed", 0, true, true, true},
		{"empty", 0, false, false, false},
		{"empty, gz", 0, true, false, false},
		{"empty, renamed", 0, false, true, false},
		{"written", 8, false, false, false},
		{"written, gz", 8, true, false, false},
		{"written, renamed", 8, false, true, false},
		{"written, gz, renamed", 8, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := ""
			tl, _, path := hostile63StartTick(t, func(path string) string {
				appendFile(t, path, lines(5, 7))
				cp = path + ".20261206-000002"
				hostile51CopyTo(t, path, cp)
				return cp
			})
			appendFile(t, path, lines(7, 7+tc.after))
			tl.lastLook(time.Now())
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			if tc.gz {
				mustGzip(t, cp)
			}
			end := 7 + tc.after
			if tc.rename {
				mustRename(t, path, path+".20261206-000003")
				if tc.gzRenamed {
					mustGzip(t, path+".20261206-000003")
				}
				appendFile(t, path, lines(end, end+1))
				end++
			}
			restartWant(t, tl.cfg, 5, end)
		})
	}
}

// TestCopyOfUnreadRotatedFileAcrossStop: a file nothing was read of is
// copytruncated, written again and renamed away by kubelet (nothing at
// the path at the stop), the rename seen. The final checkpoint names the
// copy (lastLook). Before the next agent starts the copy is compressed,
// or the file renamed back (a rotation undone), or both; or the runtime
// makes the path's next file. Every line once, in order.
func TestCopyOfUnreadRotatedFileAcrossStop(t *testing.T) {
	for _, tc := range []struct {
		name           string
		gz, back, next bool
	}{
		{"plain", false, false, false},
		{"gz", true, false, false},
		{"back", false, true, false},
		{"gz, back", true, true, false},
		{"next", false, false, true},
		{"gz, next", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, f := followEmpty(t, cfg, path)
			afterTick(t, time.Now())
			appendFile(t, path, lines(0, 8))
			cp := path + ".20261206-000001"
			hostile51CopyTo(t, path, cp)
			appendFile(t, path, lines(8, 10))
			away := path + ".20261206-000002"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			if f.st != stRotated || f.off != 0 {
				t.Fatalf("premise: rotated, nothing read: state %v, offset %d", f.st, f.off)
			}
			tl.lastLook(time.Now())
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			if tc.gz {
				mustGzip(t, cp)
			}
			end := 10
			if tc.back {
				mustRename(t, away, path)
				appendFile(t, path, lines(10, 11))
				end = 11
			}
			if tc.next {
				appendFile(t, path, lines(10, 11))
				end = 11
			}
			restartWant(t, cfg, 0, end)
		})
	}
}

// TestStartTickCopyWithBanner: every generation of the file starts with
// the same banner, longer than the first bytes compared. The checkpoint
// read the older generation (rotated, plain) whole and the file at the
// path part way. copytruncate copies the file in the start's tick (the
// copy left to the file, holds) and truncates it; the file's truncation
// finds its copy: the copy's lines past the offset are read, not the
// older generation's again. (In the tick, the older generation, first by
// name, was taken for the copy: its lines came twice, and the copy was
// read whole as a later one.)
func TestStartTickCopyWithBanner(t *testing.T) {
	for _, inTick := range []bool{false, true} {
		t.Run(fmt.Sprintf("in the tick %v", inTick), func(t *testing.T) { startTickCopyWithBanner(t, inTick) })
	}
}

func startTickCopyWithBanner(t *testing.T, inTick bool) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old, first := hostile50Banner+lines(100, 120), hostile50Banner+lines(0, 5)
	r0 := path + ".20261206-000001"
	appendFile(t, r0, old)
	appendFile(t, path, first)
	entry := func(p, data string, done bool) stateEntry { return dataEntry(t, path, p, data, done) }
	if err := writeState(state, []stateEntry{entry(r0, old, true), entry(path, first, false)}); err != nil {
		t.Fatal(err)
	}
	tl, saved, now := startSteps(t, dir, state)
	cur := tl.byPath[path]
	if cur == nil || cur.off != int64(len(first)) {
		t.Fatalf("the file at the path not resumed at its offset: %+v", cur)
	}
	appendFile(t, path, lines(5, 7))
	cp := path + ".20261206-000002"
	hostile51CopyTo(t, path, cp)
	b, ok := born(cp)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	if inTick {
		cur.opened, cur.tick = b, true
		cur.took = append(cur.took, birth{key: statKeyT(t, cp), at: b})
	}
	appendFile(t, path, hostile50Banner+lines(7, 8))
	tl.resumeRotated(now, saved)
	readAllWant(t, tl, cur, []int{5, 6, -1, 7})
}

// TestRotatedFileGrownThenCompressedAtDiscovery: a rotated file read to
// its end and closed gets late lines (the runtime wrote on before it
// reopened), and kubelet compresses it just as the tailer, finding the
// path's next file, looks at it among the siblings (or before, or not at
// all): the late lines are read from where reading stopped, then the next
// file's. (Compressed once found plain, it was taken for a file that had
// not grown: its late lines lost, no counter moved.)
func TestRotatedFileGrownThenCompressedAtDiscovery(t *testing.T) {
	for _, gz := range []string{"no", "before", "indexed"} {
		t.Run(gz, func(t *testing.T) { rotatedGrownThenCompressed(t, gz) })
	}
}

func rotatedGrownThenCompressed(t *testing.T, gz string) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	readAll(t, tl, f)
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	hostile62ReadTurns(tl, 5)
	if f.st != stClosed {
		t.Fatalf("premise: the rotated file closed, state %v", f.st)
	}
	appendFile(t, away, lines(5, 7))
	appendFile(t, path, lines(7, 9))
	switch gz {
	case "before":
		mustGzip(t, away)
	case "indexed":
		siblingsIndexed = func() {
			siblingsIndexed = nil
			mustGzip(t, away)
		}
		t.Cleanup(func() { siblingsIndexed = nil })
	}
	tl.discover(path, time.Now(), false)
	g := tl.byPath[path]
	if g == nil {
		t.Fatal("the next file not followed")
	}
	readAllWant(t, tl, g, upto(0, 9))
}

// TestLaterCopyCompressedAsListed: a file read part way is copytruncated
// twice before the tailer looks again (a busy node). Its truncation finds
// the first copy by its first bytes and lists the siblings for the later
// ones; logrotate compresses the second copy just as it is listed. The
// second copy's lines are read after the first's, then the file's.
func TestLaterCopyCompressedAsListed(t *testing.T) {
	for _, gz := range []string{"no", "before", "listed"} {
		t.Run(gz, func(t *testing.T) {
			tl, path, f := followNew(t)
			appendFile(t, path, lines(0, 5))
			readAll(t, tl, f)
			c1, c2 := path+".20261206-000001", path+".20261206-000002"
			appendFile(t, path, lines(5, 7))
			hostile51CopyTo(t, path, c1)
			appendFile(t, path, lines(7, 10))
			hostile51CopyTo(t, path, c2)
			appendFile(t, path, lines(10, 11))
			switch gz {
			case "before":
				mustGzip(t, c2)
			case "listed":
				siblingsStated = func() {
					siblingsStated = nil
					mustGzip(t, c2)
				}
				t.Cleanup(func() { siblingsStated = nil })
			}
			readAllWant(t, tl, f, upto(0, 11))
		})
	}
}

// TestStartTickCopyThenAnother: copytruncate copies the file the start
// resumed in the start's tick (the copy left to the file, holds), and
// again before the start looks at the rotated files (copytruncates in a
// row on a busy node); the first copy is compressed at once, or not. The
// second copy holds lines written after the first's: it is read after
// the first copy's lines past the offset, then the file's. (Read apart at
// the start, before the file's truncation found the first copy, its
// lines came before the first copy's.)
func TestStartTickCopyThenAnother(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inTick bool
		gz     bool
	}{{"in the tick", true, false}, {"since", false, false}, {"since, compressed", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			tl, cur, _ := hostile63StartTick(t, func(path string) string {
				appendFile(t, path, lines(5, 7))
				c1 := path + ".20261206-000002"
				hostile51CopyTo(t, path, c1)
				appendFile(t, path, lines(7, 9))
				var mark string
				if tc.inTick {
					mark = c1
				} else {
					afterTick(t, time.Now())
				}
				hostile51CopyTo(t, path, path+".20261206-000003")
				appendFile(t, path, lines(9, 10))
				if tc.gz {
					mustGzip(t, c1)
				}
				return mark
			})
			readAllWant(t, tl, cur, upto(5, 10))
		})
	}
}

// TestStartSiblingRenamedBackBeforeItsOpen: the checkpoint read the file
// at the path part way; the agent starts while kubelet has it renamed
// away (a rotation it then undoes): the start finds it among the rotated
// files by its inode, and it is renamed back just before the start opens
// it there. Found at its path afterwards, it is read on from the
// checkpoint's offset, not from 0 (seed 65334 of the mixed randomized
// test read its lines twice).
func TestStartSiblingRenamedBackBeforeItsOpen(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(lines(0, 3))))}); err != nil {
		t.Fatal(err)
	}
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	if tl.byPath[path] != nil {
		t.Fatal("premise: nothing at the path at the start")
	}
	tl.openFault = func(p string) error {
		if p == away {
			tl.openFault = nil
			mustRename(t, away, path) // undone
		}
		return nil
	}
	tl.resumeRotated(now, saved)
	appendFile(t, path, lines(5, 7))
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("the file at the path not followed")
	}
	readAllWant(t, tl, f, upto(3, 7))
}

// TestStartTickCopyDeletedBeforeTruncationSeen: the copy copytruncate
// made in the start's tick, left to the file the start resumed, is
// deleted (logrotate's rotate 0) before the file's truncation is seen:
// the lines it alone held (written after the checkpoint, not read) are
// lost, and counted.
func TestStartTickCopyDeletedBeforeTruncationSeen(t *testing.T) {
	tl, cur, path := hostile63StartTick(t, func(path string) string {
		appendFile(t, path, lines(5, 7))
		cp := path + ".20261206-000002"
		hostile51CopyTo(t, path, cp)
		return cp
	})
	if err := os.Remove(path + ".20261206-000002"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(7, 8))
	readAll(t, tl, cur) // the truncation
	readAllWant(t, tl, cur, upto(7, 8))
	if n := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); n == 0 {
		t.Errorf("lines 5-6 lost uncounted")
	}
}

// TestEmptyRotatedThenNextFileAfterCompressedAnchor: the checkpoint names
// the path's newest finished file (its anchor, compressed since) and the
// file at the path, empty. That file is rotated empty and compressed,
// closed as the path's last rotated file (no first bytes), and the
// runtime's next file is found: the siblings are placed after the anchor,
// which is not read again (seed 66128 of the mixed randomized test read
// it from 0, as the empty file found again grown).
func TestEmptyRotatedThenNextFileAfterCompressedAnchor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	c := path + ".20261206-000001"
	old := lines(0, 5)
	appendFile(t, c, old)
	appendFile(t, path, "")
	anchor := entryOf(t, path, c, int64(len(old)))
	anchor.Done = true
	live := entryOf(t, path, path, 0)
	if err := writeState(state, []stateEntry{anchor, live}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, c)
	tl, saved, now := startSteps(t, dir, state)
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("premise: the empty file followed")
	}
	tl.resumeRotated(now, saved)
	hostile62ReadTurns(tl, 3)
	r := path + ".20261206-000002"
	mustRename(t, path, r)
	mustGzip(t, r)
	appendFile(t, path, lines(5, 7))
	tl.check(f, time.Now())
	hostile62ReadTurns(tl, 5)
	if f.st != stClosed {
		t.Fatalf("premise: the empty rotated file closed, state %v", f.st)
	}
	tl.discover(path, time.Now(), false)
	g := tl.byPath[path]
	if g == nil {
		t.Fatal("the next file not followed")
	}
	readAllWant(t, tl, g, upto(5, 7))
}
