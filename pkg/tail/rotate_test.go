package tail

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// seqWriter appends sequence-numbered CRI lines to one container log the
// way containerd does (16 KiB fragments as P lines, both streams, over-long
// lines) and rotates it the way kubelet does.
type seqWriter struct {
	t       *testing.T
	path    string
	seq     int
	want    []string // full body per seq
	stream  []event.Stream
	rotated []string
	f       *os.File
	size    int64
	keep    bool // do not compress and remove old rotated files
	docker  bool // docker json-file lines instead of CRI
}

func (w *seqWriter) body(n int) string {
	length := 20 + (n*131)%200
	switch n % 9 {
	case 7, 8:
		length = 40 << 10 // split into three fragments
	}
	if n%23 == 5 {
		length = 100 << 10 // longer than max_line_bytes
	}
	head := fmt.Sprintf("seq=%d ", n)
	return head + strings.Repeat(string(rune('a'+n%26)), length)
}

func (w *seqWriter) open() {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.f, w.size = f, 0
}

// frags frames body as fragments of at most 16 KiB, as containerd (CRI) or
// docker's json-file driver write them.
func (w *seqWriter) frags(stream, body string) []string {
	var out []string
	for len(body) > 16<<10 {
		out = append(out, w.frame(stream, body[:16<<10], false))
		body = body[16<<10:]
	}
	return append(out, w.frame(stream, body, true))
}

func (w *seqWriter) frame(stream, msg string, final bool) string {
	if !w.docker {
		tag := "P"
		if final {
			tag = "F"
		}
		return criLine(stream, tag, msg)
	}
	nl := ""
	if final {
		nl = `\n`
	}
	return fmt.Sprintf(`{"log":"%s%s","stream":"%s","time":"2026-11-26T03:55:09.123456789Z"}`+"\n", msg, nl, stream)
}

// next writes one group of lines: one short line, or two long lines on
// both streams with their fragments interleaved.
func (w *seqWriter) next() {
	var buf strings.Builder
	n := w.seq
	if n%9 == 7 {
		a, b := w.body(n), w.body(n+1)
		fa, fb := w.frags("stdout", a), w.frags("stderr", b)
		// stdout's last fragment goes first so that seq n completes first.
		for i := range fa {
			buf.WriteString(fa[i])
			if i < len(fb)-1 {
				buf.WriteString(fb[i])
			}
		}
		for i := len(fa); i < len(fb); i++ {
			buf.WriteString(fb[i])
		}
		if len(fb) <= len(fa) {
			buf.WriteString(fb[len(fb)-1])
		}
		w.want = append(w.want, a, b)
		w.stream = append(w.stream, event.Stdout, event.Stderr)
		w.seq += 2
	} else {
		s := "stdout"
		st := event.Stdout
		if n%2 == 1 {
			s, st = "stderr", event.Stderr
		}
		b := w.body(n)
		for _, fr := range w.frags(s, b) {
			buf.WriteString(fr)
		}
		w.want = append(w.want, b)
		w.stream = append(w.stream, st)
		w.seq++
	}
	k, err := w.f.WriteString(buf.String())
	if err != nil {
		w.t.Error(err)
	}
	w.size += int64(k)
}

// rotate renames the log kubelet's way, starts a new one, and compresses
// (then removes) the rotated file from three rotations ago. The names
// count up in six digits where kubelet's time of day is: they sort in
// the order they were made (kubelet's order) for a million rotations.
// With two digits, the 101st rotated file sorted before the 12th, and a
// restart after it read the files out of order (a writer that ran more
// than 100 rotations ahead of a tailer slowed by a loaded machine).
func (w *seqWriter) rotate() {
	_ = w.f.Close()
	name := fmt.Sprintf("%s.20261126-%06d", w.path, len(w.rotated))
	if err := os.Rename(w.path, name); err != nil {
		w.t.Error(err)
	}
	w.rotated = append(w.rotated, name)
	w.open()
	if len(w.rotated) > 3 && !w.keep {
		old := w.rotated[len(w.rotated)-4]
		data, err := os.ReadFile(old)
		if err != nil {
			w.t.Error(err)
			return
		}
		gz, _ := os.Create(old + ".gz")
		zw := gzip.NewWriter(gz)
		_, _ = zw.Write(data)
		_ = zw.Close()
		_ = gz.Close()
		_ = os.Remove(old)
	}
}

// checkSeqs checks that recs hold every sequence number of w exactly once
// and in order, with the right bodies, streams and truncation.
func checkSeqs(t *testing.T, w *seqWriter, recs []rec, maxLine int) {
	t.Helper()
	next := 0
	for _, r := range recs {
		n, ok := seqOf(r.body)
		if !ok || r.parseErr {
			t.Fatalf("line without sequence number: %.80q (parse error %v)", r.body, r.parseErr)
		}
		if n != next {
			t.Fatalf("got seq %d, want %d", n, next)
		}
		want := w.want[n]
		trunc := len(want) > maxLine
		if trunc {
			want = want[:maxLine]
		}
		if r.body != want || r.truncated != trunc || r.stream != w.stream[n] {
			t.Fatalf("seq %d: body %d bytes (want %d) truncated %v stream %v", n, len(r.body), len(want), r.truncated, r.stream)
		}
		next++
	}
	if next != w.seq {
		t.Fatalf("got %d lines, want %d", next, w.seq)
	}
}

func TestRotationKubelet(t *testing.T) {
	t.Run("cri", func(t *testing.T) { testRotation(t, false, 30) })
	t.Run("docker", func(t *testing.T) { testRotation(t, true, 12) })
}

func testRotation(t *testing.T, docker bool, rotations int) {
	dir := t.TempDir()
	cdir := filepath.Join(dir, "ns_pod_uid", "app")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxInflightBytes = 128 << 10 // reading often waits for acknowledgements
	w := &seqWriter{t: t, path: filepath.Join(cdir, "0.log"), docker: docker}
	w.open()
	w.next() // the file exists before the tailer starts
	r := startRunner(t, cfg, Options{})
	for len(w.rotated) < rotations {
		w.next()
		if w.size >= 1<<20 {
			w.rotate()
			time.Sleep(100 * time.Millisecond)
		}
		if w.seq%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for range 10 {
		w.next()
	}
	_ = w.f.Close()
	waitFor(t, 60*time.Second, "every line", func() bool { return len(r.snapshot()) >= w.seq })
	r.settle() // a duplicate would show up here
	r.stop()
	checkSeqs(t, w, r.snapshot(), cfg.MaxLineBytes)
	m := r.tl.m
	if got := testutil.ToFloat64(m.rotations); got < float64(rotations-3) || got > float64(rotations) {
		t.Errorf("rotations_total = %v, want about %d", got, rotations)
	}
	for _, reason := range []string{lostDeleted, lostTruncated} {
		if got := testutil.ToFloat64(m.lost.WithLabelValues(reason)); got != 0 {
			t.Errorf("lost %s = %v", reason, got)
		}
	}
	if got := testutil.ToFloat64(m.parseErrors); got != 0 {
		t.Errorf("parse errors = %v", got)
	}
	overlong := 0
	for _, b := range w.want {
		if len(b) > cfg.MaxLineBytes {
			overlong++
		}
	}
	if got := testutil.ToFloat64(m.truncated); got != float64(overlong) || overlong == 0 {
		t.Errorf("lines truncated = %v, want %d", got, overlong)
	}
	t.Logf("%d lines, %d rotations, backpressure %.2fs", w.seq, rotations, testutil.ToFloat64(m.backpressure))
}
