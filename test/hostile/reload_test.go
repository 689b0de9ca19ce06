package hostile

import (
	"os"
	"path/filepath"
	"strconv"
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

// TestHostileReloadExcludeThenInclude: a noisy pod is excluded by a config
// reload (logs.exclude) and included again by a second one. Its file
// never went away; the README says files are known across restarts by
// their checkpoint and that a reload loses and repeats nothing. The lines
// of the pod shipped before it was excluded must not be shipped again.
func TestHostileReloadExcludeThenInclude(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"exclude: []"}})
	noisy := filepath.Join(w.root, "ns_noisy_uid9", "app", "0.log")
	mkdirFor(t, noisy)
	w.lines(noisy, 1000, 1100)
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(1000, 1100, 30*time.Second)
	w.waitSeqs(0, 10, 30*time.Second)
	y, err := os.ReadFile(w.agent.Config)
	must(t, err)
	orig := string(y)
	reload := func(s string, n float64) {
		must(t, os.WriteFile(w.agent.Config, []byte(s), 0o644))
		waitFor(t, "the reload applied", 30*time.Second, func() bool {
			m, err := w.agent.Scrape()
			return err == nil && m.Sum("ferry_config_reload_total", `result="applied"`) >= n
		})
	}
	reload(strings.Replace(orig, "exclude: []", "exclude: ["+strconv.Quote(filepath.Join(w.root, "ns_noisy_*", "*", "*.log"))+"]", 1), 1)
	// The pipeline runs on the new config: lines of the other pod flow and
	// a checkpoint is written after them.
	w.lines(w.path, 10, 20)
	w.waitSeqs(10, 20, 30*time.Second)
	size := fileSize(t, w.path)
	waitFor(t, "a checkpoint after the lines", 20*time.Second, func() bool {
		off, ok := w.checkpoint(w.path)
		return ok && off == size
	})
	reload(orig, 2)
	w.lines(w.path, 20, 30)
	w.waitSeqs(20, 30, 30*time.Second)
	w.lines(noisy, 1100, 1110)
	w.waitSeqs(1100, 1110, 30*time.Second)
	w.settled(20, 20*time.Second)
	_, dup := w.count(1000, 1110)
	if dup > 0 {
		t.Errorf("%d lines of the pod shipped before it was excluded were shipped again when it was included again", dup)
	}
	w.check(0, 30, false)
	stop(t, p)
}
