package hostile

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/process"
)

// nopAck takes acknowledgements and forgets them.
type nopAck struct{}

func (nopAck) Ack([]event.Cursor) {}

// redactOne runs one line through a real Processor with every built-in
// redaction and the given parser, and returns the record it makes. The
// parser keeps the original line as the message (keep_original), where a
// secret has the most places to hide.
func redactOne(t *testing.T, format, line string) event.Log {
	t.Helper()
	cfg := process.DefaultConfig()
	cfg.Parser.Format = format
	cfg.Parser.KeepOriginal = true
	cfg.Redact.Builtins = []string{"api_key", "bearer", "aws_key", "jwt", "card", "email"}
	p, err := process.New(cfg, nil, process.Options{Acker: nopAck{}})
	must(t, err)
	out := p.Process([]event.Log{{Body: []byte(line), Cursor: event.Cursor{Source: 1, Offset: int64(len(line) + 1)}}})
	if len(out) != 1 {
		t.Fatalf("%d records out of one line", len(out))
	}
	return out[0]
}

// TestAttackRedactJSONLineStaysJSON: with the json parser and
// keep_original, the message is the container's line as
// written, with secrets masked. api_key now knows prefixed key names, so
// a boolean flag or a count written after such a key is taken for a
// secret, and the secret runs to the next space, quote or comma: the
// closing brace goes with it. A user reads
// {"msg":"signup","has_password":[REDACTED] - the original line is no
// longer JSON (a consumer that decodes it fails), and a flag that held no
// secret is lost.
func TestAttackRedactJSONLineStaysJSON(t *testing.T) {
	for i, line := range []string{
		`{"msg":"signup","has_password":true}`,
		`{"msg":"llm call","max_token":4096}`,
		// The control: a flag whose key names no secret.
		`{"msg":"signup","verified":true}`,
		// The controls that held: names that only contain a secret's word.
		`{"msg":"done","token_count":5,"max_tokens":100,"passwordless":true,"key":"user-1234","cache_key":"abcd1234"}`,
	} {
		rec := redactOne(t, "json", line)
		if !json.Valid(rec.Body) {
			t.Errorf("the original line %s is shipped as %s: not JSON", line, rec.Body)
		} else if i >= 2 && string(rec.Body) != line {
			t.Errorf("a line with no secret %s is shipped as %s", line, rec.Body)
		}
	}
}

// TestAttackRedactMaskedKeysCollide: secrets used as keys are now masked
// (a map of addresses to roles). event.Field promises keys unique, and the
// sink writes the fields as one JSON object; two addresses both become
// "[REDACTED]", so the object has the key twice. A user decoding the
// record (any JSON decoder keeps one of them) sees one role where the
// container logged two: {"[REDACTED]":"viewer"} - "admin" is gone.
func TestAttackRedactMaskedKeysCollide(t *testing.T) {
	rec := redactOne(t, "json", `{"bob@example.com":"admin","carol@example.com":"viewer","msg":"roles"}`)
	seen := map[string]int{}
	for _, f := range rec.Fields {
		seen[f.Key]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("parsed key %q appears %d times in one record: %+v (a decoder keeps one value)", k, n, rec.Fields)
		}
	}
	if len(rec.Fields) != 3 {
		t.Errorf("%d fields, want 3: %+v", len(rec.Fields), rec.Fields)
	}
}

// TestAttackRedactKeyedMasksObjectReference: a parsed field whose key
// names a secret now has its whole value masked, whatever it holds. A
// Kubernetes controller (controller-runtime) logs the object it
// reconciles under its kind: "Secret":{"name":"db-creds","namespace":"shop"}
// - a reference, no secret in it; a lexer logs "token":{"kind":"IDENT"}.
// The user finds fields.Secret = "[REDACTED]" (the object turned into a
// string) while the message of the same record, masked by the same
// rules, still shows name and namespace: the structured field is lost
// for no secret kept.
func TestAttackRedactKeyedMasksObjectReference(t *testing.T) {
	for _, c := range []struct{ line, key, inner string }{
		{`{"level":"info","msg":"Reconciling","Secret":{"name":"db-creds","namespace":"shop"}}`, "Secret", "db-creds"},
		{`{"level":"debug","msg":"lexed","token":{"kind":"IDENT","pos":3}}`, "token", "IDENT"},
	} {
		rec := redactOne(t, "json", c.line)
		if !json.Valid(rec.Body) || !strings.Contains(string(rec.Body), c.inner) {
			t.Fatalf("the message itself lost %q: %s", c.inner, rec.Body)
		}
		for _, f := range rec.Fields {
			if f.Key == c.key && (!f.Raw || !json.Valid([]byte(f.Value)) || !strings.Contains(f.Value, c.inner)) {
				t.Errorf("fields.%s = %q (raw %v), while the message shows it: %s", f.Key, f.Value, f.Raw, rec.Body)
			}
		}
	}
}

// TestAttackRedactPassphraseInOriginalLine: a parsed field whose key names
// a secret now has its whole value masked, so fields.password shows
// "[REDACTED]" - but the message of the same record (the original line,
// with keep_original) is masked by the api_key pattern, whose
// secret stops at the first space, comma, quote or semicolon. A user
// logging a created account sees fields.password masked and believes the
// record clean, while the message ships
// "password":"[REDACTED] horse battery staple" - three quarters of the
// passphrase; "Xk9,pQ2;zz81" is shipped whole (the part before the comma
// is under the pattern's four characters); of a password holding a quote,
// what follows the quote (and the line is no longer JSON).
func TestAttackRedactPassphraseInOriginalLine(t *testing.T) {
	for _, c := range []struct{ line, secret string }{
		{`{"msg":"user created","password":"correct horse battery staple"}`, "horse battery staple"},
		{`{"msg":"user created","password":"Xk9,pQ2;zz81"}`, "pQ2;zz81"},
		{`{"msg":"user created","DB_PASSWORD":"Xk9\"pQ2zz81"}`, "pQ2zz81"},
	} {
		rec := redactOne(t, "json", c.line)
		for _, f := range rec.Fields {
			if strings.Contains(f.Value, c.secret) {
				t.Errorf("fields.%s ships %q", f.Key, f.Value)
			}
		}
		if strings.Contains(string(rec.Body), c.secret) {
			t.Errorf("the message ships part of the password %q: %s (fields: %+v)", c.secret, rec.Body, rec.Fields)
		}
	}
}

// TestAttackRedactRewritesEscapesOfPlainText: to find secrets written with
// JSON escapes, masking looks at the text with \u00XX written out, and
// ships that form when it masked something. It does so for any message,
// JSON or not. A plain-text line (no parser) that shows an escape - a
// regular expression, a Java or C# string literal, a protocol dump - and
// a secret elsewhere is shipped with the escapes replaced: the user reads
// pattern=[A-Z]+ where the container wrote pattern=[\u0041-\u005A]+, a
// change that is not the masking the config asked for.
func TestAttackRedactRewritesEscapesOfPlainText(t *testing.T) {
	line := `compiled pattern=[\u0041-\u005A]+ for tenant api_key=9f8e7d6c5b4a`
	rec := redactOne(t, "", line)
	want := `compiled pattern=[\u0041-\u005A]+ for tenant api_key=[REDACTED]`
	if string(rec.Body) != want {
		t.Errorf("plain-text line shipped as\n  %s\nwant\n  %s", rec.Body, want)
	}
}

// TestAttackRedactEscapesKeepJSON: JSON text is looked at with its ASCII
// escapes written out and shipped so when something was masked. An
// escaped backslash before "u0040" is a backslash and the text u0040, not
// an '@'; control characters, quotes and backslashes stay escaped; a raw
// field's masked JSON stays JSON. Holds.
func TestAttackRedactEscapesKeepJSON(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`{"path":"C:\\u0040dir","password":"hunter22"}`, `{"path":"C:\\u0040dir","password":"[REDACTED]"}`},
		{`{"m":"a\u0000b\u001f\u0022\u005c","u":"bob\u0040example.com"}`, `{"m":"a\u0000b\u001f\u0022\u005c","u":"[REDACTED]"}`},
		{`{"q":{"url":"/p?id=1\u0026token=s3cr3tv4lue"}}`, `{"q":{"url":"/p?id=1&token=[REDACTED]"}}`},
	} {
		rec := redactOne(t, "json", c.line)
		if string(rec.Body) != c.want || !json.Valid(rec.Body) {
			t.Errorf("%s\nshipped %s\nwant    %s", c.line, rec.Body, c.want)
		}
		for _, f := range rec.Fields {
			if f.Raw && !json.Valid([]byte(f.Value)) {
				t.Errorf("raw field %s is not JSON: %s", f.Key, f.Value)
			}
			if strings.Contains(f.Value, "s3cr3tv4lue") || strings.Contains(f.Value, "bob@") {
				t.Errorf("field %s ships %s", f.Key, f.Value)
			}
		}
	}
}
