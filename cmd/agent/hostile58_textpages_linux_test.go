package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestHostile58DropAfterBinaryReplaced: the agent's executable is deleted
// or replaced by a new file (a rename over it, as an in-place upgrade
// does) while it runs; then the drop unmaps its pages. They must fault
// back from the file the process was started from, not from the new one
// at the path: the code still runs. A copy of this test binary is the
// process; it waits on its stdin for the file's change (no timing).
func TestHostile58DropAfterBinaryReplaced(t *testing.T) {
	if os.Getenv("FERRY_H58_CHILD") == "1" {
		hostile58Child()
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"deleted", "replaced"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "agent")
			copyFile(t, self, exe, 0o755)
			cmd := exec.Command(exe, "-test.run=^TestHostile58DropAfterBinaryReplaced$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FERRY_H58_CHILD=1")
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("child: %q %v", line, err)
			}
			switch how {
			case "deleted":
				if err := os.Remove(exe); err != nil {
					t.Fatal(err)
				}
			case "replaced":
				// Another file of the same size, garbage as code.
				fi, err := os.Stat(exe)
				if err != nil {
					t.Fatal(err)
				}
				junk := make([]byte, fi.Size())
				for i := range junk {
					junk[i] = 0xcc
				}
				if err := os.WriteFile(exe+".new", junk, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(exe+".new", exe); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := io.WriteString(in, "go\n"); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(r)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child after the drop: %v\n%s", err, rest)
			}
			if string(rest) != "ok\n" {
				t.Fatalf("child said %q", rest)
			}
		})
	}
}

// hostile58Child waits for its file to change, drops its pages, runs code
// it had not run yet after the drop and says ok.
func hostile58Child() {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(3)
	}
	n, err := dropTextPages()
	if err != nil || n == 0 {
		fmt.Println("drop:", n, err)
		os.Exit(4)
	}
	b, err := json.MarshalIndent(map[string][]float64{"x": {1.5, 2}}, "", " ")
	if err != nil || len(b) == 0 {
		os.Exit(5)
	}
	fmt.Println("ok")
	os.Exit(0)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
