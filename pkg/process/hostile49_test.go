package process

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Attacks on the json parser's default (keep_original false): the message
// is the first of message_keys found as a string, and leaves the fields.

func hostile49JSON(t *testing.T, tune func(*Config)) *Processor {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Parser.Format = "json"
	if tune != nil {
		tune(&cfg)
	}
	p, _ := newTest(t, cfg)
	return p
}

func fieldsOf(l event.Log) map[string]string {
	m := map[string]string{}
	for _, f := range l.Fields {
		m[f.Key] = f.Value
	}
	return m
}

// TestHostile49MessageKeyShapes: a msg that is not a string stays a field
// and the line (or the next message key) is the message; a repeated key
// counts once, its last value; message wins over msg; escapes are decoded;
// an empty msg is an empty message, not the line. Nothing of the line is
// lost: every key is the message or a field.
func TestHostile49MessageKeyShapes(t *testing.T) {
	for _, tc := range []struct {
		in, body string
		fields   map[string]string
	}{
		{`{"msg":42,"a":"x"}`, `{"msg":42,"a":"x"}`, map[string]string{"msg": "42", "a": "x"}},
		{`{"msg":{"k":"v"}}`, `{"msg":{"k":"v"}}`, map[string]string{"msg": `{"k":"v"}`}},
		{`{"msg":null}`, `{"msg":null}`, map[string]string{"msg": "null"}},
		{`{"msg":["a"]}`, `{"msg":["a"]}`, map[string]string{"msg": `["a"]`}},
		{`{"message":7,"msg":"text"}`, "text", map[string]string{"message": "7"}},
		{`{"msg":"first","msg":"second","a":1}`, "second", map[string]string{"a": "1"}},
		{`{"msg":"m","message":"M"}`, "M", map[string]string{"msg": "m"}},
		{`{"msg":"a\u0026b\nc \"q\""}`, "a&b\nc \"q\"", map[string]string{}},
		{`{"msg":"","a":"x"}`, "", map[string]string{"a": "x"}},
	} {
		p := hostile49JSON(t, nil)
		out := p.Process(linesOf([]byte(tc.in), nil, event.Stdout))
		if len(out) != 1 {
			t.Errorf("%s: %d records, want 1", tc.in, len(out))
			continue
		}
		got := fieldsOf(out[0])
		if string(out[0].Body) != tc.body || len(got) != len(tc.fields) {
			t.Errorf("%s: body %q fields %v, want %q %v", tc.in, out[0].Body, got, tc.body, tc.fields)
			continue
		}
		for k, v := range tc.fields {
			if got[k] != v {
				t.Errorf("%s: field %s = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

// TestHostile49RedactMessageAndFields: a secret in msg is masked in the
// message the record ships, also when written with JSON escapes; one in
// another field is masked there; a secret known by its key is masked
// whole. The secret appears nowhere in the record.
func TestHostile49RedactMessageAndFields(t *testing.T) {
	p := hostile49JSON(t, func(c *Config) { c.Redact.Builtins = []string{"api_key", "bearer", "email"} })
	for _, tc := range []struct{ in, secret string }{
		{`{"msg":"login token=s3cr3tvalue42 ok","a":"x"}`, "s3cr3tvalue42"},
		{`{"msg":"call with Authorization: Bearer abcdefghijklmnop0123"}`, "abcdefghijklmnop0123"},
		{`{"msg":"mail bob\u0040example.com"}`, "bob@example.com"},
		{`{"msg":"x","ctx":"api_key=zzzsecretzzz99"}`, "zzzsecretzzz99"},
		{`{"msg":"x","password":"hunter2hunter2"}`, "hunter2hunter2"},
		{`{"msg":"x","nested":{"token":"nestedsecret77"}}`, "nestedsecret77"},
	} {
		out := p.Process(linesOf([]byte(tc.in), nil, event.Stdout))
		if len(out) != 1 {
			t.Errorf("%s: %d records, want 1", tc.in, len(out))
			continue
		}
		all := string(out[0].Body)
		for _, f := range out[0].Fields {
			all += "|" + f.Key + "=" + f.Value
		}
		if strings.Contains(all, tc.secret) || !strings.Contains(all, "[REDACTED]") {
			t.Errorf("%s: shipped %q, want %q masked", tc.in, all, tc.secret)
		}
	}
}

// TestHostile49JavaTraceAfterJSON: with the java rule, a JSON line and the
// stack trace after it are one group: the group is not JSON any more, so
// the whole group is the message (nothing of the trace lost), and the next
// JSON line is parsed alone.
func TestHostile49JavaTraceAfterJSON(t *testing.T) {
	p := hostile49JSON(t, func(c *Config) { c.Multiline.Rule = "java" })
	in := `{"level":"error","msg":"boom"}` + "\n" +
		"java.lang.IllegalStateException: bad\n" +
		"\tat com.example.A.b(A.java:10)\n" +
		"\tat com.example.C.d(C.java:20)\n" +
		`{"level":"info","msg":"next"}` + "\n"
	out := p.Process(linesOf([]byte(in), nil, event.Stdout))
	out = append(out, p.flush(time.Time{})...)
	var bodies []string
	for _, l := range out {
		bodies = append(bodies, string(l.Body))
	}
	joined := strings.Join(bodies, "|")
	for _, want := range []string{"boom", "A.java:10", "C.java:20", "next"} {
		if !strings.Contains(joined, want) {
			t.Errorf("%q lost: %q", want, joined)
		}
	}
}

// TestHostile49MessageFilterSeesMessageOnly documents what the default
// change does to a filter on the message: it matches the msg, not the
// line, so a rule written against a field's text in the line no longer
// matches (keep_original true restores the line).
func TestHostile49MessageFilterSeesMessageOnly(t *testing.T) {
	line := `{"msg":"request","path":"/healthz"}`
	for _, keep := range []bool{false, true} {
		p := hostile49JSON(t, func(c *Config) {
			c.Parser.KeepOriginal = keep
			c.Filters = []FilterRule{{Name: "health", Action: "drop", Message: "healthz"}}
		})
		out := p.Process(linesOf([]byte(line), nil, event.Stdout))
		if want := map[bool]int{false: 1, true: 0}[keep]; len(out) != want {
			t.Errorf("keep_original %v: %d records, want %d", keep, len(out), want)
		}
	}
}

// TestHostile49AnnotationParsers: a pod's annotation chooses the parser;
// the default (keep_original false) applies to the parser it chooses: json
// and logfmt take msg as the message, "none" (over a global json) ships
// the line itself with no fields.
func TestHostile49AnnotationParsers(t *testing.T) {
	p := hostile49JSON(t, func(c *Config) {
		c.Annotations = AnnotationConfig{Prefix: "ferry.dev", Parser: true}
	})
	meta := func(ann map[string]string) *event.Meta {
		return &event.Meta{Namespace: "n", Pod: "p", Container: "app", Annotations: ann}
	}
	for _, tc := range []struct {
		ann          map[string]string
		in, body     string
		fields       int
		fieldMissing string
	}{
		{nil, `{"msg":"hello","a":1}`, "hello", 1, "msg"},
		{map[string]string{"ferry.dev/parser": "logfmt"}, `level=info msg="hello there" a=1`, "hello there", 2, "msg"},
		{map[string]string{"ferry.dev/parser-app": "none"}, `{"msg":"hello","a":1}`, `{"msg":"hello","a":1}`, 0, ""},
	} {
		out := p.Process(linesOf([]byte(tc.in), meta(tc.ann), event.Stdout))
		if len(out) != 1 {
			t.Errorf("%v %s: %d records, want 1", tc.ann, tc.in, len(out))
			continue
		}
		got := fieldsOf(out[0])
		if string(out[0].Body) != tc.body || len(got) != tc.fields {
			t.Errorf("%v %s: body %q fields %v, want %q and %d fields", tc.ann, tc.in, out[0].Body, got, tc.body, tc.fields)
		}
		if _, ok := got[tc.fieldMissing]; tc.fieldMissing != "" && ok {
			t.Errorf("%v %s: %s is the message and still a field", tc.ann, tc.in, tc.fieldMissing)
		}
	}
}
