package process

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestParseJSONStringWords: the string scan skips 8 bytes at a time, so a
// byte that ends or interrupts a plain run is put at every place of a word,
// in keys and values of every length around a word, and the parser must
// agree with encoding/json on whether the line is JSON and on the decoded
// key and value. Among them: an escape cut by the end of the input, a
// string left open, control and non-ASCII bytes, invalid UTF-8.
func TestParseJSONStringWords(t *testing.T) {
	inserts := []string{`"`, `\"`, `\\`, `\`, `\u00e9`, `\u00`, `\ud83d\ude00`, "\x01", "\x1f", "\x7f", "\x80",
		"\xc3\xa9", "\xc3", "\xff", "\xe2\x80\xa8", "\t", " "}
	n := 0
	for length := 0; length <= 20; length++ {
		plain := strings.Repeat("abcdefghij", 3)[:length]
		for _, in := range inserts {
			for at := 0; at <= length; at++ {
				s := plain[:at] + in + plain[at:]
				for _, line := range []string{
					`{"k":"` + s + `"}`,
					`{"` + s + `":1}`,
					`{"k":"` + s + `","n":"01234567"}`,
					`{"k":"` + s,          // left open
					`{"k":"` + s + `\`,    // ends in an escape
					`{"k":"` + s + `\u12`, // ends inside \u
					`{"a":{"b":["` + s + `"]},"c":"` + s + `"}`,
				} {
					n++
					checkAgainstEncodingJSON(t, []byte(line))
				}
			}
		}
	}
	if n < 10000 {
		t.Fatalf("only %d lines tried", n)
	}
}

// checkAgainstEncodingJSON is FuzzParseJSON's property for one line.
func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	fields, ok := parseJSON(nil, b)
	var ref map[string]json.RawMessage
	refErr := json.Unmarshal(b, &ref)
	if ok != (refErr == nil && ref != nil) {
		t.Fatalf("%q: ok = %v, encoding/json says %v", b, ok, refErr)
	}
	if !ok {
		return
	}
	if len(fields) != len(ref) {
		t.Fatalf("%q: %d fields, encoding/json finds %d keys", b, len(fields), len(ref))
	}
	for _, f := range fields {
		r, found := ref[f.Key]
		if !found {
			t.Fatalf("%q: key %q not found by encoding/json", b, f.Key)
		}
		if f.Raw { // re-encoded by encoding/json when not valid UTF-8
			var got, want any
			if json.Unmarshal([]byte(f.Value), &got) != nil || json.Unmarshal(r, &want) != nil ||
				!reflect.DeepEqual(got, want) {
				t.Fatalf("%q: raw value %q, encoding/json %q", b, f.Value, r)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil || s != f.Value {
			t.Fatalf("%q: string %q, encoding/json decodes %q (%v)", b, f.Value, s, err)
		}
	}
}
