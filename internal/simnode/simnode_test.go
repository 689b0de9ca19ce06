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

// TestPodUID lays out directories named with the UIDs the caller gives, after
// telling it each pod's namespace, name and containers; without PodUID the
// made-up UIDs stay.
func TestPodUID(t *testing.T) {
	root := t.TempDir()
	type call struct {
		ns, pod    string
		containers []string
	}
	var calls []call
	n, err := New(Config{Root: root, Pods: 2, ContainersPerPod: 2, PodUID: func(ns, pod string, containers []string) (string, error) {
		calls = append(calls, call{ns, pod, containers})
		return "uid-of-" + pod, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []call{
		{"shop", "web-0-7d9f8c6b5-x000", []string{"app", "sidecar"}},
		{"payments", "web-1-7d9f8c6b5-x001", []string{"app", "sidecar"}},
	}
	if len(calls) != len(want) {
		t.Fatalf("PodUID called %d times, want %d: %v", len(calls), len(want), calls)
	}
	for i := range want {
		if calls[i].ns != want[i].ns || calls[i].pod != want[i].pod || strings.Join(calls[i].containers, ",") != strings.Join(want[i].containers, ",") {
			t.Errorf("call %d: %v, want %v", i, calls[i], want[i])
		}
	}
	for _, c := range n.Containers() {
		wantDir := filepath.Join(root, c.Namespace+"_"+c.Pod+"_uid-of-"+c.Pod, c.Name)
		if c.UID != "uid-of-"+c.Pod || c.Dir != wantDir {
			t.Errorf("container %s: uid %q dir %q, want dir %q", c.Source(), c.UID, c.Dir, wantDir)
		}
		if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory: %v", c.Dir, err)
		}
	}

	_, err = New(Config{Root: t.TempDir(), Pods: 1, ContainersPerPod: 1, PodUID: func(string, string, []string) (string, error) {
		return "", io.ErrUnexpectedEOF
	}})
	if err == nil || !strings.Contains(err.Error(), "shop/web-0-7d9f8c6b5-x000") {
		t.Errorf("New with a failing PodUID: %v, want an error naming the pod", err)
	}

	plain, err := New(Config{Root: t.TempDir(), Pods: 1, ContainersPerPod: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.Containers()[0].UID; got != "0b1e2c3d-4e5f-4a6b-8c7d-000000000000" {
		t.Errorf("default UID %q", got)
	}
}

// TestTraces: with TraceEvery, every n-th line is followed by frame lines
// on its own stream, and a Checker given the grouped records (lines joined
// by "\n", as multiline grouping ships them) counts every line once.
func TestTraces(t *testing.T) {
	root := t.TempDir()
	n, err := New(Config{Root: root, Pods: 1, ContainersPerPod: 2, TraceEvery: 5, TraceLines: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	chk := NewChecker()
	groups := 0
	for _, c := range n.Containers() {
		b, err := os.ReadFile(filepath.Join(c.Dir, "0.log"))
		if err != nil {
			t.Fatal(err)
		}
		open := map[string][]byte{} // stream -> the record being grouped
		lines := map[string]int{}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			parts := strings.SplitN(l, " ", 4)
			stream, msg := parts[1], parts[3]
			if strings.HasPrefix(msg, TracePrefix) {
				if open[stream] == nil {
					t.Fatalf("a frame line on %s follows no line of its stream: %q", stream, msg)
				}
				open[stream] = append(append(open[stream], '\n'), msg...)
				lines[stream]++
				continue
			}
			if lines[stream] == 3 {
				groups++
			}
			if open[stream] != nil {
				chk.Observe(open[stream])
			}
			open[stream], lines[stream] = []byte(msg), 0
		}
		for _, rec := range open {
			chk.Observe(rec)
		}
	}
	if rep := chk.Report(n.Containers()); !rep.OK() || rep.Duplicates != 0 || rep.Foreign != 0 || rep.Written < 20 {
		t.Errorf("grouped records: %s, foreign %d", rep, rep.Foreign)
	}
	if groups == 0 {
		t.Error("no trace of 4 lines on one stream was written")
	}
	if frame := AppendTraceLine(nil, "a/b/c", 7, 100); !IsLine(string(frame)) || IsLine("x"+string(frame)) {
		t.Errorf("IsLine(%q) is not true, or true with a byte before it", frame)
	}
	if _, _, ok := ParseLine(AppendTraceLine(nil, "a/b/c", 7, 100)[:50]); ok {
		t.Error("a cut frame line parsed as whole")
	}
}
