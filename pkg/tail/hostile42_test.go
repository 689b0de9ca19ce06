package tail

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

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
