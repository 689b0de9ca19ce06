package process

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/event"
)

// FuzzFieldRules: leaving out of a record's fields the rules whose cheap
// test fails on the message they were parsed from (fieldRules) masks
// exactly what trying every rule on every field masks, with every builtin
// rule, both parsers that read escapes, with and without keep_original.
func FuzzFieldRules(f *testing.F) {
	for _, s := range []string{
		`{"user":"bob@example.com","msg":"hi"}`,
		`{"user":"bob\u0040example.com","n":1}`,
		`{"bob@example.com":"x","note":"Bearer abcdef123"}`,
		`{"auth":"bearer abc.def","k":"AKIA0123456789ABCDEF","t":"eyJabcd.eyJefgh.sig"}`,
		`{"password":"hunter22","token":4096,"card":"4111 1111 1111 1111"}`,
		`{"o":{"email":"a@b.io","api_key":"abcd1234"},"x":"\u0041KIA0123456789ABCDEF"}`,
		`user="bob\x40example.com" msg=hi`,
		`user=bob@example.com token=abcdefgh`,
		"{\"bad\":\"\xff@x.io\"}",
	} {
		f.Add([]byte(s), false, true)
		f.Add([]byte(s), true, false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, logfmt, keep bool) {
		cfg := DefaultConfig()
		cfg.Parser.Format, cfg.Parser.KeepOriginal = "json", keep
		if logfmt {
			cfg.Parser.Format = "logfmt"
		}
		cfg.Redact.Builtins = redactNames()
		fast, _ := newTest(t, cfg)
		every, _ := newTest(t, cfg)
		for _, r := range every.redactions {
			r.partPre = false // every rule on every field
		}
		line := func() []event.Log {
			return []event.Log{{Body: append([]byte(nil), msg...), Cursor: event.Cursor{Source: 1, Offset: 1}}}
		}
		got, want := fast.Process(line()), every.Process(line())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: records differ (-every rule +fieldRules):\n%s", msg, diff)
		}
	})
}

// TestFieldRulesLeaveOut: on a message without escapes and without an
// '@', the email rule is not tried on its fields; with an escape it is
// (the escape can write an '@'), and it masks the field.
func TestFieldRulesLeaveOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Parser.Format = "json"
	cfg.Redact.Builtins = []string{"email", "card"}
	p, _ := newTest(t, cfg)
	if got := p.fieldRules([]byte(`{"a":"b"}`)); len(got) != 1 || got[0].name != "card" {
		t.Errorf("rules on the fields of a message without '@': %d, want card alone", len(got))
	}
	if got := p.fieldRules([]byte(`{"a":"b\u0040c.io"}`)); len(got) != 2 {
		t.Errorf("rules on the fields of a message with an escape: %d, want both", len(got))
	}
	out := p.Process([]event.Log{{Body: []byte(`{"user":"bob\u0040example.com"}`), Cursor: event.Cursor{Source: 1, Offset: 1}}})
	if len(out) != 1 || len(out[0].Fields) != 1 || out[0].Fields[0].Value != cfg.Redact.Replacement {
		t.Fatalf("an address written with an escape was not masked in the field: %+v", out)
	}
}
