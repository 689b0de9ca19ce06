package process

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// checkJavaStep asserts that javaStep gives what javaNext, then javaBegin
// when the line does not continue, give.
func checkJavaStep(t *testing.T, st uint8, first, l []byte) {
	t.Helper()
	cont, nst := javaStep(st, first, l)
	wantCont, wantSt := javaNext(st, first, l)
	if !wantCont {
		wantSt = javaBegin(l)
	}
	if cont != wantCont || nst != wantSt {
		t.Fatalf("state %d, first %q, line %q: step (%v, %d), next then begin (%v, %d)", st, first, l, cont, nst, wantCont, wantSt)
	}
}

// TestJavaStep: every line of the multiline test logs after every line, in
// both states.
func TestJavaStep(t *testing.T) {
	logs, err := filepath.Glob("testdata/multiline/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no logs: %v", err)
	}
	lines := bytes.Split([]byte(javaTrace), []byte("\n"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(b, []byte("\n"))...)
	}
	lines = append(lines, []byte("Exception in thread \"main\" java.lang.Error: x"), []byte("ERROR failed"))
	for _, first := range lines {
		for _, l := range lines {
			for _, st := range []uint8{jPlain, jTrace} {
				checkJavaStep(t, st, first, l)
			}
		}
	}
}

func FuzzJavaStep(f *testing.F) {
	f.Add(uint8(0), []byte("ERROR boom"), []byte("java.lang.IllegalStateException: x"))
	f.Add(uint8(1), []byte("x"), []byte("\tat a.b(C.java:1)"))
	f.Add(uint8(0), []byte("error"), []byte("Exception in thread \"main\" java.lang.RuntimeException"))
	f.Fuzz(func(t *testing.T, st uint8, first, l []byte) {
		checkJavaStep(t, st&1, first, l)
	})
}
