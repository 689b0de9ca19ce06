package tail

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// dockerd rotates a json-file log as dockerd does with max-file and
// compress (its loggerutils logfile.go): the oldest compressed file is
// removed, <log>.<n>.gz renamed <log>.<n+1>.gz from the oldest down, the
// log renamed <log>.1 and a new log created; then, in the background,
// <log>.1 is compressed to <log>.1.gz, written under that final name
// (unlike kubelet, which writes a temporary name and renames it), and
// <log>.1 is removed once the .gz is whole. So a tailer can find
// <log>.1.gz half written beside <log>.1, and dockerd does not rotate again
// until the compression ended.
type dockerd struct {
	t        *testing.T
	path     string
	maxFiles int
}

// dockerLines frames lines from..to-1 as docker json-file lines.
func dockerLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"log":"seq=%d %s\n","stream":"stdout","time":"2026-11-26T03:55:09.123456789Z"}`+"\n", i, strings.Repeat("d", i%40))
	}
	return b.String()
}

// rotate renames the files; the compression is left to compress.
func (d *dockerd) rotate() {
	t := d.t
	t.Helper()
	if err := os.Remove(fmt.Sprintf("%s.%d.gz", d.path, d.maxFiles-1)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for i := d.maxFiles - 1; i > 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d.gz", d.path, i-1), fmt.Sprintf("%s.%d.gz", d.path, i)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	mustRename(t, d.path, d.path+".1")
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
}

// compress writes the first part (of every 8 bytes, part) of <log>.1's
// gzip stream to <log>.1.gz and returns what finishes it: the rest written,
// then <log>.1 removed. part 8 compresses it whole.
func (d *dockerd) compress(part int) (finish func()) {
	t := d.t
	t.Helper()
	data, err := os.ReadFile(d.path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Extra = []byte(`{"lastTime":"2026-11-26T03:55:09.123456789Z"}`)
	_, _ = zw.Write(data)
	must(t, zw.Close())
	out, err := os.OpenFile(d.path+".1.gz", os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	cut := z.Len() * part / 8
	if _, err := out.Write(z.Bytes()[:cut]); err != nil {
		t.Fatal(err)
	}
	finish = func() {
		t.Helper()
		if _, err := out.Write(z.Bytes()[cut:]); err != nil {
			t.Fatal(err)
		}
		must(t, out.Close())
		must(t, os.Remove(d.path+".1"))
	}
	if part >= 8 {
		finish()
		return func() {}
	}
	return finish
}

// dockerdSetup makes a container directory as dockerd lays it out
// (<root>/<id>/<id>-json.log) and a config that follows it.
func dockerdSetup(t *testing.T) (Config, *dockerd) {
	dir := t.TempDir()
	id := "4f1c0a9e"
	if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.Include = []string{filepath.Join(dir, "*", "*-json.log")}
	return cfg, &dockerd{t: t, path: filepath.Join(dir, id, id+"-json.log"), maxFiles: 5}
}

// dockerdWant waits for line last, lets the tailer settle and checks that the
// lines are from..last, each once and in order, with nothing counted lost.
func dockerdWant(t *testing.T, r *runner, from, last int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("line %d", last), func() bool { return hasSeq(r, last) })
	r.settle()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(from, last+1)) {
		t.Errorf("lines %v, want %d-%d once each", got, from, last)
	}
	for _, reason := range []string{lostDeleted, lostTruncated} {
		if got := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(reason)); got != 0 {
			t.Errorf("lost %s = %v", reason, got)
		}
	}
	if got := testutil.ToFloat64(r.tl.m.parseErrors); got != 0 {
		t.Errorf("parse errors = %v", got)
	}
}

// TestDockerdRotationFollowed: dockerd rotates and compresses while the
// agent follows the log, the compression seen half done at times: every
// line comes once, in order.
func TestDockerdRotationFollowed(t *testing.T) {
	cfg, d := dockerdSetup(t)
	appendFile(t, d.path, dockerLines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 30*time.Second, "line 9", func() bool { return hasSeq(r, 9) })
	next := 10
	for round := range 8 {
		appendFile(t, d.path, dockerLines(next, next+10))
		next += 10
		d.rotate()
		appendFile(t, d.path, dockerLines(next, next+5))
		next += 5
		finish := d.compress(round % 8)
		r.looked(1)
		finish()
		appendFile(t, d.path, dockerLines(next, next+5))
		next += 5
		r.looked(1)
	}
	dockerdWant(t, r, 0, next-1)
}

// TestDockerdRotationWhileStopped: dockerd rotates and compresses while no
// agent runs (a rolling update), and the agent starts with the compression
// of the newest rotated file half done (<log>.1 and a partial <log>.1.gz),
// or done. The lines after the checkpoint come once, in order: from inside
// the older .gz where the checkpoint's file was compressed, from the plain
// <log>.1, not the partial .gz, then the new log; and finishing the
// compression after the start brings nothing again.
func TestDockerdRotationWhileStopped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rotations int // while stopped
		part      int // of the last compression done at the start, in eighths
	}{
		{"one rotation, compressed", 1, 8},
		{"one rotation, compression half done", 1, 4},
		{"one rotation, compression not begun", 1, 0},
		{"two rotations, compressed", 2, 8},
		{"two rotations, the last compression half done", 2, 4},
		{"two rotations, the last compression nearly done", 2, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, d := dockerdSetup(t)
			appendFile(t, d.path, dockerLines(0, 10))
			r := startRunner(t, cfg, Options{})
			dockerdWant(t, r, 0, 9)
			r.stop()

			next := 10
			finish := func() {}
			for i := range tc.rotations {
				appendFile(t, d.path, dockerLines(next, next+10))
				next += 10
				d.rotate()
				part := 8
				if i == tc.rotations-1 {
					part = tc.part
				}
				finish = d.compress(part)
			}
			appendFile(t, d.path, dockerLines(next, next+5))
			next += 5

			r = startRunner(t, cfg, Options{})
			waitFor(t, 30*time.Second, fmt.Sprintf("line %d", next-1), func() bool { return hasSeq(r, next-1) })
			finish()
			appendFile(t, d.path, dockerLines(next, next+5))
			next += 5
			r.looked(2)
			dockerdWant(t, r, 10, next-1)
		})
	}
}

// TestDockerdMaxFileWhileStopped: while no agent runs, dockerd rotates
// past max-file and removes the oldest .gz, which held the checkpoint's
// file and the lines after it no agent read: those are lost, and counted
// (the file vanished, its size unknown); every line of the files left
// comes once, in order.
func TestDockerdMaxFileWhileStopped(t *testing.T) {
	cfg, d := dockerdSetup(t)
	d.maxFiles = 3
	appendFile(t, d.path, dockerLines(0, 10))
	r := startRunner(t, cfg, Options{})
	dockerdWant(t, r, 0, 9)
	r.stop()

	next := 10
	for range 3 {
		appendFile(t, d.path, dockerLines(next, next+10))
		next += 10
		d.rotate()
		d.compress(8)
	}
	appendFile(t, d.path, dockerLines(next, next+5))
	next += 5
	if _, err := os.Stat(d.path + ".3.gz"); !os.IsNotExist(err) {
		t.Fatalf("max-file 3 keeps .1.gz and .2.gz only: %v", err)
	}

	r = startRunner(t, cfg, Options{})
	waitFor(t, 30*time.Second, fmt.Sprintf("line %d", next-1), func() bool { return hasSeq(r, next-1) })
	r.settle()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(20, next)) {
		t.Errorf("lines %v, want 20-%d once each (10-19 were in the file dockerd removed)", got, next-1)
	}
	m := r.tl.m
	if got := testutil.ToFloat64(m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("lost files (vanished) = %v, want 1: the checkpoint's file", got)
	}
}

// TestDockerdMaxFileWhileBehind: the sink holds every acknowledgement, so
// the agent stops reading at its in-flight bound with the log half read;
// dockerd rotates past max-file meanwhile, compressing the file the agent
// holds open and removing it later. The agent reads on through its
// descriptor once the sink acknowledges: every line once, in order,
// nothing lost. Known open: it fails in some runs (2 of 4 whole-package
// runs at the end of stop 45, on stop 44's code too), lines 4050-4099 lost
// and counted truncated, 4100-4149 twice; the failure moves with the
// inodes the file system hands out, so inode reuse by dockerd's new log is
// suspected. TAIL_KNOWN=1 runs it.
func TestDockerdMaxFileWhileBehind(t *testing.T) {
	knownOpen(t, "dockerd rotating past max-file while the agent is held behind: in some runs a file's lines are lost (counted truncated) and the next file's come twice; inode reuse suspected")
	cfg, d := dockerdSetup(t)
	d.maxFiles = 3
	cfg.MaxInflightBytes = 8 << 10
	cfg.MaxLineBytes = 4 << 10
	cfg.ReadBytesPerTurn = 16 << 10
	appendFile(t, d.path, dockerLines(0, 4000))
	r := startRunner(t, cfg, Options{})
	r.setHold(true)
	waitFor(t, 30*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })
	r.looked(2)
	if hasSeq(r, 3999) {
		t.Fatal("every line read with nothing acknowledged: the in-flight bound did not hold reading back")
	}
	next := 4000
	for range 4 {
		d.rotate()
		d.compress(8)
		appendFile(t, d.path, dockerLines(next, next+50))
		next += 50
	}
	r.setHold(false)
	dockerdWant(t, r, 0, next-1)
}
