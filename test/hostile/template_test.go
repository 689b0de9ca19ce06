package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// costlyTemplate is a topic template under the 1 KiB the validation allows
// that renders a name of 80 MB: eighty printf verbs of width 10^6 (fmt's
// largest). The name is invalid, so every pod's records go to the
// fallback topic, but each execution allocates it first.
func costlyTemplate() string {
	const n = 80
	return `{{ printf "` + strings.Repeat("%01000000d", n) + `" ` + strings.TrimSpace(strings.Repeat("1 ", n)) + ` }}`
}

// TestHostileTopicTemplateCost: the README says the agent refuses what
// could hurt the node. A topic template of 975 bytes passes
// `ferry validate`, yet one execution of it allocates 80 MB and takes
// seconds of CPU, once per pod (and again whenever the router's cache is
// cleared); the router's buffer keeps the 80 MB, outside
// memory.queue_bytes. The agent then spends seconds per pod before its
// first line goes out.
func TestHostileTopicTemplateCost(t *testing.T) {
	t.Skip("known: the validation bounds a topic template's length, not what it renders (printf widths)")
	if len(costlyTemplate()) > 1024 {
		t.Fatalf("the template is %d bytes: over the limit the validation has", len(costlyTemplate()))
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`node_name: n
state_dir: %q
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
sink:
  kafka:
    brokers: ["127.0.0.1:9092"]
    topic: '%s'
    fallback_topic: logs
`, filepath.Join(dir, "state"), costlyTemplate())), 0o644))
	start := time.Now()
	out, err := exec.Command(e2eharness.Ferry(t), "validate", "--config", cfg).CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Errorf("ferry validate accepted a topic template that renders an 80 MB name (validate itself took %s): %s",
			took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	}
}

// TestHostileTopicTemplateCostRunning: what the template of
// TestHostileTopicTemplateCost costs a running agent, 20 pods of one line
// each: its resident memory must stay near memory.queue_bytes (32 MiB
// here) plus the runtime, not grow by the template's renders.
func TestHostileTopicTemplateCostRunning(t *testing.T) {
	t.Skip("known: the topic template's renders are not bounded; the router keeps the largest one")
	w := newWorld(t, worldOpt{edit: func(s string) string {
		return strings.Replace(s, "    topic: "+e2eharness.Topic+"\n",
			"    topic: '"+costlyTemplate()+"'\n    fallback_topic: "+e2eharness.Topic+"\n", 1)
	}})
	const pods = 20
	for i := 0; i < pods; i++ {
		p := filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, p)
		w.lines(p, i, i+1)
	}
	start := time.Now()
	p := w.agent.Start()
	w.waitSeqs(0, pods, 5*time.Minute)
	took := time.Since(start)
	m, err := w.agent.Scrape()
	must(t, err)
	t.Logf("%d lines of %d pods delivered in %s; RSS %.0f MiB, CPU %.1f s", pods, pods, took.Round(time.Millisecond),
		m.Sum("process_resident_memory_bytes")/(1<<20), m.Sum("process_cpu_seconds_total"))
	if rss := m.Sum("process_resident_memory_bytes"); rss > 256<<20 {
		t.Errorf("resident memory %.0f MiB with memory.queue_bytes 32 MiB and 20 one-line pods", rss/(1<<20))
	}
	stop(t, p)
}

// TestHostileFileSinkInsideInclude: sink.file.path names a file that
// logs.include matches. The agent then reads its own records as log
// lines (unparsable, shipped raw, each one escaped into a longer record)
// and writes them again, forever: measured, the file grew by about
// 50 MB/s from 200 seed lines until the disk is full. `ferry validate`
// must refuse the combination, as it refuses other configs that could
// hurt the node.
func TestHostileFileSinkInsideInclude(t *testing.T) {
	t.Skip("known: the validation does not check sink.file.path against logs.include")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`node_name: n
state_dir: %q
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
logs:
  include: [%q]
sink:
  file: {path: %q}
`, filepath.Join(dir, "state"), filepath.Join(dir, "pods", "*", "*", "*.log"),
		filepath.Join(dir, "pods", "ns_p_u", "app", "0.log"))), 0o644))
	out, err := exec.Command(e2eharness.Ferry(t), "validate", "--config", cfg).CombinedOutput()
	if err == nil {
		t.Errorf("ferry validate accepted a file sink that the include globs read back: %s", strings.TrimSpace(string(out)))
	}
}
