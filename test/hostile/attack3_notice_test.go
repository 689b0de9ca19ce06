package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/process"
)

// TestAttackNoticeOfDroppedNamespace: a config author ships only the
// namespaces on an allow-list (filter_default: drop, one keep rule), for
// example because another tenant's logs must not leave the node. A pod
// of the other namespace goes over its rate limit: its lines are dropped,
// and the agent writes a summary of the drop for that pod. Summaries now
// pass through processing untouched - the filters too - so the user finds
// records of the namespace the config drops in the topic, under that
// pod's namespace, name and file ("ferry: N lines ... dropped by its rate
// limit"), while not one of its lines is kept.
func TestAttackNoticeOfDroppedNamespace(t *testing.T) {
	w, fr := procWorld(t, "  filter_default: drop\n  filters:\n  - {name: allowed, action: keep, namespaces: [allowed]}\n",
		worldOpt{logs: []string{"rate_limit: {default: {lines_per_second: 5, burst_lines: 5, policy: drop}, summary_interval: 500ms}"}})
	kept := filepath.Join(w.root, "allowed_web_uidw", "app", "0.log")
	mkdirFor(t, kept)
	var b strings.Builder
	for i := range 200 {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d tenant line", 1000+i)))
	}
	w.raw(w.path, b.String()) // namespace "ns": dropped by the filters
	p := w.agent.Start()
	waitFor(t, "the rate limit's summary", 30*time.Second, func() bool {
		return w.metric("ferry_tail_drop_summaries_total") > 0
	})
	// A line of the allowed namespace, then everything acknowledged.
	w.raw(kept, cri("stdout", "allowed sentinel"))
	fr.waitWith(t, "allowed sentinel", 1, 30*time.Second)
	waitFor(t, "nothing in flight", 30*time.Second, func() bool {
		return w.metric("ferry_tail_inflight_bytes") == 0
	})
	stop(t, p)
	for _, r := range fr.all() {
		if strings.Contains(r.Raw, "ns_pod_uid") || strings.Contains(r.Message, "tenant line") {
			t.Errorf("a record of the namespace the filters drop was shipped: %.400s", r.Raw)
		}
	}
}

// TestAttackNoticeOfExcludedPod: a pod annotated ferry.dev/exclude-stdout
// and ferry.dev/exclude-stderr "true" (annotations.exclude on) asks that
// nothing of it be shipped. Its container floods and goes over its rate
// limit; the tailer writes the drop's summary, a record of its own under
// that pod's metadata. Summaries pass through processing untouched - the
// exclusion too - so the user finds "ferry: N lines ... dropped" records
// of the pod that opted out, and of none of its lines.
func TestAttackNoticeOfExcludedPod(t *testing.T) {
	cfg := process.DefaultConfig()
	cfg.Annotations.Exclude = true
	p, err := process.New(cfg, nil, process.Options{Acker: nopAck{}})
	must(t, err)
	meta := &event.Meta{Namespace: "ns", Pod: "quiet", PodUID: "uid", Container: "app",
		Annotations: map[string]string{"ferry.dev/exclude-stdout": "true", "ferry.dev/exclude-stderr": "true"}}
	out := p.Process([]event.Log{
		{Body: []byte("a line of the excluded pod"), Meta: meta, Stream: event.Stdout, Cursor: event.Cursor{Source: 1, Offset: 27}},
		{Body: []byte("ferry: 195 lines (12285 bytes) of this container dropped by its rate limit"), Meta: meta,
			Stream: event.Stderr, Notice: true, Cursor: event.Cursor{Source: 1, Offset: 27}},
	})
	for _, r := range out {
		t.Errorf("a record of a pod excluded by its annotations is shipped: %q (notice %v)", r.Body, r.Notice)
	}
}
