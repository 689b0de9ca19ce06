package hostile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// leaks returns where secret still shows in a shipped record once a
// consumer decodes it: in any key or string of the record, and in any
// string that is itself JSON (a message kept as the original line),
// decoded again.
func leaks(raw, secret string) []string {
	var out []string
	var walk func(path string, v any, depth int)
	walk = func(path string, v any, depth int) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.Contains(k, secret) {
					out = append(out, path+" (a key: "+k+")")
				}
				walk(path+"."+k, e, depth)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e, depth)
			}
		case string:
			if strings.Contains(x, secret) {
				out = append(out, path+" = "+x)
				return
			}
			var inner any
			if depth < 3 && json.Unmarshal([]byte(x), &inner) == nil {
				walk(path+" (decoded)", inner, depth+1)
			}
		}
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return []string{"record is not JSON"}
	}
	walk("", v, 0)
	return out
}

// TestHostileRedactEscapedInMessage: the README promises that redaction
// masks secrets "in the message and in parsed fields before anything
// leaves the node". A Go service logs with encoding/json, which writes
// "&" as \u0026 inside strings: a URL with a token in its query becomes
// ...?id=1\u0026token=... in the line. With the json parser and
// keep_original, the token is masked in the parsed field
// but the message (the original line) keeps it: "\u0026token" has no word
// boundary before "token", so api_key does not match the raw text. The
// same for an address written bob\u0040example.com. A user reading the
// message in Kafka (any JSON decoder turns \u0026 back into &) sees the
// token and the address that the config said were masked.
func TestHostileRedactEscapedInMessage(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json, keep_original: true}\n  redact: {builtins: [api_key, email]}\n", worldOpt{})
	w.raw(w.path, criLines("stdout",
		`{"msg":"GET /pay?id=1\u0026token=s3cr3tv4lue","user":"bob\u0040example.com","tag":"esc-1"}`,
		`{"msg":"GET /pay?id=2&token=pl41nv4lue","user":"carol@example.com","tag":"plain-1"}`))
	p := w.agent.Start()
	fr.waitWith(t, "esc-1", 1, 30*time.Second)
	fr.waitWith(t, "plain-1", 1, 30*time.Second)
	// The control: written without escapes, both are masked everywhere.
	for _, secret := range []string{"pl41nv4lue", "carol@example.com"} {
		if l := leaks(fr.with("plain-1")[0].Raw, secret); len(l) > 0 {
			t.Errorf("control line: %q is shipped: %v", secret, l)
		}
	}
	for _, secret := range []string{"s3cr3tv4lue", "bob@example.com"} {
		if l := leaks(fr.with("esc-1")[0].Raw, secret); len(l) > 0 {
			t.Errorf("the secret %q, written with a JSON escape, is shipped unmasked at %v\nrecord: %s", secret, l, fr.with("esc-1")[0].Raw)
		}
	}
	stop(t, p)
}

// TestHostileRedactSecretInKey: a JSON logger writes a map keyed by
// e-mail address (a per-user quota, an ACL) or an AWS key id as a key.
// With the json parser, keep_original false and the email and aws_key
// rules, the message is masked and the values of the fields are masked,
// but the keys of "fields" are shipped as they were: the address and the
// key id leave the node in fields.<key>, where a user who configured
// redaction does not expect them.
func TestHostileRedactSecretInKey(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json, keep_original: false}\n  redact: {builtins: [email, aws_key]}\n", worldOpt{})
	w.raw(w.path, criLines("stdout",
		`{"msg":"owners key-1","dave@example.com":"owner","AKIAIOSFODNN7EXAMPLE":"deploy"}`))
	p := w.agent.Start()
	r := fr.waitWith(t, "owners key-1", 1, 30*time.Second)[0]
	for _, secret := range []string{"dave@example.com", "AKIAIOSFODNN7EXAMPLE"} {
		if l := leaks(r.Raw, secret); len(l) > 0 {
			t.Errorf("%q is shipped unmasked at %v\nrecord: %s", secret, l, r.Raw)
		}
	}
	stop(t, p)
}

// TestHostileRedactEscapedInNestedField: the json parser keeps a nested
// object as JSON text and redaction masks that text as it is; an address
// or a token written with a JSON escape inside the nested object
// ("erin\u0040example.com", "\u0026token=...") is not seen by the rules,
// and the consumer's decoder turns it back into the secret: fields.quota
// holds erin@example.com for anyone reading the topic. The message itself
// is the parsed msg (keep_original false), so only the nested field leaks.
func TestHostileRedactEscapedInNestedField(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json, keep_original: false}\n  redact: {builtins: [email, api_key]}\n", worldOpt{})
	w.raw(w.path, criLines("stdout",
		`{"msg":"quota nested-1","quota":{"erin\u0040example.com":5,"url":"/x?a=1\u0026token=n3st3dv4lue"}}`))
	p := w.agent.Start()
	r := fr.waitWith(t, "quota nested-1", 1, 30*time.Second)[0]
	for _, secret := range []string{"erin@example.com", "n3st3dv4lue"} {
		if l := leaks(r.Raw, secret); len(l) > 0 {
			t.Errorf("%q is shipped unmasked at %v\nrecord: %s", secret, l, r.Raw)
		}
	}
	stop(t, p)
}

// TestRedactReplacementIsLiteral: a replacement holding "$1", quotes,
// a backslash and braces is written as it is (no group expansion), and
// every record stays valid JSON, in the message and in the parsed fields,
// nested ones included (a masked nested value that would break its JSON
// text becomes a string).
func TestRedactReplacementIsLiteral(t *testing.T) {
	repl := `$1"},\ {'x`
	w, fr := procWorld(t, "  parser: {format: json}\n  redact:\n    builtins: [email, api_key]\n    replacement: '"+
		strings.ReplaceAll(repl, "'", "''")+"'\n", worldOpt{})
	w.raw(w.path, criLines("stdout",
		`{"msg":"repl-1 token=abcdefgh","who":"frank@example.com","n":{"a":["grace@example.com"]}}`,
		`repl-2 plain frank@example.com password=hunter22`))
	p := w.agent.Start()
	r1 := fr.waitWith(t, "repl-1", 1, 30*time.Second)[0]
	r2 := fr.waitWith(t, "repl-2", 1, 30*time.Second)[0]
	if bad := fr.invalid(); len(bad) > 0 {
		t.Fatalf("records that are not JSON: %v", bad)
	}
	for _, r := range []fullRec{r1, r2} {
		for _, secret := range []string{"abcdefgh", "frank@example.com", "grace@example.com", "hunter22"} {
			if l := leaks(r.Raw, secret); len(l) > 0 {
				t.Errorf("%q shipped at %v: %s", secret, l, r.Raw)
			}
		}
		if !strings.Contains(r.Message, repl) {
			t.Errorf("the replacement is not written literally: %s", r.Raw)
		}
	}
	if who, _ := r1.Fields["who"].(string); who != repl {
		t.Errorf("fields.who = %q, want the replacement %q", r1.Fields["who"], repl)
	}
	stop(t, p)
}

// TestHostileRedactKeyedSecretInFields: the api_key rule is documented
// for `api_key=..., "password": "...", token: ...`: it finds a secret by
// the key before it. A JSON line {"password":"hunter22"} or a logfmt line
// password=hunter22 is masked in the message, but the parser makes a
// field password whose value is hunter22 alone, and the rule, tried on the
// value without its key, finds nothing: fields.password ships the password
// in clear. The user turned on api_key and a parser and sees every
// password and token of the workload in Kafka, one key away from where
// the message masks it.
func TestHostileRedactKeyedSecretInFields(t *testing.T) {
	for _, c := range []struct{ format, line string }{
		{"json", `{"msg":"login keyed-json","password":"hunter22","api_key":"abcd1234efgh"}`},
		{"logfmt", `msg="login keyed-logfmt" password=hunter22 api_key=abcd1234efgh`},
	} {
		t.Run(c.format, func(t *testing.T) {
			w, fr := procWorld(t, "  parser: {format: "+c.format+"}\n  redact: {builtins: [api_key]}\n", worldOpt{})
			w.raw(w.path, cri("stdout", c.line))
			p := w.agent.Start()
			r := fr.waitWith(t, "login keyed-", 1, 30*time.Second)[0]
			for _, secret := range []string{"hunter22", "abcd1234efgh"} {
				if l := leaks(r.Raw, secret); len(l) > 0 {
					t.Errorf("%q is shipped unmasked at %v\nrecord: %s", secret, l, r.Raw)
				}
			}
			stop(t, p)
		})
	}
}

// TestHostileRedactCompoundKeyNames: the api_key rule looks for the words
// api_key, access_key, secret, token, password, pwd after a word boundary,
// so the names secrets most often have in logs do not match: an OAuth
// access_token or refresh_token, a client_secret, a DB_PASSWORD from an
// environment dump, AWS_SECRET_ACCESS_KEY ("_" is a word character: there
// is no boundary before "token" in "access_token"). With the api_key rule
// on, these lines reach Kafka with the secret in clear, in the message
// itself, no parser involved.
func TestHostileRedactCompoundKeyNames(t *testing.T) {
	w, fr := procWorld(t, "  redact: {builtins: [api_key]}\n", worldOpt{})
	cases := []struct{ line, secret string }{
		{"compound-1 oauth callback access_token=ya29a0ARrdaMsecret1 expires_in=3599", "ya29a0ARrdaMsecret1"},
		{"compound-2 refresh_token=1//0gsecretrefresh2 issued", "1//0gsecretrefresh2"},
		{`compound-3 {"client_id":"app","client_secret":"s3cretclient3"}`, "s3cretclient3"},
		{"compound-4 env DB_PASSWORD=s3cretdbpass4 DB_HOST=db", "s3cretdbpass4"},
		{"compound-5 AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYsecret5", "wJalrXUtnFEMIK7MDENGbPxRfiCYsecret5"},
		{"compound-6 control: password=plainpass6", "plainpass6"},
	}
	var b strings.Builder
	for _, c := range cases {
		b.WriteString(cri("stdout", c.line))
	}
	w.raw(w.path, b.String())
	p := w.agent.Start()
	for _, c := range cases {
		tag := c.line[:len("compound-1")]
		r := fr.waitWith(t, tag+" ", 1, 30*time.Second)[0]
		if l := leaks(r.Raw, c.secret); len(l) > 0 {
			t.Errorf("%q is shipped unmasked: %s", c.secret, r.Message)
		}
	}
	stop(t, p)
}
