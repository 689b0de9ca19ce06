package ship

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestOTLPProtoMatchesPdata: the hand-written protobuf of a log record's
// request is byte for byte what pdata marshals for the same request, for
// every record shape and resource, and the records it leaves to pdata (an
// object or an array field, a field named like ferry's attributes) still
// come out as pdata writes them.
func TestOTLPProtoMatchesPdata(t *testing.T) { testHandWrittenMatchesPdata(t, encodingOTLPProto) }

// TestOTLPJSONMatchesPdata is the same for OTLP/JSON (appendLogJSON).
func TestOTLPJSONMatchesPdata(t *testing.T) { testHandWrittenMatchesPdata(t, encodingOTLPJSON) }

func testHandWrittenMatchesPdata(t *testing.T, enc string) {
	fast := newOTLPEncoder(enc)
	extra := []event.Log{
		{Time: time.Time{}, Body: []byte("zero time")},
		{Time: time.Unix(0, 1), ReadAt: -1, Body: []byte("negative observed"), Level: "fatal", Lines: 1 << 20,
			Fields: []event.Field{{Key: "n", Value: "-9223372036854775808", Raw: true}, {Key: "f", Value: "0.0000001", Raw: true},
				{Key: "", Value: ""}, {Key: "s", Value: strings.Repeat("x", 300)}, {Key: "bad", Value: "\xff\xfe"},
				{Key: "esc", Value: "a<b>&\"\\\n\r\t\b\f\x00\x1f\x7f\u2028é/"}, {Key: "", Value: "null", Raw: true},
				{Key: "t", Value: "false", Raw: true}, {Key: "z", Value: "0", Raw: true}}},
		{Time: time.Unix(5, 0), Body: []byte("owned key"), Fields: []event.Field{{Key: "ferry.lines", Value: "7", Raw: true}}, Lines: 2},
		{Time: time.Unix(5, 0), Body: []byte("array"), Fields: []event.Field{{Key: "a", Value: "[1,2]", Raw: true}}},
		{Time: time.Unix(5, 0), Body: []byte("level unknown to OTLP"), Level: "notice"},
	}
	for mi, m := range otlpMetas {
		logs := otlpLogs(m)
		for _, l := range extra {
			l.Meta = m
			logs = append(logs, l)
		}
		for li, l := range logs {
			got := fast.appendLog([]byte("prefix"), &l)
			whole := newOTLPEncoder(enc)
			whole.whole = true
			want := whole.appendLog([]byte("prefix"), &l)
			if !bytes.Equal(got, want) {
				t.Errorf("%s meta %d log %d: hand-written\n%q\npdata\n%q", enc, mi, li, got, want)
			}
		}
	}
}

// FuzzOTLPProto: for any body, fields, level, stream and times, the
// hand-written request is pdata's.
func FuzzOTLPProto(f *testing.F) { fuzzHandWritten(f, encodingOTLPProto) }

// FuzzOTLPJSON is FuzzOTLPProto for OTLP/JSON.
func FuzzOTLPJSON(f *testing.F) { fuzzHandWritten(f, encodingOTLPJSON) }

func fuzzHandWritten(f *testing.F, enc string) {
	f.Add([]byte("GET /cart 200"), "msg", "hi", false, "info", 1, false, int64(1), int64(2), uint8(0))
	f.Add([]byte("\xff"), "n", "42", true, "", 3, true, int64(-5), int64(0), uint8(1))
	f.Add([]byte(""), "o", `{"a":1}`, true, "warn", 0, false, int64(0), int64(9), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, key, value string, raw bool, level string, lines int, truncated bool,
		sec, readAt int64, meta uint8) {
		l := event.Log{Time: time.Unix(sec, sec%1e9), ReadAt: readAt, Body: body, Path: "/var/log/pods/a/c/0.log",
			Stream: event.Stream(meta % 2), Level: level, Lines: int32(lines), Truncated: truncated,
			Meta:   otlpMetas[int(meta)%len(otlpMetas)],
			Fields: []event.Field{{Key: key, Value: value, Raw: raw}, {Key: "k2", Value: value}}}
		got := newOTLPEncoder(enc).appendLog(nil, &l)
		whole := newOTLPEncoder(enc)
		whole.whole = true
		if want := whole.appendLog(nil, &l); !bytes.Equal(got, want) {
			t.Fatalf("hand-written\n%q\npdata\n%q", got, want)
		}
	})
}

// TestOTLPLogEncodingsAllocateNothingPerRecord backs bench/README's "with no
// allocation": once a container's resource is cached, a log record's
// request is written without one, in both hand-written encodings.
func TestOTLPLogEncodingsAllocateNothingPerRecord(t *testing.T) {
	for _, enc := range []string{encodingOTLPProto, encodingOTLPJSON} {
		e := newOTLPEncoder(enc)
		l := benchLog(strings.Repeat("é\"x\n", 50))
		l.Fields = []event.Field{{Key: "msg", Value: "hi"}, {Key: "n", Value: "42", Raw: true}, {Key: "ok", Value: "true", Raw: true}}
		l.Level, l.Lines = "warn", 3
		buf := e.appendLog(nil, &l) // first sight of the Meta fills the cache
		if n := testing.AllocsPerRun(100, func() { buf = e.appendLog(buf[:0], &l) }); n != 0 {
			t.Errorf("%s: %v allocations per record", enc, n)
		}
	}
}
