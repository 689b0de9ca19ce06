package ship

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// benchLog returns a log record whose encoded form is about 200 bytes longer
// than its body.
func benchLog(body string) event.Log {
	return event.Log{Time: time.Now(), Body: []byte(body), Path: "/var/log/pods/shop_checkout-7d9f8_0b6d/app/0.log",
		Cursor: event.Cursor{Source: 1, Offset: 1 << 20}, Meta: testMeta}
}

func BenchmarkEncodeLog(b *testing.B) {
	for _, bc := range []struct {
		name, body string
		fields     bool
	}{
		{"ascii200", strings.Repeat("GET /cart 200 ok ", 12), false},
		{"escapes200", strings.Repeat("a\"b\\c\td\x01é", 20), false},
		{"ascii4k", strings.Repeat("0123456789abcdef", 256), false},
		// A line of the benchmark's jsontrace corpus as the json parser
		// (keep_original) leaves it: the line as the message, its fields.
		{"json330", benchJSON, false},
		{"json330fields", benchJSON, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLog(bc.body)
			if bc.fields {
				l.Fields, l.Level = jsonFields(bc.body), "info"
			}
			enc := newEncoder()
			buf := enc.appendLog(nil, &l)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.appendLog(buf[:0], &l)
			}
		})
	}
}

func BenchmarkEncodeMetric(b *testing.B) {
	m := event.Metric{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}}, Value: 1234.5, Type: event.Counter}
	now := time.Now()
	buf := appendMetric(nil, &m, now, "node-1")
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMetric(buf[:0], &m, now, "node-1")
	}
}

// BenchmarkAppendString compares the word-at-a-time JSON string encoder
// with the byte-at-a-time reference on the kinds of message the benchmark
// corpus holds: plain text and JSON (a quote every few bytes).
func BenchmarkAppendString(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"text120", "seq=123456 src=shop/svc-1-6c8f9b7d4-00002/app len=120 abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"},
		{"json330", benchJSON},
	} {
		s := []byte(bc.s)
		for _, impl := range []struct {
			name string
			f    func([]byte, []byte) []byte
		}{{"words", func(d, s []byte) []byte { return appendString(d, s) }}, {"bytes", appendStringRef}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				buf := impl.f(nil, s)
				b.SetBytes(int64(len(s)))
				b.ReportAllocs()
				for b.Loop() {
					buf = impl.f(buf[:0], s)
				}
			})
		}
	}
}

// benchJSON is a line of the kind the benchmark's JSON corpus holds.
const benchJSON = `{"ts":"2026-11-26T00:00:01.234567Z","level":"info","logger":"http.server","msg":"request served","seq":42,"method":"GET","path":"/api/v1/cart?id=123456","status":200,"duration_ms":12.345,"bytes":65536,"trace_id":"0123456789abcdef0123456789abcdef","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`

// jsonFields returns the top-level fields of the flat JSON object s as
// the json parser gives them: strings decoded, other values raw.
func jsonFields(s string) []event.Field {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	var fs []event.Field
	dec := json.NewDecoder(strings.NewReader(s))
	_, _ = dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		key := k.(string)
		raw := m[key]
		_, _ = dec.Token()
		var v string
		if json.Unmarshal(raw, &v) == nil {
			fs = append(fs, event.Field{Key: key, Value: v})
		} else {
			fs = append(fs, event.Field{Key: key, Value: string(raw), Raw: true})
		}
	}
	return fs
}
