package hostile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUP: an operator (or a supervisor) sends SIGHUP, the usual "reload"
// signal. The agent must not die on it as if killed: it keeps serving and
// shipping. (Go's default action for an unhandled SIGHUP ends the process
// without a flush or a final checkpoint.)
func TestSIGHUP(t *testing.T) {
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
