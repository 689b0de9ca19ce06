package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// waitsOn says f waits, through open followers, on g: the readiness rule
// (a file reads once its predecessor is closed) keeps f behind g.
func waitsOn(f, g *follower) bool {
	for p := f.pred; p != nil && p.st != stClosed; p = p.pred {
		if p == g {
			return true
		}
	}
	return false
}

// TestWaitedFileBehindClosedEnd: a path's file is rotated while its
// predecessor, read and closed, is still linked behind it, and the new
// file must wait for a descriptor. It is rotated again before its turn:
// read where it went (moved), it is newer than the file still draining
// and older than the file now at the path. The chain walked to place it
// ends in the closed follower: linked there, nothing waits on it, and the
// current file was read before it (lines out of order), or it before the
// draining one.
func TestWaitedFileBehindClosedEnd(t *testing.T) {
	dir := t.TempDir()
	paths := podLogs(t, dir, 2)
	x, y := paths[0], paths[1]
	writeSeq(t, x, 0, 0, 5)
	writeSeq(t, y, 1, 0, 5)
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxOpenFiles = 3
	out := make(chan []event.Log, 100000)
	tl, err := New(cfg, nil, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	tl.readTurn(now)
	// x rotated: a (A) drains, b (B) follows x with a behind it; a is read
	// and closed.
	must(t, os.Rename(x, x+".20261204-010201"))
	writeSeq(t, x, 0, 5, 10)
	for range 3 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		tl.readTurn(now)
	}
	b := tl.byPath[x]
	if b == nil || b.pred == nil || b.pred.st != stClosed {
		t.Fatalf("x's file does not follow a closed predecessor: %+v", b)
	}
	// y takes the third descriptor; x rotated again: b drains, C waits.
	writeSeq(t, y, 1, 5, 6)
	must(t, os.Rename(x, x+".20261204-010202"))
	writeSeq(t, x, 0, 10, 5000)
	cfg2 := tl.lim
	cfg2.max = 2
	now = now.Add(time.Second)
	tl.poll(now)
	tl.rescan(now, false)
	if len(tl.lim.queue) != 1 || tl.lim.queue[0].path != x {
		t.Fatalf("waiting: %+v", tl.lim.queue)
	}
	if b.st == stClosed {
		t.Fatal("the rotated file closed before its successor was found")
	}
	// C (long) rotated before its turn; D at x.
	must(t, os.Rename(x, x+".20261204-010203"))
	writeSeq(t, x, 0, 5000, 5005)
	cfg2.max = 4
	if !tl.admit(tl.lim.queue[0], now) {
		t.Fatal("admit refused")
	}
	d := tl.byPath[x]
	var moved *follower
	for _, f := range tl.order {
		if f.path == x+".20261204-010203" {
			moved = f
		}
	}
	if d == nil || moved == nil || d == moved {
		t.Fatalf("current %+v, moved %+v", d, moved)
	}
	if !waitsOn(d, moved) {
		t.Errorf("the file at the path does not wait on the waited file rotated before it")
	}
	if waitsOn(moved, d) || (b.st != stClosed && !waitsOn(moved, b)) && waitsOn(b, moved) {
		t.Errorf("the waited file is read before the file rotated before it")
	}
	var got []int
	for range 50 {
		now = now.Add(time.Second)
		tl.readTurn(now)
	}
	close(out)
	for b := range out {
		for _, l := range b {
			if n, ok := seqOf(string(l.Body)); ok && strings.Contains(string(l.Body), "file=0") {
				got = append(got, n)
			}
		}
	}
	for _, b := range append(tl.ready, tl.batch) {
		for _, l := range b {
			if n, ok := seqOf(string(l.Body)); ok && strings.Contains(string(l.Body), "file=0") {
				got = append(got, n)
			}
		}
	}
	if !slices.Equal(got, upto(0, 5005)) {
		i := 0
		for i < len(got) && i < 5005 && got[i] == i {
			i++
		}
		t.Errorf("x's lines: %d, in order up to %d, then %v", len(got), i, got[i:min(len(got), i+5)])
	}
}

// TestEmptyRefAfterEmptyClosedNotReread: as TestEmptyRefBeforeReadFileNotReread,
// with one more file rotated empty between: a file with lines (q), read
// and closed; an empty one after it (e), rotated, read to its end and
// closed; the empty one after that (p) rotated and compressed before it
// was read, then a new file found. p is placed by the newest file before it
// with first bytes, q, through e: a closed follower that lets go of its
// predecessor loses q, and every sibling, q's .gz included, was taken for
// newer than p: q read twice.
func TestEmptyRefAfterEmptyClosedNotReread(t *testing.T) {
	tl, path, now := stepTailer(t, lines(0, 5))
	q, e, p := path+".20261126-035508", path+".20261126-035509", path+".20261126-035510"
	step := func() {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		now = now.Add(time.Second)
		tl.readTurn(now)
		now = now.Add(time.Second)
		tl.readTurn(now)
	}
	// q rotated: e, empty, follows with q behind it; q is read and closed.
	mustRename(t, path, q)
	appendFile(t, path, "")
	step()
	// e rotated while empty: p, empty, follows; e is read and closed.
	mustRename(t, path, e)
	appendFile(t, path, "")
	step()
	cur := tl.byPath[path]
	if cur == nil || cur.fpLen != 0 || cur.pred == nil || cur.pred.st != stClosed || cur.pred.fpLen != 0 {
		t.Fatalf("the empty file does not follow a closed empty one: %+v", cur)
	}
	// Between two looks: q and e compressed, p rotated empty and
	// compressed, a new file written.
	mustGzip(t, q)
	mustGzip(t, e)
	mustRename(t, path, p)
	mustGzip(t, p)
	appendFile(t, path, lines(5, 10))
	now = now.Add(time.Second)
	tl.poll(now)
	tl.rescan(now, false)
	for _, f := range tl.order {
		if f.st != stClosed && f.path == q+".gz" {
			t.Errorf("%s, read and closed, is opened again", filepath.Base(f.path))
		}
	}
}

// TestEmptyRotationsKeepNoChain: as TestRotationsKeepNoChain, with files
// rotated empty among them: a closed empty file keeps one link (the newest
// file before it with first bytes), not a chain that grows a rotation.
func TestEmptyRotationsKeepNoChain(t *testing.T) {
	tl, path, now := stepTailer(t, lines(0, 1))
	for i := range 50 {
		mustRename(t, path, fmt.Sprintf("%s.20261126-%06d", path, i))
		body := ""
		if i%10 == 9 {
			body = lines(i+1, i+2)
		}
		appendFile(t, path, body)
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		now = now.Add(time.Second)
		tl.readTurn(now)
		now = now.Add(time.Second)
		tl.readTurn(now)
	}
	n := 0
	for f := tl.byPath[path]; f != nil; f = f.pred {
		n++
	}
	if n > 3 {
		t.Errorf("the live file has %d followers linked behind it after 50 rotations", n)
	}
}

// TestRotatedPathStillParks: under max_open_files, a file whose
// predecessor (the file rotated before it) was read and closed gives its
// descriptor to a waiting file like any idle one: it waits on nothing.
func TestRotatedPathStillParks(t *testing.T) {
	dir := t.TempDir()
	paths := podLogs(t, dir, 2)
	x, y := paths[0], paths[1]
	writeSeq(t, x, 0, 0, 5)
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxOpenFiles = 2
	tl, err := New(cfg, nil, make(chan []event.Log, 100000), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	tl.readTurn(now)
	must(t, os.Rename(x, x+".20261204-010201"))
	writeSeq(t, x, 0, 5, 10)
	for range 3 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		tl.readTurn(now)
	}
	cur := tl.byPath[x]
	if cur == nil || cur.pred == nil || cur.pred.st != stClosed || testutil.ToFloat64(tl.m.openFiles) != 1 {
		t.Fatalf("x's file does not follow a closed predecessor alone: %+v", cur)
	}
	tl.lim.max = 1
	writeSeq(t, y, 1, 0, 5)
	now = now.Add(time.Second)
	tl.rescan(now, false)
	if len(tl.lim.queue) != 1 {
		t.Fatalf("waiting: %+v", tl.lim.queue)
	}
	tl.rebalance(now)
	if tl.byPath[y] == nil {
		t.Errorf("y still waits: x's idle file, its predecessor closed, was not parked")
	}
}
