package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

func TestFilters(t *testing.T) {
	shop := &event.Meta{Namespace: "shop", Pod: "cart-1", Container: "app", Labels: map[string]string{"app": "cart", "tier": "web"}}
	sys := &event.Meta{Namespace: "kube-system", Pod: "dns", Container: "coredns"}
	cfg := DefaultConfig()
	cfg.Parser.DetectLevel = true
	cfg.Filters = []FilterRule{
		{Name: "health", Action: "drop", Message: `GET /healthz`},
		{Name: "keep-errors", Action: "keep", Levels: []string{"error", "fatal"}},
		{Name: "system", Action: "drop", Namespaces: []string{"kube-system"}},
		{Name: "cart-stderr", Action: "drop", Labels: map[string]string{"app": "cart"}, Containers: []string{"app"}, Stream: "stderr"},
	}
	reg := prometheus.NewRegistry()
	a := &recAcker{}
	p, err := New(cfg, nil, Options{Acker: a, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var in []event.Log
	in = append(in, linesOf([]byte("GET /healthz 200\nGET /cart 200\nERROR GET /healthz failed"), shop, event.Stdout)...)
	in = append(in, linesOf([]byte("warn on stderr\nERROR on stderr"), shop, event.Stderr)...)
	in = append(in, linesOf([]byte("dns ok\nERROR dns down"), sys, event.Stdout)...)
	for i := range in {
		in[i].Cursor.Offset = int64(i + 1)
	}
	var got []string
	for _, r := range p.Process(in) {
		got = append(got, string(r.Body))
	}
	want := []string{"GET /cart 200", "ERROR on stderr", "ERROR dns down"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]event.Cursor{{Source: 1, Offset: 1}, {Source: 1, Offset: 3}, {Source: 1, Offset: 4}, {Source: 1, Offset: 6}}, a.got()); diff != "" {
		t.Errorf("dropped lines acknowledged (-want +got):\n%s", diff)
	}
	exp := `
# HELP ferry_process_dropped_total Records dropped by a filter, by rule name (default: no rule matched and filter_default is drop; annotation: an exclude-<stream> pod annotation).
# TYPE ferry_process_dropped_total counter
ferry_process_dropped_total{rule="annotation"} 0
ferry_process_dropped_total{rule="cart-stderr"} 1
ferry_process_dropped_total{rule="default"} 0
ferry_process_dropped_total{rule="health"} 2
ferry_process_dropped_total{rule="keep-errors"} 0
ferry_process_dropped_total{rule="system"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "ferry_process_dropped_total"); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("metric lint: %v %v", probs, err)
	}
}

func TestFilterDefaultDrop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FilterDefault = "drop"
	cfg.Filters = []FilterRule{{Name: "shop", Action: "keep", Namespaces: []string{"shop"}}}
	p, a := newTest(t, cfg)
	in := append(linesOf([]byte("a"), &event.Meta{Namespace: "shop"}, event.Stdout), linesOf([]byte("b"), nil, event.Stdout)...)
	if got := p.Process(in); len(got) != 1 || string(got[0].Body) != "a" {
		t.Errorf("kept %v", got)
	}
	if len(a.got()) != 1 || testutil.ToFloat64(p.m.dropDefault) != 1 {
		t.Errorf("default drop: acks %v, counted %v", a.got(), testutil.ToFloat64(p.m.dropDefault))
	}
}

// A dropped multiline record acknowledges every line it held.
func TestDroppedGroupAcksAllItsLines(t *testing.T) {
	cfg := javaConfig()
	cfg.Filters = []FilterRule{{Name: "java", Action: "drop", Message: `IllegalState`}}
	p, a := newTest(t, cfg)
	lines := linesOf([]byte(javaTrace), nil, event.Stdout)
	recs := runAll(p, lines, 100)
	if len(recs) != 1 || string(recs[0].Body) != "after" {
		t.Fatalf("records %v", recs)
	}
	if len(a.got()) != 7 {
		t.Errorf("%d lines acknowledged, want the 7 of the dropped group", len(a.got()))
	}
}

const secrets = `user bob@example.com paid with 4111 1111 1111 1111 (not 4111 1111 1111 1112), ` +
	`Authorization: Bearer abc.DEF-123_x~+/= token=s3cr3tvalue AKIAIOSFODNN7EXAMPLE ` +
	`jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ssn 123-45-6789`

func TestRedaction(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Redact.Builtins = redactNames()
	cfg.Redact.Custom = []RedactRule{{Name: "ssn", Pattern: `\b\d{3}-\d{2}-\d{4}\b`}}
	cfg.Parser.Format = "json"
	cfg.Parser.KeepOriginal = true // the line as the message: masked there too
	reg := prometheus.NewRegistry()
	p, err := New(cfg, nil, Options{Acker: &recAcker{}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	line := `{"msg":"` + secrets + `","nested":{"password":"hunter22","mail":"a@b.io"}}`
	in := linesOf([]byte(line+"\n"+secrets+"\nnothing to hide"), nil, event.Stdout)
	orig := bytes.Clone(in[1].Body)
	body1 := in[1].Body
	out := p.Process(in)
	if !bytes.Equal(body1, orig) {
		t.Error("the tailer's body was modified in place")
	}
	want := `user [REDACTED] paid with [REDACTED] (not 4111 1111 1111 1112), Authorization: Bearer [REDACTED] ` +
		`token=[REDACTED] [REDACTED] jwt [REDACTED] ssn [REDACTED]`
	if got := string(out[1].Body); got != want {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}
	if string(out[2].Body) != "nothing to hide" {
		t.Errorf("clean line changed: %q", out[2].Body)
	}
	leak := regexp.MustCompile(`bob@|4111 1111 1111 1111|abc\.DEF|s3cr3t|AKIAIOSF|eyJhbGci|123-45|hunter22|a@b\.io`)
	if leak.Match(out[0].Body) {
		t.Errorf("secret left in the message: %s", out[0].Body)
	}
	for _, f := range out[0].Fields {
		if leak.MatchString(f.Value) {
			t.Errorf("secret left in field %s: %s", f.Key, f.Value)
		}
	}
	if n := testutil.ToFloat64(p.m.redactions.WithLabelValues("email")); n != 5 {
		t.Errorf("ferry_process_redactions_total{rule=email} = %v, want 5 (2 in the JSON line, 1 in each of its fields, 1 in the plain line)", n)
	}
}

func FuzzRedact(f *testing.F) {
	f.Add([]byte(secrets))
	f.Add([]byte("4111-1111-1111-1111"))
	var rs []*redaction
	for _, n := range redactNames() {
		rs = append(rs, newBuiltinRedaction(n))
	}
	email := regexp.MustCompile(builtinRedactions["email"].pattern)
	f.Fuzz(func(t *testing.T, b []byte) {
		// findEmails is the email pattern, without a regular expression.
		var want [][2]int
		for _, m := range email.FindAllIndex(b, -1) {
			want = append(want, [2]int{m[0], m[1]})
		}
		if got := findEmails(nil, b); !cmp.Equal(want, got) {
			t.Fatalf("findEmails(%q) = %v, the pattern finds %v", b, got, want)
		}
		orig := bytes.Clone(b)
		for _, r := range rs {
			out, ok := r.redact(b, "[REDACTED]")
			if !bytes.Equal(b, orig) {
				t.Fatal("input modified")
			}
			if !ok {
				if &out[0:cap(out)][0] != &b[0:cap(b)][0] && len(b) > 0 {
					t.Fatal("a new body without a match")
				}
				continue
			}
			// The prefilter must never hide a match the expression finds.
			if again, _ := r.redact(out, "[REDACTED]"); r.valid == nil && r.group == 0 && r.re.Match(again) {
				t.Fatalf("%s: match left after masking: %q", r.name, again)
			}
		}
	})
}

func TestAnnotations(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Annotations = AnnotationConfig{Prefix: "ferry.dev", Multiline: true, Parser: true, Exclude: true}
	p, a := newTest(t, cfg)
	meta := func(container string, ann map[string]string) *event.Meta {
		return &event.Meta{Namespace: "n", Pod: "p", Container: container, Annotations: ann}
	}
	ann := map[string]string{"ferry.dev/multiline": "java", "ferry.dev/multiline-worker": "python",
		"ferry.dev/parser": "json", "ferry.dev/parser-sidecar": "bogus", "ferry.dev/exclude-stderr": "true"}
	app, worker, sidecar := meta("app", ann), meta("worker", ann), meta("sidecar", ann)
	if r := p.resolve(app); r.ml != builtinRules["java"] || r.parser == nil || !r.exclude[event.Stderr] || r.exclude[event.Stdout] {
		t.Errorf("app: %+v", r)
	}
	if r := p.resolve(worker); r.ml != builtinRules["python"] {
		t.Errorf("worker: the container's annotation must win, got %v", r.ml.name)
	}
	if r := p.resolve(sidecar); r.parser != nil {
		t.Errorf("sidecar: an unknown parser must be ignored, got %v", r.parser)
	}
	if n := testutil.ToFloat64(p.m.annotationErrors); n != 1 {
		t.Errorf("annotation errors = %v, want 1", n)
	}
	in := append(linesOf([]byte(javaTrace), app, event.Stdout), linesOf([]byte("dropped"), app, event.Stderr)...)
	in[len(in)-1].Cursor.Offset = 999
	recs := runAll(p, in, 4)
	if len(recs) != 2 || recs[0].Lines != 7 {
		t.Errorf("records %d (first of %d lines), want the java group and 'after'", len(recs), recs[0].Lines)
	}
	if diff := cmp.Diff([]event.Cursor{{Source: 1, Offset: 999}}, a.got()); diff != "" {
		t.Errorf("excluded stderr line not acknowledged (-want +got):\n%s", diff)
	}

	// Not honoured unless the config says so.
	q, _ := newTest(t, javaConfig())
	if r := q.resolve(worker); r.ml != builtinRules["java"] || r.parser != nil || r.exclude[event.Stderr] {
		t.Errorf("annotations honoured though not allowed: %+v", r)
	}
}

// Masking JSON text that breaks it (a custom pattern matching quotes)
// turns the field into a string: the record stays valid JSON.
func TestRedactRawFieldStaysValid(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Parser.Format = "json"
	cfg.Redact.Custom = []RedactRule{{Name: "quoted-a", Pattern: `"a"`}, {Name: "digits", Pattern: `\d+`}}
	p, _ := newTest(t, cfg)
	out := p.Process(linesOf([]byte(`{"obj":{"a":1},"n":[12,3]}`), nil, event.Stdout))
	want := []event.Field{{Key: "obj", Value: `{[REDACTED]:[REDACTED]}`}, {Key: "n", Value: `[[REDACTED],[REDACTED]]`}}
	if diff := cmp.Diff(want, out[0].Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// TestRedactWhereSecretsHide: secrets behind compound key names, in parsed
// fields known by their key, used as keys, and written with JSON escapes
// of ASCII characters in the message or a nested field, are all masked;
// the record's text stays what it was where nothing was masked.
func TestRedactWhereSecretsHide(t *testing.T) {
	for _, c := range []struct {
		name, parser, line string
		secrets            []string
		keep               string // must still be in the message
	}{
		{"compound names", "", "access_token=ya29secret1 refresh_token=1//0gsecret2 DB_PASSWORD=dbsecret3 AWS_SECRET_ACCESS_KEY=wJalrsecret4 client_secret: clsecret5 token_count=12",
			[]string{"ya29secret1", "1//0gsecret2", "dbsecret3", "wJalrsecret4", "clsecret5"}, "token_count=12"},
		{"keyed json field", "json", `{"msg":"login","password":"hunter22","api_key":"abcd1234efgh","tokens":7}`,
			[]string{"hunter22", "abcd1234efgh"}, `"tokens":7`},
		{"keyed logfmt field", "logfmt", `msg=login password=hunter22 session_token=abcd1234efgh`,
			[]string{"hunter22", "abcd1234efgh"}, "msg=login"},
		{"secret as a key", "json", `{"msg":"owners","dave@example.com":"owner","AKIAIOSFODNN7EXAMPLE":"deploy"}`,
			[]string{"dave@example.com", "AKIAIOSFODNN7EXAMPLE"}, `"msg":"owners"`},
		{"escaped in the message", "json", `{"msg":"GET /pay?id=1\u0026token=s3cr3tv4lue","user":"bob\u0040example.com","lt":"\u003c"}`,
			[]string{"s3cr3tv4lue", "bob@example.com", `bob\u0040example.com`}, `"lt":"<"`},
		{"escaped in a nested field", "json", `{"msg":"quota","quota":{"erin\u0040example.com":5,"url":"/x?a=1\u0026token=n3st3dv4lue"}}`,
			[]string{"erin@example.com", "n3st3dv4lue", `erin\u0040example.com`}, `"msg":"quota"`},
		{"escaped backslash is not an escape", "", `path C:\\u0040home bob\u0040example.com`,
			[]string{"bob@example.com"}, `C:\\u0040home`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Parser.Format = c.parser
			cfg.Parser.KeepOriginal = true // the message is the line: what it must keep
			cfg.Redact.Builtins = []string{"api_key", "email", "aws_key"}
			p, _ := newTest(t, cfg)
			out := runAll(p, linesOf([]byte(c.line+"\n"), nil, event.Stdout), 1)
			if len(out) != 1 {
				t.Fatalf("%d records", len(out))
			}
			var all strings.Builder
			all.Write(out[0].Body)
			for _, f := range out[0].Fields {
				fmt.Fprintf(&all, " %s=%s", f.Key, f.Value)
				if c.parser == "json" && f.Raw && !json.Valid([]byte(f.Value)) {
					t.Errorf("field %s is raw but not JSON: %s", f.Key, f.Value)
				}
			}
			for _, s := range c.secrets {
				if strings.Contains(all.String(), s) {
					t.Errorf("%q shipped: %s", s, all.String())
				}
			}
			if !strings.Contains(string(out[0].Body), c.keep) {
				t.Errorf("the message lost %q: %s", c.keep, out[0].Body)
			}
			if c.parser == "json" && !json.Valid(out[0].Body) {
				t.Errorf("the message is no longer JSON: %s", out[0].Body)
			}
		})
	}
}

func TestUnescapeASCII(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                     "",
		`a\u0026b\u0040c`:           `a&b@c`,
		`\u0022q\u005c\u001f\u00e9`: "", // quote, backslash, control, not ASCII
		`\\u0040 \u0040`:            `\\u0040 @`,
		`\u00`:                      "",
		`x\`:                        "",
	} {
		got := unescapeASCII([]byte(in))
		if (want == "" && got != nil) || (want != "" && string(got) != want) {
			t.Errorf("unescapeASCII(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactKeepsWhatIsNoSecret: the api_key rule masks a quoted value
// whole (spaces, commas, an escaped quote) and nothing after it; a JSON
// flag or count after a secret's key name, an object under such a key,
// and escapes of a plain-text line are left as they are; two secrets used
// as keys stay two fields.
func TestRedactKeepsWhatIsNoSecret(t *testing.T) {
	for _, c := range []struct{ parser, line, want string }{
		{"json", `{"msg":"created","password":"correct horse, battery"}`, `{"msg":"created","password":"[REDACTED]"}`},
		{"json", `{"DB_PASSWORD":"Xk9\"pQ2zz81","n":1}`, `{"DB_PASSWORD":"[REDACTED]","n":1}`},
		{"json", `{"has_password":true,"max_token":4096,"secret":null}`, `{"has_password":true,"max_token":4096,"secret":null}`},
		{"json", `{"msg":"Reconciling","Secret":{"name":"db-creds"}}`, `{"msg":"Reconciling","Secret":{"name":"db-creds"}}`},
		{"", `pattern=[\u0041-\u005A]+ api_key=9f8e7d6c5b4a`, `pattern=[\u0041-\u005A]+ api_key=[REDACTED]`},
		{"", `pin=12345678 password: 'two words'`, `pin=12345678 password: '[REDACTED]'`},
	} {
		cfg := DefaultConfig()
		cfg.Parser.Format = c.parser
		cfg.Parser.KeepOriginal = true // the message is the line: what it must keep
		cfg.Redact.Builtins = []string{"api_key", "email"}
		p, _ := newTest(t, cfg)
		out := runAll(p, linesOf([]byte(c.line+"\n"), nil, event.Stdout), 1)
		if string(out[0].Body) != c.want {
			t.Errorf("%s\nshipped %s\nwant    %s", c.line, out[0].Body, c.want)
		}
		for _, f := range out[0].Fields {
			if f.Key == "Secret" && (!f.Raw || f.Value != `{"name":"db-creds"}`) {
				t.Errorf("fields.Secret = %q (raw %v): an object under a secret's key name is no secret", f.Value, f.Raw)
			}
		}
	}
	cfg := DefaultConfig()
	cfg.Parser.Format = "json"
	cfg.Redact.Builtins = []string{"email"}
	p, _ := newTest(t, cfg)
	out := runAll(p, linesOf([]byte(`{"bob@example.com":"admin","carol@example.com":"viewer"}`+"\n"), nil, event.Stdout), 1)
	var keys []string
	for _, f := range out[0].Fields {
		keys = append(keys, f.Key+"="+f.Value)
	}
	if want := []string{"[REDACTED]=admin", "[REDACTED]#2=viewer"}; !slices.Equal(keys, want) {
		t.Errorf("fields %v, want %v", keys, want)
	}
}
