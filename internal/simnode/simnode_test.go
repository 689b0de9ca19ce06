package simnode

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLineRoundTrip(t *testing.T) {
	for _, length := range []int{0, 10, 64, 300, 40000} {
		msg := Line("ns/pod/app", 42, length)
		src, seq, ok := ParseLine(msg)
		if !ok || src != "ns/pod/app" || seq != 42 {
			t.Errorf("length %d: ParseLine = %q %d %v", length, src, seq, ok)
		}
		if _, _, ok := ParseLine(msg[:len(msg)-1]); ok {
			t.Errorf("length %d: a cut line parsed as whole", length)
		}
	}
}

// readCRI merges a CRI file's partial lines back into messages.
func readCRI(t *testing.T, r io.Reader) [][]byte {
	t.Helper()
	var out [][]byte
	var pending []byte
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) != 4 {
			t.Fatalf("not a CRI line: %q", sc.Text())
		}
		pending = append(pending, parts[3]...)
		if parts[2] == "F" {
			out = append(out, pending)
			pending = nil
		}
	}
	return out
}

// TestNodeWritesRotatesAndChecks runs a node with rotation and compression,
// reads every file back (gzipped ones included) and checks the Checker
// finds every line exactly once.
func TestNodeWritesRotatesAndChecks(t *testing.T) {
	root := t.TempDir()
	n, err := New(Config{Root: root, Pods: 2, ContainersPerPod: 2, LongEvery: 7, LongBytes: 40000,
		RotateBytes: 64 << 10, Keep: 1000, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Rotations() == 0 {
		t.Fatal("no rotation happened")
	}
	chk := NewChecker()
	files, _ := filepath.Glob(filepath.Join(root, "*", "*", "0.log*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = fh
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		for _, m := range readCRI(t, r) {
			chk.Observe(m)
		}
		fh.Close()
	}
	rep := chk.Report(n.Containers())
	if !rep.OK() || rep.Duplicates != 0 || rep.Written == 0 {
		t.Fatalf("report: %v", rep)
	}
	// Drop one observation's worth: a checker that misses a line must say so.
	chk2 := NewChecker()
	rep2 := chk2.Report(n.Containers())
	if rep2.Lost != rep.Written {
		t.Fatalf("empty checker lost %d, want %d", rep2.Lost, rep.Written)
	}
}
