package hostile

import (
	"context"
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
// each. It used to pass the checks and cost 80 MB and seconds of CPU per
// pod; `ferry run` validates as `ferry validate` does, so the agent now
// refuses to start with it, at once, naming the key (and a render that
// meets longer metadata than the validation assumed stops at 1 KiB: the
// record goes to kafka.fallback_topic, pkg/ship's TestRouterBoundsRender).
func TestHostileTopicTemplateCostRunning(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, e2eharness.Ferry(t), "run", "--config", w.agent.Config).CombinedOutput()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("the agent still ran after %s with a topic template that renders 80 MB a pod", took.Round(time.Millisecond))
	}
	if err == nil || !strings.Contains(string(out), "sink.kafka.topic") {
		t.Errorf("ferry run: err %v, want a refusal naming sink.kafka.topic: %s", err, tailOf(string(out), 2000))
	}
	if took > 10*time.Second {
		t.Errorf("the refusal took %s", took.Round(time.Millisecond))
	}
}

// TestHostileFileSinkInsideInclude: sink.file.path names a file that
// logs.include matches. The agent then reads its own records as log
// lines (unparsable, shipped raw, each one escaped into a longer record)
// and writes them again, forever: measured, the file grew by about
// 50 MB/s from 200 seed lines until the disk is full. `ferry validate`
// must refuse the combination, as it refuses other configs that could
// hurt the node.
func TestHostileFileSinkInsideInclude(t *testing.T) {
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
