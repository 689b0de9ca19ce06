package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// The attacks on the processing stage (processing: in the config) share
// a world with processing configured whose consumer also keeps every
// record whole (level, fields, lines).

// procWorld is a world whose config has the given processing section
// (YAML lines indented by two spaces under "processing:").
func procWorld(t *testing.T, processing string, o worldOpt) (*world, *fullRecords) {
	t.Helper()
	o.top = "hostmetrics: {enabled: false}\nprocessing:\n" + processing
	if !strings.HasSuffix(o.top, "\n") {
		o.top += "\n"
	}
	fr := &fullRecords{}
	o.record = fr.add // the world's own consumer: a sentinel it saw means fr has what came before
	return newWorld(t, o), fr
}

// fullRec is one shipped record as its consumer decodes it.
type fullRec struct {
	Raw       string
	Message   string         `json:"message"`
	Stream    string         `json:"stream"`
	Level     string         `json:"level"`
	Fields    map[string]any `json:"fields"`
	Lines     int            `json:"lines"`
	Offset    int64          `json:"offset"`
	Truncated bool           `json:"truncated"`
}

// fullRecords collects every record of the logs topic, whole.
type fullRecords struct {
	mu   sync.Mutex
	recs []fullRec
	bad  []string
}

// add keeps one record's value (the world's consumer calls it).
func (fr *fullRecords) add(value []byte) {
	var x fullRec
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber() // 1e999999 is JSON; not a float64
	err := dec.Decode(&x)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if err != nil || !json.Valid(value) {
		fr.bad = append(fr.bad, fmt.Sprintf("%v: %.300q", err, value))
		return
	}
	x.Raw = string(value)
	fr.recs = append(fr.recs, x)
}

func (fr *fullRecords) all() []fullRec { return lockedCopy(&fr.mu, &fr.recs) }

func (fr *fullRecords) invalid() []string { return lockedCopy(&fr.mu, &fr.bad) }

// with returns the records whose message contains s.
func (fr *fullRecords) with(s string) []fullRec {
	var out []fullRec
	for _, r := range fr.all() {
		if strings.Contains(r.Message, s) {
			out = append(out, r)
		}
	}
	return out
}

// waitWith waits until n records whose message contains s arrived.
func (fr *fullRecords) waitWith(t *testing.T, s string, n int, timeout time.Duration) []fullRec {
	t.Helper()
	if !eventually(timeout, func() bool { return len(fr.with(s)) >= n }) {
		t.Fatalf("timed out after %s waiting for %d records holding %q; got %d (of %d records)",
			timeout, n, s, len(fr.with(s)), len(fr.all()))
	}
	return fr.with(s)
}

// cri is one CRI line of stream (stdout, stderr) with the F tag.
func cri(stream, msg string) string {
	return "2026-12-04T20:50:00.000000000Z " + stream + " F " + msg + "\n"
}

// criLines is cri for each message.
func criLines(stream string, msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(cri(stream, m))
	}
	return b.String()
}

// procBalance is the documented balance with processing: lines read =
// records sent + records dropped (by the sink or here) + merged lines.
type procBalance struct {
	read, sent, shipDropped, procDropped, merged, inflight, held float64
}

func procBalanceOf(m e2eharness.Metrics) procBalance {
	return procBalance{
		read:        m.Sum("ferry_tail_lines_read_total"),
		sent:        m.Sum("ferry_ship_records_sent_total", `record="log"`),
		shipDropped: m.Sum("ferry_ship_dropped_records_total", `record="log"`),
		procDropped: m.Sum("ferry_process_dropped_total"),
		merged:      m.Sum("ferry_process_multiline_merged_lines_total"),
		inflight:    m.Sum("ferry_tail_inflight_bytes"),
		held:        m.Sum("ferry_process_multiline_held_lines"),
	}
}

func (b procBalance) balanced() bool {
	return b.read == b.sent+b.shipDropped+b.procDropped+b.merged && b.inflight == 0 && b.held == 0
}

func (b procBalance) String() string {
	return fmt.Sprintf("read %v, sent %v, dropped by ship %v, dropped by processing %v, merged %v, in flight %v bytes, held %v lines",
		b.read, b.sent, b.shipDropped, b.procDropped, b.merged, b.inflight, b.held)
}

// procSettled waits until the documented balance holds with at least
// minRead lines read, and returns the last balance and whether it held.
func (w *world) procSettled(minRead float64, timeout time.Duration) (procBalance, bool) {
	var last procBalance
	ok := eventually(timeout, func() bool {
		m, err := w.agent.Scrape()
		if err != nil {
			return false
		}
		last = procBalanceOf(m)
		return last.read >= minRead && last.balanced()
	})
	return last, ok
}

// metric returns the sum of a metric now (-1 if /metrics failed).
func (w *world) metric(name string, labels ...string) float64 {
	m, err := w.agent.Scrape()
	if err != nil {
		return -1
	}
	return m.Sum(name, labels...)
}
