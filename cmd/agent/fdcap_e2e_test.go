package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestAgentDescriptorsUnderUlimit runs the binary under `ulimit -n 128`
// on a node of 200 container logs, all writing:
//
//   - with logs.max_open_files: 64 (below the limit), at most 64 files are
//     open at once, the rest take turns, and the process never meets
//     EMFILE;
//   - with max_open_files at its default (1024, far above the limit), the
//     kernel's EMFILE is counted and the files take turns with the
//     descriptors there are.
//
// Either way every line of every file reaches the broker exactly once.
func TestAgentDescriptorsUnderUlimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	for _, tc := range []struct {
		name   string
		logs   []string
		emfile bool
	}{
		{"cap below the limit", []string{"max_open_files: 64", "poll_interval: 200ms"}, false},
		{"cap above the limit", []string{"poll_interval: 200ms"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			node, err := simnode.New(simnode.Config{
				Root: filepath.Join(dir, "pods"), Pods: 100, ContainersPerPod: 2, LinesPerSecond: 5, Seed: 15,
			})
			if err != nil {
				t.Fatal(err)
			}
			broker := e2eharness.NewBroker(t)
			agent := e2eharness.NewAgent(t, dir, e2eharness.AgentConfig{
				Root: filepath.Join(dir, "pods"), StateDir: filepath.Join(dir, "state"), Broker: broker.Addr(), Logs: tc.logs,
			})
			cons := e2eharness.NewConsumer(t, broker.Addr())
			cons.Start()

			ctx, stopNode := context.WithCancel(context.Background())
			nodeDone := make(chan error, 1)
			go func() { nodeDone <- node.Run(ctx) }()

			cmd := exec.Command("sh", "-c", `ulimit -n 128 && exec "$0" run --config "$1"`, e2eharness.Ferry(t), agent.Config)
			logPath := filepath.Join(dir, "agent.log")
			logf, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer logf.Close()
			cmd.Stdout, cmd.Stderr = logf, logf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			}()
			agent.WaitHTTP("/readyz", 200, 30*time.Second)

			// The node writes for 4 s (a duration of the scenario, not a
			// wait for something), sampled every 100 ms.
			end := time.After(4 * time.Second)
			tick := time.NewTicker(100 * time.Millisecond)
			var peak, waiting float64
		sample:
			for {
				select {
				case <-end:
					break sample
				case <-tick.C:
					if m, err := agent.Scrape(); err == nil {
						peak = max(peak, m.Sum("ferry_tail_open_files"))
						waiting = max(waiting, m.Sum("ferry_tail_waiting_files"))
					}
				}
			}
			tick.Stop()
			stopNode()
			if err := <-nodeDone; err != nil {
				t.Fatal(err)
			}
			rep := cons.Drain(node.Containers(), 60*time.Second, func() { agent.WaitSettled(60 * time.Second) })
			m, err := agent.Scrape()
			if err != nil {
				t.Fatal(err)
			}
			emfile := m.Sum("ferry_tail_open_errors_total", `reason="emfile"`)
			t.Logf("FIGURES %s: %s; open files at most %v, waiting at most %v, EMFILE %v, descriptor waits %v",
				tc.name, rep, peak, waiting, emfile, m.Sum("ferry_tail_descriptor_waits_total"))
			if !rep.OK() || rep.Duplicates != 0 || rep.Written == 0 {
				t.Errorf("every line exactly once: %s", rep)
			}
			if waiting == 0 {
				t.Error("no file waited: the node does not exceed what may be open")
			}
			out, _ := os.ReadFile(logPath)
			if tc.emfile {
				if emfile == 0 {
					t.Error("no EMFILE counted above the descriptor limit")
				}
				if !strings.Contains(string(out), "out of file descriptors") {
					t.Error("EMFILE was not warned about")
				}
				return
			}
			if peak > 64 {
				t.Errorf("%v files open at once, above max_open_files 64", peak)
			}
			if emfile != 0 || strings.Contains(string(out), "too many open files") {
				t.Errorf("the agent ran out of descriptors under its cap (EMFILE %v):\n%.2000s", emfile, out)
			}
		})
	}
}
