package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
)

// hostile6Lines are JSON lines that take every path of the parser and of
// the field slab: escapes, non-ASCII, invalid UTF-8, a control character,
// empty strings and an empty message, duplicate keys before and after the
// map path (16 keys), more fields than a slab holds, and lines that are
// not JSON between them.
func hostile6Lines() []string {
	var many, dupes strings.Builder
	many.WriteString(`{"msg":"many"`)
	for i := range 1500 {
		fmt.Fprintf(&many, `,"k%d":"v%d"`, i, i)
	}
	many.WriteString("}")
	dupes.WriteString(`{"msg":"first"`)
	for i := range 40 {
		fmt.Fprintf(&dupes, `,"d%d":%d`, i%20, i)
	}
	dupes.WriteString(`,"msg":"last","d3":"x\u0041"}`)
	return []string{
		`{"msg":"plain","a":"b"}`,
		`{"msg":"esc \"q\" \\ \n \u00e9 \ud83d\ude00","k\u0061y":"v"}`,
		`{"msg":"caf` + "\u00e9" + `","n":-1.5e3}`,
		"{\"msg\":\"bad \xff utf8\",\"b\":\"\xc3\"}",
		"{\"msg\":\"tab\tinside\"}", // invalid: a raw control character
		`{"msg":"","other":""}`,
		`{"":"empty key","msg":"m"}`,
		many.String(),
		`not json at all`,
		dupes.String(),
		`{"level":"WARN","message":"lifted","obj":{"msg":"inner"},"arr":[1,"x"]}`,
		`{"msg":"a"} `,
		`{"msg":"a",}`,
		`{"x":{"y":"` + strings.Repeat("z", 3000) + `"},"msg":"after"}`,
	}
}

// TestHostile6ParsedRecordsAgreeWithEncodingJSON: every record parsed
// through the Processor (fields carved from the shared slab, the message
// lifted into Body) equals what encoding/json decodes from its line, checked
// after all records were parsed and grown by a later stage, so that a
// record written over by the next one's fields is seen.
func TestHostile6ParsedRecordsAgreeWithEncodingJSON(t *testing.T) {
	lines := hostile6Lines()
	for round := range 3 { // several slabs: the lines again and again
		for _, keep := range []bool{false, true} {
			cfg := DefaultConfig()
			cfg.Parser.Format, cfg.Parser.KeepOriginal = "json", keep
			p, _ := newTest(t, cfg)
			var text bytes.Buffer
			for range 40 {
				for _, l := range lines {
					text.WriteString(l + "\n")
				}
			}
			in := linesOf(text.Bytes(), nil, event.Stdout)
			orig := make([][]byte, len(in))
			for i := range in {
				orig[i] = bytes.Clone(in[i].Body)
			}
			var out []event.Log
			for i := 0; i < len(in); i += 7 + round {
				b := append([]event.Log(nil), in[i:min(i+7+round, len(in))]...)
				out = append(out, p.Process(b)...)
			}
			if len(out) != len(in) {
				t.Fatalf("%d records of %d lines", len(out), len(in))
			}
			for i := range out {
				out[i].Fields = append(out[i].Fields, event.Field{Key: "later", Value: "stage"})
			}
			for i, r := range out {
				checkAgainstJSON(t, orig[i], r, keep, cfg.Parser.MessageKeys)
			}
		}
	}
}

func checkAgainstJSON(t *testing.T, line []byte, r event.Log, keep bool, msgKeys []string) {
	t.Helper()
	fields := r.Fields[:len(r.Fields)-1]
	if last := r.Fields[len(r.Fields)-1]; last.Key != "later" {
		t.Fatalf("%.60q: the later stage's field is gone: %+v", line, last)
	}
	var ref map[string]json.RawMessage
	if json.Unmarshal(line, &ref) != nil || ref == nil {
		if len(fields) != 0 || !bytes.Equal(r.Body, line) {
			t.Fatalf("%.60q is not JSON, yet fields %v body %.60q", line, fields, r.Body)
		}
		return
	}
	body := string(line)
	if !keep {
		for _, k := range msgKeys {
			raw, ok := ref[k]
			var s string
			if !ok || json.Unmarshal(raw, &s) != nil {
				continue
			}
			body = s
			delete(ref, k)
			break
		}
	}
	if string(r.Body) != body {
		t.Fatalf("%.60q: body %.60q, want %.60q", line, r.Body, body)
	}
	if len(fields) != len(ref) {
		t.Fatalf("%.60q: %d fields, encoding/json has %d", line, len(fields), len(ref))
	}
	for _, f := range fields {
		raw, ok := ref[f.Key]
		if !ok {
			t.Fatalf("%.60q: field %q not in encoding/json's keys", line, f.Key)
		}
		if f.Raw {
			var a, b any
			if json.Unmarshal([]byte(f.Value), &a) != nil || json.Unmarshal(raw, &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%.60q: raw field %q = %.60q, encoding/json %.60q", line, f.Key, f.Value, raw)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != f.Value {
			t.Fatalf("%.60q: field %q = %.60q, encoding/json %.60q", line, f.Key, f.Value, s)
		}
	}
}

// FuzzHostile6ProcessJSON: lines parsed one after another into the shared
// slab, each checked against encoding/json once all were parsed.
func FuzzHostile6ProcessJSON(f *testing.F) {
	for _, l := range hostile6Lines() {
		f.Add([]byte(l+"\n"+l+"\n"), false)
	}
	f.Add([]byte("{\"msg\":\"a\"}\n{\"b\":1}\n"), true)
	f.Fuzz(func(t *testing.T, text []byte, keep bool) {
		cfg := DefaultConfig()
		cfg.Parser.Format, cfg.Parser.KeepOriginal = "json", keep
		p, _ := newTest(t, cfg)
		in := linesOf(text, nil, event.Stdout)
		orig := make([][]byte, len(in))
		for i := range in {
			orig[i] = bytes.Clone(in[i].Body)
		}
		var out []event.Log
		for i := 0; i < len(in); i += 3 {
			out = append(out, p.Process(append([]event.Log(nil), in[i:min(i+3, len(in))]...))...)
		}
		if len(out) != len(in) {
			t.Fatalf("%d records of %d lines", len(out), len(in))
		}
		for i := range out {
			out[i].Fields = append(out[i].Fields, event.Field{Key: "later", Value: "stage"})
		}
		for i, r := range out {
			checkAgainstJSON(t, orig[i], r, keep, cfg.Parser.MessageKeys)
		}
	})
}
