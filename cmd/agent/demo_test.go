package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoLogsCommand runs the demo with --keep and, while its broker still
// serves, runs the ferry logs command line it printed: the pod's container
// lines come back, all of them, in the order written.
func TestDemoLogsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	var stdout, stderr bytes.Buffer
	var logsOut, logsErr bytes.Buffer
	var cmdLine string
	code := -1
	o := demoOptions{
		duration: time.Second, pods: 2, rate: 50, listen: "127.0.0.1:0", rotateBytes: 16 << 10,
		drainTimeout: 20 * time.Second, keepDir: true, progressPeriod: time.Second,
		hold: func() {
			// The demo's stdout so far, written on this goroutine.
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			cmdLine = strings.TrimSpace(lines[len(lines)-1])
			args := strings.Fields(cmdLine)
			if len(args) < 2 || args[0] != "ferry" {
				t.Errorf("last line is not a ferry command: %q", cmdLine)
				return
			}
			code = cli(args[1:], &logsOut, &logsErr)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ok, err := runDemo(ctx, o, &stdout, &stderr)
	if m := regexp.MustCompile(`simulated node directory: (\S+)`).FindStringSubmatch(stdout.String()); m != nil {
		t.Cleanup(func() { os.RemoveAll(m[1]) })
	} else {
		t.Errorf("the demo did not name its kept directory:\n%s", stdout.String())
	}
	if err != nil || !ok {
		t.Fatalf("demo: ok %v, err %v\n%s\n%s", ok, err, stdout.String(), stderr.String())
	}
	if code != 0 {
		t.Fatalf("%s: exit %d; stderr: %s", cmdLine, code, logsErr.String())
	}
	// The line printed at the start to follow the pod while the demo runs
	// is the same command with -f.
	if !strings.Contains(stdout.String(), "follow one pod's logs while it runs: "+cmdLine+" -f\n") {
		t.Errorf("the start does not print %q with -f:\n%s", cmdLine, stdout.String())
	}
	m := regexp.MustCompile(` -n (\S+) (\S+) -c (\S+) `).FindStringSubmatch(cmdLine)
	if m == nil {
		t.Fatalf("no -n NS POD -c CONTAINER in %q", cmdLine)
	}
	src := m[1] + "/" + m[2] + "/" + m[3]
	got := strings.Split(strings.TrimSuffix(logsOut.String(), "\n"), "\n")
	if len(got) < 10 {
		t.Fatalf("%s printed %d lines, want the second's worth at 50 lines/s: %q", cmdLine, len(got), logsOut.String())
	}
	// The simulated writer numbers each container's lines from 1.
	for i, l := range got {
		if want := fmt.Sprintf("seq=%d src=%s ", i+1, src); !strings.HasPrefix(l, want) {
			t.Fatalf("line %d = %.80q, want it to start %q", i, l, want)
		}
	}
	if strings.Contains(logsErr.String(), "scanning") {
		t.Errorf("ferry logs scanned the topic, the command names the UID: %s", logsErr.String())
	}
}
