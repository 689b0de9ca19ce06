package process

import (
	"encoding/json"
	"fmt"
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
		t.Fatalf("%q: ok = %v, encoding/json says %v", short(b), ok, refErr)
	}
	if !ok {
		return
	}
	if len(fields) != len(ref) {
		t.Fatalf("%q: %d fields, encoding/json finds %d keys", short(b), len(fields), len(ref))
	}
	for _, f := range fields {
		r, found := ref[f.Key]
		if !found {
			t.Fatalf("%q: key %q not found by encoding/json", short(b), f.Key)
		}
		if f.Raw { // as written, or re-encoded by encoding/json when not valid UTF-8
			var got, want any
			if f.Value != string(r) && (json.Unmarshal([]byte(f.Value), &got) != nil || json.Unmarshal(r, &want) != nil ||
				!reflect.DeepEqual(got, want)) {
				t.Fatalf("%q: raw value %q, encoding/json %q", short(b), short([]byte(f.Value)), short(r))
			}
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil || s != f.Value {
			t.Fatalf("%q: string %q, encoding/json decodes %q (%v)", short(b), f.Value, s, err)
		}
	}
}

// TestParseJSONDepthAndNumbers: nesting around encoding/json's bound of
// 10000 objects and arrays (the top-level object one of them), empty or
// with a value in the innermost, and numbers far past float64, agree with
// encoding/json on whether the line is JSON.
func TestParseJSONDepthAndNumbers(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		n := depth - 1 // under the top-level object
		for _, line := range []string{
			`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
			`{"a":` + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + `}`,
			`{"a":` + strings.Repeat("[", n) + `"s"` + strings.Repeat("]", n) + `}`,
			`{"a":` + strings.Repeat(`{"x":`, n) + "null" + strings.Repeat("}", n) + `}`,
			`{"a":` + strings.Repeat(`{"x":`, n-1) + "{}" + strings.Repeat("}", n-1) + `}`,
		} {
			checkAgainstEncodingJSON(t, []byte(line))
		}
	}
	for _, num := range []string{"1e999999", "-1e-999999", strings.Repeat("9", 5000), "0." + strings.Repeat("0", 5000) + "1",
		"1E+2", "-0", "01", "1.e5", "-", "1e", "1e+", ".5", "1.5e-3"} {
		checkAgainstEncodingJSON(t, []byte(`{"n":`+num+`,"s":"01234567"}`))
	}
}

// short is b for a failure message: its ends when it is long.
func short(b []byte) string {
	if len(b) <= 200 {
		return string(b)
	}
	return fmt.Sprintf("%s ... (%d bytes) ... %s", b[:100], len(b), b[len(b)-100:])
}
