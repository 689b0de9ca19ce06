package process

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

func TestParsers(t *testing.T) {
	re := regexp.MustCompile(`^(?P<ip>\S+) - - \[(?P<ts>[^\]]+)\] "(?P<method>\w+) (?P<path>\S+)[^"]*" (?P<status>\d+)(?: (?P<none>x))?`)
	for _, tc := range []struct {
		name string
		p    parser
		in   string
		want []event.Field
		ok   bool
	}{
		{"json", jsonParser{}, `{"level":"ERROR","msg":"db down","n":3,"ok":true,"ctx":{"a":[1,"}"]},"u":"\u00e9\n"}`,
			[]event.Field{{Key: "level", Value: "ERROR"}, {Key: "msg", Value: "db down"}, {Key: "n", Value: "3", Raw: true},
				{Key: "ok", Value: "true", Raw: true}, {Key: "ctx", Value: `{"a":[1,"}"]}`, Raw: true}, {Key: "u", Value: "é\n"}}, true},
		{"json spaces and repeated key", jsonParser{}, ` { "a" : 1 , "a" : [ 2 ] , "b":null } `,
			[]event.Field{{Key: "a", Value: "[ 2 ]", Raw: true}, {Key: "b", Value: "null", Raw: true}}, true},
		{"json empty object", jsonParser{}, `{}`, nil, true},
		{"json array", jsonParser{}, `[1]`, nil, false},
		{"json broken", jsonParser{}, `{"a":1`, nil, false},
		{"json text", jsonParser{}, `GET /cart 200`, nil, false},
		{"logfmt", logfmtParser{}, `level=warn msg="slow \"query\"" took=1.5s path=/a?b=c`,
			[]event.Field{{Key: "level", Value: "warn"}, {Key: "msg", Value: `slow "query"`}, {Key: "took", Value: "1.5s"}, {Key: "path", Value: "/a?b=c"}}, true},
		{"logfmt empty value", logfmtParser{}, `a= b=1`, []event.Field{{Key: "a", Value: ""}, {Key: "b", Value: "1"}}, true},
		{"logfmt sentence", logfmtParser{}, `user logged in id=5`, nil, false},
		{"logfmt unterminated", logfmtParser{}, `a="x`, nil, false},
		{"logfmt empty", logfmtParser{}, ``, nil, false},
		{"regex", &regexParser{re: re, names: re.SubexpNames()}, `10.0.0.1 - - [04/Dec/2026:20:50:00 +0000] "GET /cart HTTP/1.1" 200 512`,
			[]event.Field{{Key: "ip", Value: "10.0.0.1"}, {Key: "ts", Value: "04/Dec/2026:20:50:00 +0000"}, {Key: "method", Value: "GET"},
				{Key: "path", Value: "/cart"}, {Key: "status", Value: "200"}}, true},
		{"regex no match", &regexParser{re: re, names: re.SubexpNames()}, `hello`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.parse(nil, []byte(tc.in))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLevels(t *testing.T) {
	for in, want := range map[string]string{"ERROR": "error", "Warning": "warn", "info": "info", "30": "info", "50": "error",
		"CRIT": "fatal", "dbg": "debug", "loud": "", "": "", "ERRORERRORERRORERROR": ""} {
		if got := normLevel(in); got != want {
			t.Errorf("normLevel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"E1204 20:50:00.000000       1 reflector.go:1] failed":         "error",
		"W1204 20:50:00.000000       1 x.go:1] slow":                   "warn",
		"2026-12-04 20:50:00 ERROR request failed":                     "error",
		"[warn] disk almost full":                                      "warn",
		"2026-12-04T20:50:00Z INFO  started":                           "info",
		"GET /cart 200":                                                "",
		"an error happened somewhere far in the line after many words": "",
	} {
		if got := detectLevel([]byte(in)); got != want {
			t.Errorf("detectLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

// Parsing through the Processor: level, keep_original, unparsable lines
// shipped as they are and counted.
func TestParseStep(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Parser.Format = "json"
	cfg.Parser.KeepOriginal = false
	p, _ := newTest(t, cfg)
	lines := linesOf([]byte("{\"msg\":\"db down\",\"level\":\"ERROR\",\"n\":1}\nplain text\n{\"message\":{\"o\":1},\"lvl\":50}"), nil, event.Stdout)
	got := p.Process(lines)
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	if string(got[0].Body) != "db down" || got[0].Level != "error" ||
		!cmp.Equal(got[0].Fields, []event.Field{{Key: "level", Value: "ERROR"}, {Key: "n", Value: "1", Raw: true}}) {
		t.Errorf("record 0: %q %q %+v", got[0].Body, got[0].Level, got[0].Fields)
	}
	if string(got[1].Body) != "plain text" || got[1].Fields != nil {
		t.Errorf("unparsable line changed: %q %+v", got[1].Body, got[1].Fields)
	}
	if got[2].Level != "error" || len(got[2].Fields) != 2 || string(got[2].Body) != `{"message":{"o":1},"lvl":50}` {
		t.Errorf("record 2 (a non-string message stays a field): %q %q %+v", got[2].Body, got[2].Level, got[2].Fields)
	}
	if n := testutil.ToFloat64(p.m.failedC["json"]); n != 1 {
		t.Errorf("ferry_process_parse_failures_total{parser=json} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(p.m.parsedC["json"]); n != 2 {
		t.Errorf("ferry_process_parsed_total{parser=json} = %v, want 2", n)
	}
}

// The parser's defaults ship a JSON line once: the message is its msg
// field, which leaves the fields; every other key stays a field, and a
// line with no message key keeps itself as the message. keep_original
// (set) ships the line as the message beside all its fields.
func TestParseDefaultShipsLineOnce(t *testing.T) {
	line := `{"level":"info","msg":"order placed","order_id":1042}`
	for _, c := range []struct {
		keep   bool
		body   string
		fields []event.Field
	}{
		{false, "order placed", []event.Field{{Key: "level", Value: "info"}, {Key: "order_id", Value: "1042", Raw: true}}},
		{true, line, []event.Field{{Key: "level", Value: "info"}, {Key: "msg", Value: "order placed"}, {Key: "order_id", Value: "1042", Raw: true}}},
	} {
		cfg := DefaultConfig()
		cfg.Parser.Format = "json"
		if c.keep {
			cfg.Parser.KeepOriginal = true
		}
		p, _ := newTest(t, cfg)
		got := p.Process(linesOf([]byte(line+"\n"+`{"level":"warn","n":2}`), nil, event.Stdout))
		if len(got) != 2 {
			t.Fatalf("keep_original=%v: %d records, want 2", c.keep, len(got))
		}
		if key := map[bool]string{false: "msg", true: ""}[c.keep]; got[0].MessageKey != key || got[1].MessageKey != "" {
			t.Errorf("keep_original=%v: message keys %q and %q, want %q and none", c.keep, got[0].MessageKey, got[1].MessageKey, key)
		}
		if string(got[0].Body) != c.body || got[0].Level != "info" || !cmp.Equal(got[0].Fields, c.fields) {
			t.Errorf("keep_original=%v: %q %q %+v, want %q info %+v", c.keep, got[0].Body, got[0].Level, got[0].Fields, c.body, c.fields)
		}
		if string(got[1].Body) != `{"level":"warn","n":2}` || len(got[1].Fields) != 2 {
			t.Errorf("keep_original=%v: a line with no message key: %q %+v, want the line and its 2 fields", c.keep, got[1].Body, got[1].Fields)
		}
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\u00e9","b":{"c":[1,2,{"d":"}"}]},"e":null}`, `{"a":"\xff"}`, ` {"a" : [ ] } `, `[]`, `{"a":`,
		"\f{}", "{}\u00a0", `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":"\u00"}`, `{"a":"\x"}`, `{"a":[1,]}`, `{"a":1,}`,
		`{"a":1}x`, `{"a" 1}`, `{"a":tru}`, `{"a":{"b":}}`, "{\"a\":\"\t\"}", `{"a":[[[[[]]]]],"b":{"c":{"d":null}}}`,
		`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\ud83dx"}`, `{"a":"\ude00\ud83d"}`, `{"a":"\ud83d\u0041"}`, `{"a\n":"x\n\t\"\\\/\b\fy"}`, "{\"a\":\"\\n\xff\xc3\"}", `{"a":"\u00E9\u00e9"}`,
		`{"\u0000":"\u0000"}`, `{"\uD83D\uDE00":"\uDBFF\uDFFF"}`, `{"a":"\uD800\u"}`, `{"a":"x\uDC00"}`, "{\"a\":\"\xed\xa0\x80\\n\"}", "{\"\xff\\t\":1}",
		`{"a":"\\"}`, `{"a":"\"\\\""}`, `{"a\u0062":1,"ab":2}`, "{\"a\":\"\xef\xbf\xbd\\uFFFD\"}",
		// Strings past 8 bytes, scanned a word at a time, with what stops
		// the scan at every place of a word.
		`{"abcdefghijklm":"0123456789abcdef\"x\u00e9\n","n":"01234567"}`, "{\"abcdefgh\":\"0123456789\x01\"}",
		"{\"abcdefghi\xff\":\"01234567\xc3\xa9xyz\"}", `{"abcdefghij":"0123456789abcdefghijklmnopq"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, ok := parseJSON(nil, b)
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal(b, &ref)
		if ok != (refErr == nil && ref != nil) {
			t.Fatalf("ok = %v, encoding/json says %v", ok, refErr)
		}
		if !ok {
			return
		}
		if len(fields) != len(ref) {
			t.Fatalf("%d fields, encoding/json finds %d keys", len(fields), len(ref))
		}
		for _, f := range fields {
			r, found := ref[f.Key]
			if !found {
				t.Fatalf("key %q not found by encoding/json", f.Key)
			}
			if f.Raw {
				if !json.Valid([]byte(f.Value)) {
					t.Fatalf("raw value %q is not valid JSON", f.Value)
				}
				continue
			}
			var s string
			if err := json.Unmarshal(r, &s); err != nil || s != f.Value {
				t.Fatalf("string %q: encoding/json decodes %q (%v)", f.Value, s, err)
			}
		}
	})
}

func FuzzParseLogfmt(f *testing.F) {
	for _, s := range []string{`a=1`, `a="b c" d=`, `a="\x"`, `=1`, `a b`, `level=info msg="x \"y\""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, ok := parseLogfmt(nil, b)
		if !ok {
			if len(fields) != 0 {
				t.Fatalf("fields %v from a failed parse", fields)
			}
			return
		}
		seen := map[string]bool{}
		for _, f := range fields {
			if f.Key == "" || seen[f.Key] {
				t.Fatalf("empty or repeated key in %v", fields)
			}
			seen[f.Key] = true
		}
	})
}

func FuzzParseRegex(f *testing.F) {
	re := regexp.MustCompile(`^(?P<a>\w+)(?: (?P<b>\d+))?`)
	p := &regexParser{re: re, names: re.SubexpNames()}
	f.Add([]byte("abc 12"))
	f.Add([]byte(" "))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, ok := p.parse(nil, b)
		if ok != re.Match(b) {
			t.Fatalf("ok = %v, regexp says %v", ok, !ok)
		}
		if ok && (len(fields) == 0 || fields[0].Key != "a") {
			t.Fatalf("fields %v", fields)
		}
	})
}

// manyKeys is a line of n keys k0..k(n-2), then k0 again (the last value
// wins), in JSON or logfmt.
func manyKeys(n int, json bool) []byte {
	var b strings.Builder
	if json {
		b.WriteString("{")
	}
	for i := range n {
		switch {
		case i > 0 && json:
			b.WriteString(",")
		case i > 0:
			b.WriteString(" ")
		}
		if json {
			fmt.Fprintf(&b, `"k%d":%d`, i%(n-1), i)
		} else {
			fmt.Fprintf(&b, "k%d=%d", i%(n-1), i)
		}
	}
	if json {
		b.WriteString("}")
	}
	return []byte(b.String())
}

// TestManyKeys: a line of thousands of keys (a dumped map) parses with its
// keys unique, in the order first seen, the last value of a repeated key
// kept, past the point where keys are indexed instead of compared one by
// one. BenchmarkParseManyKeys shows the cost is linear in the keys.
func TestManyKeys(t *testing.T) {
	for _, json := range []bool{true, false} {
		parse := parseLogfmt
		if json {
			parse = parseJSON
		}
		for _, n := range []int{3, linearKeys, linearKeys + 1, 5000} {
			fs, ok := parse(nil, manyKeys(n, json))
			if !ok || len(fs) != n-1 || fs[0].Key != "k0" || fs[0].Value != strconv.Itoa(n-1) || fs[n-2].Key != "k"+strconv.Itoa(n-2) {
				t.Fatalf("json %v, %d keys: ok %v, %d fields, first %+v", json, n, ok, len(fs), fs[:min(1, len(fs))])
			}
		}
	}
}

// BenchmarkParseManyKeys: the cost per key stays flat from 100 to 10,000
// keys in a line (it grew with the keys when they were compared one by
// one: half a second of CPU for a 250 KiB line of 24,000 keys).
func BenchmarkParseManyKeys(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		line := manyKeys(n, true)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				parseJSON(nil, line)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
		})
	}
}

// TestParsedFieldsAreTheirRecords: records parsed one after another share
// one allocation for their fields, but each record's fields end where they
// end: appending to one (as a later stage may) never writes into the next
// record's, and a message lifted out of the fields leaves both intact.
func TestParsedFieldsAreTheirRecords(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep_original=%v", keep), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Parser.Format, cfg.Parser.KeepOriginal = "json", keep
			p, _ := newTest(t, cfg)
			var text strings.Builder
			n := 3 * fieldSlabLen / 2 // across at least two slabs
			for i := range n {
				fmt.Fprintf(&text, `{"msg":"m%d","a":"x%d","b":%d}`+"\n", i, i, i)
			}
			out := p.Process(linesOf([]byte(text.String()), nil, event.Stdout))
			if len(out) != n {
				t.Fatalf("%d records, want %d", len(out), n)
			}
			for i := range out {
				out[i].Fields = append(out[i].Fields, event.Field{Key: "added", Value: "y"})
			}
			for i := range out {
				want := []event.Field{{Key: "msg", Value: fmt.Sprintf("m%d", i)}, {Key: "a", Value: fmt.Sprintf("x%d", i)},
					{Key: "b", Value: fmt.Sprint(i), Raw: true}, {Key: "added", Value: "y"}}
				wantBody := fmt.Sprintf(`{"msg":"m%d","a":"x%d","b":%d}`, i, i, i)
				if !keep {
					want, wantBody = want[1:], fmt.Sprintf("m%d", i)
				}
				if string(out[i].Body) != wantBody || !slices.Equal(out[i].Fields, want) {
					t.Fatalf("record %d: body %q fields %+v, want %q %+v", i, out[i].Body, out[i].Fields, wantBody, want)
				}
			}
		})
	}
}

// TestJSONRepeatedKeys: a repeated key keeps its last value in its first
// place, as encoding/json does, also among keys that share keyBit (which
// then are compared one by one) and past linearKeys (a map).
func TestJSONRepeatedKeys(t *testing.T) {
	if keyBit("axb") != keyBit("ayb") {
		t.Fatal("axb and ayb were meant to share a bit")
	}
	var many strings.Builder
	many.WriteString(`{`)
	for i := range 40 {
		fmt.Fprintf(&many, `"k%d":%d,`, i, i)
	}
	many.WriteString(`"k3":"again"}`)
	for _, tc := range []struct {
		in   string
		want []event.Field
	}{
		{`{"axb":1,"ayb":2,"axb":3}`, []event.Field{{Key: "axb", Value: "3", Raw: true}, {Key: "ayb", Value: "2", Raw: true}}},
		{`{"a":"x","a":"y"}`, []event.Field{{Key: "a", Value: "y"}}},
		{`{"":1,"":2}`, []event.Field{{Key: "", Value: "2", Raw: true}}},
	} {
		got, ok := parseJSON(nil, []byte(tc.in))
		if !ok || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.in, got, ok, tc.want)
		}
	}
	got, ok := parseJSON(nil, []byte(many.String()))
	if !ok || len(got) != 40 || got[3] != (event.Field{Key: "k3", Value: "again"}) {
		t.Errorf("40 keys, k3 repeated: %d fields, k3 = %+v", len(got), got[3])
	}
}

// BenchmarkParseJSONEscaped: a JSON line whose message and stack trace hold
// escapes (newlines, tabs, quotes, a non-ASCII letter), as a logging
// library writes an exception.
func BenchmarkParseJSONEscaped(b *testing.B) {
	line := []byte(`{"ts":"2026-12-05T12:00:00Z","level":"error","msg":"request failed: \"timeout\" for café","stack":"java.lang.IllegalStateException: boom\n\tat com.example.Service.handle(Service.java:42)\n\tat com.example.Server.run(Server.java:7)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)"}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	var fields []event.Field
	for b.Loop() {
		var ok bool
		if fields, ok = parseJSON(fields[:0], line); !ok {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkParseJSON: a line of the benchmark's JSON corpus (bench
// -mix jsontrace): 13 keys, long plain strings, no escapes.
func BenchmarkParseJSON(b *testing.B) {
	line := []byte(`{"ts":"2026-12-05T12:00:00.123456789Z","level":"info","logger":"http.server","msg":"request served","seq":123456,"method":"GET","path":"/api/v1/cart?id=123456","status":200,"duration_ms":12.345,"bytes":65536,"trace_id":"0123456789abcdef0123456789abcdef","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","src":"shop/svc-1-6c8f9b7d4-00002/app"}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	var fields []event.Field
	for b.Loop() {
		var ok bool
		if fields, ok = parseJSON(fields[:0], line); !ok {
			b.Fatal("not parsed")
		}
	}
}
