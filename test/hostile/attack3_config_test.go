package hostile

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestAttackMultilineMaxBytesAtMessageLimit: the config check refuses
// processing.multiline.max_bytes over sink.kafka.max_message_bytes, "a
// group that large could never be sent", so a config author who sets
// them equal (20000 here, logs.max_line_bytes under it as its own check
// asks) is told nothing. A Java trace of 1000 frames (35 KB) is
// cut at max_bytes into records whose message is up to 20000 bytes -
// but the record is that message JSON-escaped (every frame's tab and
// newline take two bytes) inside the envelope (time, stream, file,
// metadata): larger than max_message_bytes, and dropped whole as too
// large. The user gets the trace's second half only (476 of 1000
// frames), and
// ferry_ship_dropped_records_total{reason="too_large"} counts it, from a
// config that validated.
func TestAttackMultilineMaxBytesAtMessageLimit(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m, max_bytes: 20000}\n", worldOpt{
		sink: []string{"max_message_bytes: 20000"}, logs: []string{"max_line_bytes: 16384"}})
	out, err := exec.Command(e2eharness.Ferry(t), "validate", "--config", w.agent.Config).CombinedOutput()
	if err != nil && strings.Contains(string(out), "processing.multiline.max_bytes") {
		return // refused, with the field named: fixed
	}
	frames := make([]string, 0, 1000)
	for i := range 1000 {
		frames = append(frames, fmt.Sprintf("f%04d", i))
	}
	w.raw(w.path, criLines("stdout", trace(9, frames...)...)+criLines("stdout", "h-seq=1 after", "h-seq=2 held"))
	p := w.agent.Start()
	w.waitSeqs(1, 2, 30*time.Second) // after the trace's records, sent or dropped
	tooLarge := w.metric("ferry_ship_dropped_records_total", `reason="too_large"`)
	stop(t, p)
	got := map[string]bool{}
	for _, r := range fr.all() {
		for _, f := range frames {
			if strings.Contains(r.Message, "Cart."+f+"(") {
				got[f] = true
			}
		}
	}
	if len(got) != len(frames) {
		t.Errorf("%d of the trace's %d frames shipped (records dropped as too large: %v)", len(got), len(frames), tooLarge)
	}
}
