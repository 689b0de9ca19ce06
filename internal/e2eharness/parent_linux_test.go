package e2eharness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again by TestAgentDiesWithTestProcess,
// play the test process: it starts a child as Start starts an agent,
// prints the child's pid and waits to be killed.
const helperEnv = "E2EHARNESS_PARENT_HELPER"

// A test process killed outright runs no Cleanup; the agents it started
// must not outlive it (an agent left running delivered its held lines to
// the broker of a later test that was given its broker's port).
func TestAgentDiesWithTestProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		cmd := agentCommand("sleep", "600")
		cmd.ExtraFiles = []*os.File{os.NewFile(3, "exit-pipe")} // held open until the child ends
		if err := cmd.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		select {} // until killed
	}
	// The write end of a pipe goes to the helper and on to its child:
	// once both are gone, a read of the other end returns EOF.
	exitR, exitW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer exitR.Close()
	helper := exec.Command(os.Args[0], "-test.run=^TestAgentDiesWithTestProcess$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	helper.ExtraFiles = []*os.File{exitW}
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	exitW.Close()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = helper.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = helper.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if !alive(child) {
		t.Fatalf("child %d not running before its parent was killed", child)
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	// The kernel signals the child when the parent dies: its end of the
	// pipe closes when it exits (bounded wait).
	if err := exitR.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := exitR.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("child %d still running 10 s after its parent was killed (%v)", child, err)
	}
	// (EOF: every copy of the write end is closed, the child's too; sleep
	// closes none, so it exited. /proc may still show it for a moment:
	// a process closes its files before it becomes a zombie.)
}

// alive says whether pid runs (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
