//go:build !nodemo

package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestDemoLogsCommand runs the demo with --keep and, while its broker still
// serves, runs the ferry logs command line it printed: the pod's container
// lines come back, all of them.
func TestDemoLogsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	r := runDemoTest(t, "json")
	stdout, logsOut, logsErr, cmdLine := &r.stdout, &r.logsOut, &r.logsErr, r.cmdLine
	if r.code != 0 {
		t.Fatalf("%s: exit %d; stderr: %s", cmdLine, r.code, logsErr.String())
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
	// The simulated writer numbers each container's lines from 1; the
	// frames of its traces, grouped into the record of the line before
	// them, come back as lines of their own. Multiline grouping holds each
	// stream's last line for its next one, so stdout and stderr may
	// interleave otherwise than written: every line comes, once.
	seen := map[int64]bool{}
	for i, l := range got {
		s, seq, ok := simnode.ParseLine([]byte(l))
		if !ok || s != src || seen[seq] || seq < 1 || seq > int64(len(got)) {
			t.Fatalf("line %d = %.80q: not a whole line of %s numbered 1..%d, or seen before", i, l, src, len(got))
		}
		seen[seq] = true
	}
	// The checkout pod's error and trace came as one record, its JSON line
	// parsed with the address masked; the demo shows both.
	out := stdout.String()
	for _, want := range []string{`"lines":8,`, `"message":"2026-12-05 03:00:00 ERROR payment failed for order 1042\njava.lang.IllegalStateException: card declined\n\tat com.example.shop.Payments.charge`,
		`"message":"order placed","level":"info","fields":{"level":"info","order_id":1042,"customer":"[REDACTED]","total":"19.99"}`,
		// Enriched from the demo's API server: labels, image and the owner
		// workload resolved through the ReplicaSet.
		`"labels":{"app.kubernetes.io/name":"checkout","pod-template-hash":"5c7f9d8b4"},"owner":{"kind":"Deployment","name":"checkout"}`,
		`"owner":{"kind":"Deployment","name":"web-`, `"image":"registry.example.com/`} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's summary lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ada@example.com") || strings.Contains(out, "MISSING") {
		t.Errorf("the address is shown unmasked, or a processed record is missing:\n%s", out)
	}
	if strings.Contains(logsErr.String(), "scanning") {
		t.Errorf("ferry logs scanned the topic, the command names the UID: %s", logsErr.String())
	}
}

// TestDemoOTLP: with --encoding otlp_proto the demo's own reader decodes
// OTLP (every line accounted for, the checkout pod's trace grouped and
// its JSON line parsed, with the pod's owner), shows the records as OTLP
// JSON, and its ferry logs command reads the pod back from OTLP records.
func TestDemoOTLP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	r := runDemoTest(t, "otlp_proto")
	stdout, logsOut, logsErr, code := &r.stdout, &r.logsOut, &r.logsErr, r.code
	out := stdout.String()
	for _, want := range []string{`{"resourceLogs":[{"resource":{"attributes":[{"key":"k8s.namespace.name","value":{"stringValue":"shop"}}`,
		`{"key":"k8s.deployment.name","value":{"stringValue":"checkout"}}`, `{"key":"ferry.lines","value":{"intValue":"8"}}`,
		`{"key":"customer","value":{"stringValue":"[REDACTED]"}}`, `{"resourceMetrics":`} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's summary lacks %s:\n%s", want, out)
		}
	}
	if code != 0 || len(strings.Split(strings.TrimSpace(logsOut.String()), "\n")) < 10 {
		t.Errorf("ferry logs on OTLP records: exit %d, %d bytes; stderr: %s", code, logsOut.Len(), logsErr.String())
	}
}

// demoRun is what a short demo run printed, and the ferry logs command
// line it ended with, run while its broker still served.
type demoRun struct {
	stdout, stderr, logsOut, logsErr bytes.Buffer
	cmdLine                          string
	code                             int // ferry logs' exit code
}

// runDemoTest runs the demo for a second in encoding, keeping its broker
// until the ferry logs command it printed last has run.
func runDemoTest(t *testing.T, encoding string) *demoRun {
	t.Helper()
	r := &demoRun{code: -1}
	o := demoOptions{
		duration: time.Second, pods: 2, rate: 50, listen: "127.0.0.1:0", rotateBytes: 16 << 10,
		drainTimeout: 20 * time.Second, keepDir: true, progressPeriod: time.Second, encoding: encoding,
		hold: func() {
			// The demo's stdout so far, written on this goroutine.
			lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
			r.cmdLine = strings.TrimSpace(lines[len(lines)-1])
			args := strings.Fields(r.cmdLine)
			if len(args) < 2 || args[0] != "ferry" {
				t.Errorf("last line is not a ferry command: %q", r.cmdLine)
				return
			}
			r.code = cli(args[1:], &r.logsOut, &r.logsErr)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ok, err := runDemo(ctx, o, &r.stdout, &r.stderr)
	if m := regexp.MustCompile(`simulated node directory: (\S+)`).FindStringSubmatch(r.stdout.String()); m != nil {
		t.Cleanup(func() { os.RemoveAll(m[1]) })
	} else {
		t.Errorf("the demo did not name its kept directory:\n%s", r.stdout.String())
	}
	if err != nil || !ok {
		t.Fatalf("demo: ok %v, err %v\n%s\n%s", ok, err, r.stdout.String(), r.stderr.String())
	}
	return r
}
