package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileReloadNewStateDir: the config is changed in place (a
// ConfigMap update, reloaded by default) and the change moves state_dir.
// The validation accepts it and the README promises that a valid change
// is applied behind a graceful drain with no line lost or read twice. The
// new pipeline finds no offsets in the new directory and starts fresh:
// the lines already shipped must not be shipped again.
func TestHostileReloadNewStateDir(t *testing.T) {
	t.Skip("known: a reload that moves state_dir starts a fresh tailer on the empty directory and reads every file again")
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	y, err := os.ReadFile(w.agent.Config)
	must(t, err)
	moved := filepath.Join(w.dir, "state2")
	s := strings.Replace(string(y), "state_dir: \""+w.cfg.StateDir+"\"", "state_dir: \""+moved+"\"", 1)
	if s == string(y) {
		t.Fatal("state_dir not found in the config")
	}
	must(t, os.WriteFile(w.agent.Config, []byte(s), 0o644))
	waitFor(t, "the reload applied", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_config_reload_total", `result="applied"`) >= 1
	})
	w.lines(w.path, 100, 110)
	w.waitSeqs(100, 110, 30*time.Second)
	w.settled(10, 20*time.Second)
	lost, dup := w.count(0, 110)
	if lost > 0 || dup > 0 {
		t.Errorf("after a reload that moved state_dir: %d lines lost (%s), %d read and delivered again", lost, w.missing(0, 110), dup)
	}
	stop(t, p)
}
