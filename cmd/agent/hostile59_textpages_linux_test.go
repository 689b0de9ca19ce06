package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostile59DropOnOverlay: the agent's binary on an overlay file system
// (a container's root), then the file at its path changed through the
// overlay while the agent runs: a new file renamed over it (a copy-up of
// the directory and a whiteout of the lower file), or the file rewritten
// in place (a copy-up of the file itself, when the kernel lets a running
// binary be opened for writing). smaps names the mapping by the lower
// file's device and inode, not the overlay's: the drop must still find
// the code's pages, and they must fault back from the file the process
// was started from. Run in a user and mount namespace of its own; skipped
// where those or overlay mounts are not allowed.
func TestHostile59DropOnOverlay(t *testing.T) {
	switch os.Getenv("FERRY_H59_OVERLAY") {
	case "mount":
		hostile59Mount()
		return
	case "child":
		hostile59Child()
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"renamed over", "rewritten in place"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"lower", "upper", "work", "merged"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			copyFile(t, self, filepath.Join(dir, "lower", "agent"), 0o755)
			// overlayfs leaves work/work with mode 0: let the removal in.
			t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "work", "work"), 0o755) })
			// Bounded: a child that hangs fails the test, not the run.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, self, "-test.run=^TestHostile59DropOnOverlay$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FERRY_H59_OVERLAY=mount", "FERRY_H59_DIR="+dir, "FERRY_H59_HOW="+how)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
				Pdeathsig:   syscall.SIGKILL,
			}
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Skipf("no user and mount namespace here: %v", err)
			}
			rest, _ := io.ReadAll(out)
			err = cmd.Wait()
			if s := string(rest); strings.HasPrefix(s, "skip: ") {
				t.Skip(strings.TrimSpace(s))
			}
			if err != nil || string(rest) != "ok\n" {
				t.Fatalf("child: %v\n%s", err, rest)
			}
		})
	}
}

// hostile59Mount mounts the overlay in its namespace and runs the copy of
// the test binary from it.
func hostile59Mount() {
	dir := os.Getenv("FERRY_H59_DIR")
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", dir, dir, dir)
	if err := syscall.Mount("overlay", dir+"/merged", "overlay", 0, opts); err != nil {
		fmt.Println("skip: overlay mount:", err)
		os.Exit(0)
	}
	exe := dir + "/merged/agent"
	// syscall.Exec keeps the first of two values of a name: replace it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_H59_OVERLAY=") {
			env = append(env, kv)
		}
	}
	env = append(env, "FERRY_H59_OVERLAY=child")
	err := syscall.Exec(exe, []string{exe, "-test.run=^TestHostile59DropOnOverlay$", "-test.count=1"}, env)
	fmt.Println("exec:", err)
	os.Exit(3)
}

// hostile59Child changes its own file through the overlay, drops its
// pages and runs code it had not run yet.
func hostile59Child() {
	dir := os.Getenv("FERRY_H59_DIR")
	exe := dir + "/merged/agent"
	maps, _ := os.ReadFile("/proc/self/maps")
	if !strings.Contains(string(maps), exe) {
		fmt.Printf("not run from the overlay:\n%s", maps)
		os.Exit(4)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		fmt.Println(err)
		os.Exit(5)
	}
	junk := []byte(strings.Repeat("\xcc", int(fi.Size())))
	switch os.Getenv("FERRY_H59_HOW") {
	case "renamed over":
		if err := os.WriteFile(exe+".new", junk, 0o755); err != nil {
			fmt.Println(err)
			os.Exit(6)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			fmt.Println(err)
			os.Exit(6)
		}
	default:
		f, err := os.OpenFile(exe, os.O_WRONLY, 0)
		if err != nil {
			fmt.Println("skip: the running binary cannot be opened for writing:", err)
			os.Exit(0)
		}
		_, err = f.WriteAt(junk, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(6)
		}
	}
	if b, err := os.ReadFile(exe); err != nil || string(b) != string(junk) {
		fmt.Println("the file at the path did not change:", err)
		os.Exit(7)
	}
	n, err := dropTextPages()
	if err != nil || n == 0 {
		fmt.Println("drop:", n, err)
		os.Exit(8)
	}
	b, err := json.MarshalIndent(map[string][]float64{"y": {2.5, 3}}, "", "  ")
	if err != nil || len(b) == 0 {
		os.Exit(9)
	}
	_ = bufio.NewReader(strings.NewReader("")) // more code run after the drop
	fmt.Println("ok")
	os.Exit(0)
}
