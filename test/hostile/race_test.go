package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestGzipDuringStartup: while the agent was stopped, kubelet rotated
// every container's 0.log (the file the checkpoint names is now
// 0.log.<ts>, plain). As the next agent starts, kubelet gzips those files
// (write .gz, remove the plain one), racing the agent's listing of the
// rotated siblings. Every line arrives, or its loss is counted.
//
// It is a race: it lost a whole rotated file (200 lines, once in about 45
// runs) with no loss counter moved; run it with -count=50.
func TestGzipDuringStartup(t *testing.T) {
	w := newWorld(t, worldOpt{})
	const pods = 60
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*1000, i*1000+100)
	}
	p := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*1000, i*1000+100, 30*time.Second)
	}
	stop(t, p)
	rotated := make([]string, pods)
	for i, path := range paths {
		w.lines(path, i*1000+100, i*1000+300)
		rotated[i] = path + ".20261126-035509"
		must(t, os.Rename(path, rotated[i]))
		w.lines(path, i*1000+300, i*1000+310)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, r := range rotated {
			must(t, simnode.GzipFile(r))
		}
	}()
	p = w.agent.Start()
	<-done
	deadline := time.Now().Add(30 * time.Second)
	lost := 0
	for i := range paths {
		for w.missing(i*1000, i*1000+310) != "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		l, _ := w.count(i*1000, i*1000+310)
		lost += l
	}
	m, err := w.agent.Scrape()
	must(t, err)
	countedFiles := m.Sum("ferry_tail_lost_files_total")
	countedBytes := m.Sum("ferry_tail_lost_bytes_total")
	t.Logf("lost %d lines; counted: %v files, %v bytes", lost, countedFiles, countedBytes)
	if lost > 0 && countedFiles == 0 && countedBytes == 0 {
		t.Errorf("%d lines lost silently (no loss counter moved); the agent said:\n%s", lost, tailOf(p.Output(), 2000))
	}
	stop(t, p)
}
