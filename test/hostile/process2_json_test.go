package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// wideJSON is one JSON line of about size bytes made of many small keys.
func wideJSON(tag string, size int) string {
	var b strings.Builder
	b.WriteString(`{"tag":"` + tag + `"`)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.String()
}

// TestHostileJSONManyKeys: a workload logs JSON objects with many keys (a
// dump of a map: 24 000 keys in a 250 KiB line, under the default
// max_line_bytes). The json parser keeps keys unique by comparing each new
// key with every key before it, so a line costs time quadratic in its
// keys: about half a second of CPU per line, where an ordinary 250 KiB
// line costs well under a millisecond. Processing is one goroutine for
// the whole node: two such lines a second from one pod hold back the logs
// of every pod on the node, without end (logfmt keeps keys unique the same
// way). The test writes 5 MiB of them and measures the agent's CPU time
// against the same bytes of JSON in two keys: when written, 6.2 s against
// 0.1 s.
func TestHostileJSONManyKeys(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json}\n", worldOpt{})
	p := w.agent.Start()
	// cpuFor writes 20 lines of 250 KiB made by mk and a sentinel h-seq=seq
	// after them, and returns the agent's CPU seconds until the sentinel
	// was shipped.
	cpuFor := func(seq int, mk func(i int) string) (float64, time.Duration) {
		_, ok := w.procSettled(float64(seq*21), 20*time.Second)
		if !ok {
			t.Fatalf("counters do not balance before h-seq=%d", seq)
		}
		cpu0 := w.metric("process_cpu_seconds_total")
		var b strings.Builder
		for i := range 20 {
			b.WriteString(cri("stdout", mk(i)))
		}
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d after the lines", seq)))
		start := time.Now()
		w.raw(w.path, b.String())
		w.waitSeqs(seq, seq+1, 120*time.Second)
		took := time.Since(start)
		w.procSettled(float64(seq*21+21), 20*time.Second)
		return w.metric("process_cpu_seconds_total") - cpu0, took
	}
	// The control: the same bytes of JSON in two keys.
	narrow, _ := cpuFor(0, func(i int) string {
		return fmt.Sprintf(`{"tag":"narrow-%d","v":"%s"}`, i, strings.Repeat("v", 250<<10))
	})
	wide, took := cpuFor(1, func(i int) string { return wideJSON(fmt.Sprintf("wide-%d", i), 250<<10) })
	// The records' consumer is not the one that saw the sentinel: wait.
	if !eventually(30*time.Second, func() bool { return len(fr.with(`"tag":"wide-`)) == 20 }) {
		t.Errorf("%d wide records shipped, want 20", len(fr.with(`"tag":"wide-`)))
	}
	if wide > 2+5*narrow {
		t.Errorf("5 MiB of JSON lines with many keys cost %.1f s of CPU (%s of wall time before the next line came out), the same bytes in two keys %.1f s; want < 2 s + 5x that",
			wide, took.Round(time.Millisecond), narrow)
	}
	stop(t, p)
}

// TestJSONHostileLines: a workload writes JSON a parser must survive: deep
// nesting, numbers no float holds, repeated keys, invalid UTF-8 in keys,
// values and nested objects, NUL bytes raw and escaped, lone surrogates, a
// "message" that is an object or null, a byte-order mark, trailing bytes.
// With the json parser (keep_original false) and the email rule, every
// line comes out as one record that is valid JSON, with its tag; a line
// that does not parse is shipped as it is.
func TestJSONHostileLines(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json, keep_original: false}\n  redact: {builtins: [email]}\n", worldOpt{})
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	tooDeep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	lines := []struct{ line, want string }{ // want: a part of the shipped message
		{`{"msg":"t-deep","d":` + deep + `}`, "t-deep"},
		{`{"msg":"t-toodeep","d":` + tooDeep + `}`, "t-toodeep"},
		{`{"msg":"t-huge","n":1e999999,"m":123456789012345678901234567890,"f":-0.0e-0}`, "t-huge"},
		{`{"msg":"t-dup","a":1,"a":{"b":2},"a":"three"}`, "t-dup"},
		{"{\"msg\":\"t-utf8 \xff\xfe\",\"\xff\":\"k\",\"o\":{\"\xc3\x28\":[\"\xe2\x82\"]},\"e\":\"x\xffy@example.com\"}", "t-utf8"},
		{"{\"msg\":\"t-nulraw a\x00b\"}", "t-nulraw"},
		{`{"msg":"t-nulesc a\u0000b","o":{"k":"\u0000"}}`, "t-nulesc"},
		{`{"msg":"t-surrogate \ud800 \udc00x","o":["\ud83d"]}`, "t-surrogate"},
		{`{"message":{"x":"t-msgobj"},"msg":"fallback t-msgobj"}`, "t-msgobj"},
		{`{"message":null,"tag":"t-msgnull"}`, "t-msgnull"},
		{"\xef\xbb\xbf{\"msg\":\"t-bom\"}", "t-bom"},
		{`{"msg":"t-trailing"} {"x":1}`, "t-trailing"},
		{`{"msg":"t-keys","":1,"\u2028":2,"a\"b":"c\\d"}`, "t-keys"},
		{`{"msg":"t-ws"	,	"a" : [ 1 , { } , [ ] ] }`, "t-ws"},
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(cri("stdout", l.line))
	}
	b.WriteString(cri("stdout", "h-seq=1 after"))
	w.raw(w.path, b.String())
	p := w.agent.Start()
	w.waitSeqs(1, 2, 30*time.Second)
	if _, ok := w.procSettled(float64(len(lines)+1), 20*time.Second); !ok {
		t.Errorf("counters do not balance")
	}
	if bad := fr.invalid(); len(bad) > 0 {
		t.Errorf("%d records are not valid JSON, first: %s", len(bad), bad[0])
	}
	for _, l := range lines {
		if n := len(fr.with(l.want)); n != 1 {
			t.Errorf("%d records with %q, want 1 (line %.80q)", n, l.want, l.line)
		}
	}
	for _, r := range fr.with("t-dup") {
		if r.Fields["a"] != "three" {
			t.Errorf("a repeated key keeps %v, want its last value: %s", r.Fields["a"], r.Raw)
		}
	}
	for _, r := range fr.with("t-utf8") {
		if strings.Contains(r.Raw, "y@example.com") {
			t.Errorf("an address after invalid UTF-8 is not masked: %s", r.Raw)
		}
	}
	stop(t, p)
}

// TestHostileJSONParserDoublesRecord: a service logs large JSON lines
// (request dumps of 480 KiB; the operator raised logs.max_line_bytes to
// 900 000 for them, under max_message_bytes as the validation asks). Without a parser each line ships as one record of
// about 580 KB, under the sink's max_message_bytes (1 000 000, the
// broker's default limit). Turning on the json parser with keep_original
// ships the line twice in one record, the original as an
// escaped string and the parsed fields: over a megabyte, so the sink drops
// every such line as too large (counted, reason too_large). The user who
// enabled parsing loses exactly the lines that were shipped before it.
func TestHostileJSONParserDoublesRecord(t *testing.T) {
	line := wideJSON("big-1", 480<<10)
	for _, c := range []struct {
		name, processing string
	}{
		{"no parser", "  parser: {detect_level: true}\n"},
		{"json parser", "  parser: {format: json}\n"},
		{"json parser keeping the line", "  parser: {format: json, keep_original: true}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, fr := procWorld(t, c.processing, worldOpt{logs: []string{"max_line_bytes: 900000"}})
			w.raw(w.path, criLines("stdout", line, "h-seq=1 after"))
			p := w.agent.Start()
			w.waitSeqs(1, 2, 30*time.Second)
			bal, _ := w.procSettled(2, 20*time.Second)
			eventually(10*time.Second, func() bool { return len(fr.with(`"tag":"big-1"`)) > 0 })
			if n := len(fr.with(`"tag":"big-1"`)); n != 1 {
				t.Errorf("with %s, the 480 KiB JSON line was not shipped (%d records): %s; ferry_ship_dropped_records_total %v",
					c.name, n, bal, w.metric("ferry_ship_dropped_records_total"))
			}

			stop(t, p)
		})
	}
}
