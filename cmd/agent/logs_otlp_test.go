package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/ship"
)

// countAcks counts the lines the shipper confirmed.
type countAcks struct{ n atomic.Int64 }

func (c *countAcks) Ack(cs []event.Cursor) { c.n.Add(int64(len(cs))) }

// shipLines ships lines through pkg/ship's Kafka sink in encoding to the
// broker, and returns once the broker confirmed them all.
func shipLines(t *testing.T, addr, encoding string, lines []event.Log) {
	t.Helper()
	k := ship.DefaultKafkaConfig()
	k.Brokers, k.Topic, k.Encoding = []string{addr}, logsTopic, encoding
	k.Batch.Linger = time.Millisecond
	in := make(chan []event.Log, 1)
	acks := &countAcks{}
	s, err := ship.New(ship.Config{Kafka: &k}, nil, ship.Options{Logs: in, Acker: acks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	in <- lines
	close(in)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("the shipper did not drain in 60s")
	}
	cancel()
	if n := acks.n.Load(); n != int64(len(lines)) {
		t.Fatalf("%d of %d lines confirmed", n, len(lines))
	}
}

// TestLogsReadsEveryEncoding: whatever sink.kafka.encoding the agent
// ships with, ferry logs reads a pod's lines back by name, by UID and by
// selector, and --output json prints text (an OTLP protobuf record as
// OTLP JSON).
func TestLogsReadsEveryEncoding(t *testing.T) {
	checkout := &event.Meta{Namespace: "shop", Pod: "checkout", PodUID: "uid-c", Container: "app", Node: "n1",
		Labels: map[string]string{"app": "checkout"}}
	web := &event.Meta{Namespace: "shop", Pod: "web", PodUID: "uid-w", Container: "app", Node: "n1",
		Labels: map[string]string{"app": "web"}}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var lines []event.Log
	for i := range 6 {
		m := checkout
		if i%2 == 1 {
			m = web
		}
		lines = append(lines, event.Log{Time: at.Add(time.Duration(i) * time.Second), Stream: event.Stdout,
			Body: fmt.Appendf(nil, "%s line %d", m.Pod, i), Meta: m, Path: "/var/log/pods/x/app/0.log",
			Cursor: event.Cursor{Source: 1, Offset: int64(i + 1)}})
	}
	for _, enc := range []string{"json", "otlp_json", "otlp_proto"} {
		t.Run(enc, func(t *testing.T) {
			b := newLogsBroker(t)
			shipLines(t, b.addr, enc, lines)
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"-n", "shop", "checkout", "-c", "app"}, "checkout line 0\ncheckout line 2\ncheckout line 4\n"},
				{[]string{"--uid", "uid-w", "-c", "app"}, "web line 1\nweb line 3\nweb line 5\n"},
				{[]string{"-n", "shop", "-l", "app=checkout"}, "[checkout/app] checkout line 0\n[checkout/app] checkout line 2\n[checkout/app] checkout line 4\n"},
			} {
				var out, errOut bytes.Buffer
				args := append([]string{"logs", "--brokers", b.addr, "--topic", logsTopic}, tc.args...)
				if code := cli(args, &out, &errOut); code != 0 {
					t.Fatalf("%v: exit %d; stderr: %s", tc.args, code, errOut.String())
				}
				if d := cmp.Diff(tc.want, out.String()); d != "" {
					t.Errorf("%v (-want +got):\n%s", tc.args, d)
				}
			}
			var out, errOut bytes.Buffer
			if code := cli([]string{"logs", "--brokers", b.addr, "--topic", logsTopic, "--uid", "uid-c", "-c", "app", "--output", "json"}, &out, &errOut); code != 0 {
				t.Fatalf("--output json: exit %d; stderr: %s", code, errOut.String())
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			wantPrefix := `{"time":`
			if enc != "json" {
				wantPrefix = `{"resourceLogs":`
			}
			if len(got) != 3 || !strings.HasPrefix(got[0], wantPrefix) || !strings.Contains(got[2], "checkout line 4") {
				t.Errorf("--output json: %d lines, want 3 starting %s:\n%s", len(got), wantPrefix, out.String())
			}
		})
	}
}
