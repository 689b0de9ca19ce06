package hostile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestSIGHUP: an operator (or a supervisor) sends SIGHUP, the usual "reload"
// signal. The agent must not die on it as if killed: it keeps serving and
// shipping. (Go's default action for an unhandled SIGHUP ends the process
// without a flush or a final checkpoint.)
func TestSIGHUP(t *testing.T) {
	guarded(t)
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	must(t, p.Cmd.Process.Signal(syscall.SIGHUP))
	w.lines(w.path, 100, 200)
	deadline := time.Now().Add(10 * time.Second)
	for w.missing(100, 200) != "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if c, body := w.agent.Get("/healthz"); c != 200 || w.missing(100, 200) != "" {
		t.Fatalf("after SIGHUP: /healthz %d %.100q, lines after it: %s; the agent said:\n%s", c, body,
			w.missing(100, 200), tailOf(p.Output(), 1500))
	}
	stop(t, p)
}

// TestTwoAgentsOneStateDir: two agents on one state_dir (a DaemonSet
// rolling update with maxSurge runs the old and the new pod on a node at
// once, both with the hostPath /var/lib/ferry). Each writes tail.json every
// commit_interval through the same temporary name (tail.json.tmp). While
// they run, the state file must always be a whole JSON document; after
// both stop, a third agent must start from it (no "set aside as
// tail.json.corrupt") and lose nothing.
func TestTwoAgentsOneStateDir(t *testing.T) {
	guarded(t)
	w := newWorld(t, worldOpt{logs: []string{"commit_interval: 100ms"}})
	// Many files make the state file long, so that the writes overlap.
	const pods = 200
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, "ns_pod"+itoa(i)+"_uid", "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*1000, i*1000+5)
	}
	second := e2eharness.NewAgent(t, t.TempDir(), w.cfg)
	cfg, err := os.ReadFile(w.agent.Config)
	must(t, err)
	must(t, os.WriteFile(second.Config, []byte(strings.Replace(string(cfg), w.agent.Addr, second.Addr, 1)), 0o644))
	p1 := w.agent.Start()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(second.Config), "agent-0.log"))
			t.Logf("second agent:\n%s", tailOf(string(b), 2000))
		}
	}()
	p2 := second.Start()
	state := filepath.Join(w.cfg.StateDir, "tail.json")
	bad, reads := 0, 0
	var firstBad string
	pace := time.NewTicker(20 * time.Millisecond)
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
		// The containers keep writing, so every commit changes the state.
		for i := 0; i < pods; i += 10 {
			w.lines(paths[i], i*1000+5+reads%500, i*1000+6+reads%500)
		}
		if data, err := os.ReadFile(state); err == nil {
			reads++
			if !json.Valid(data) {
				bad++
				if firstBad == "" {
					firstBad = string(data[max(0, len(data)-200):])
				}
			}
		}
		<-pace.C
	}
	pace.Stop()
	stop(t, p1)
	stop(t, p2)
	p3 := w.agent.Start()
	defer stop(t, p3)
	w.agent.WaitHTTP("/healthz", 200, 10*time.Second)
	if _, err := os.Stat(state + ".corrupt"); err == nil {
		t.Errorf("the state file was corrupt at the restart (set aside as tail.json.corrupt):\n%s", tailOf(p3.Output(), 1500))
	}
	if bad > 0 {
		t.Errorf("the state file was not valid JSON in %d of %d reads; the end of the first: %q", bad, reads, firstBad)
	}
	t.Logf("%d reads of the state file, %d invalid", reads, bad)
}

// TestDamagedStateEntry: one entry of tail.json is damaged (a negative
// offset) while the agent is stopped; the others are used (no line of
// their files is read again) and the damaged one is counted in
// ferry_tail_checkpoint_entries_invalid_total.
func TestDamagedStateEntry(t *testing.T) {
	w := newWorld(t, worldOpt{})
	other := filepath.Join(w.root, "ns_other_uid", "app", "0.log")
	mkdirFor(t, other)
	w.lines(w.path, 0, 50)
	w.lines(other, 1000, 1050)
	p := w.agent.Start()
	w.waitSeqs(0, 50, 30*time.Second)
	w.waitSeqs(1000, 1050, 30*time.Second)
	stop(t, p)
	state := filepath.Join(w.cfg.StateDir, "tail.json")
	data, err := os.ReadFile(state)
	must(t, err)
	var st map[string]any
	must(t, json.Unmarshal(data, &st))
	files := st["files"].([]any)
	damaged := false
	for _, f := range files {
		e := f.(map[string]any)
		if e["path"] == other {
			e["offset"] = -5
			damaged = true
		}
	}
	if !damaged {
		t.Fatalf("no entry for %s in %s", other, data)
	}
	data, err = json.Marshal(st)
	must(t, err)
	must(t, os.WriteFile(state, data, 0o600))
	w.lines(w.path, 50, 60)
	p = w.agent.Start()
	w.waitSeqs(50, 60, 30*time.Second)
	m := w.settled(10, 20*time.Second)
	if v := m.Sum("ferry_tail_checkpoint_entries_invalid_total"); v != 1 {
		t.Errorf("ferry_tail_checkpoint_entries_invalid_total = %v, want 1", v)
	}
	w.check(0, 60, false) // the good entry was used: nothing of that file twice
	stop(t, p)
}
