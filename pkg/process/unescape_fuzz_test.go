package process

import (
	"encoding/json"
	"testing"
)

// FuzzUnescape: every string scanString accepts unescapes as encoding/json
// decodes it (escapes, surrogate pairs, lone surrogates, invalid UTF-8,
// escapes at the very end), and decoding it never panics.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`\u0000`, `\uD83D\uDE00`, `\uDBFF\uDFFF`, `\uDC00`, `\uD800\u`, `\uD800\\u0041`, `\uD800\uD800\uDC00`,
		"\xed\xa0\x80\\n", "\xf4\x90\x80\x80", "\xef\xbf\xbd\\uFFFD", `\/\"\\`, `\u00e9\u00E9\u00eA`, "\xc3", `x\t`, `\ud83d\ude0`, `\uFFFF`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(`"` + s + `"`)
		end, plain, ok := scanString(b, 0)
		var want string
		jerr := json.Unmarshal(b, &want)
		if !ok || end != len(b) {
			if jerr == nil && end != len(b) && ok {
				return // an inner quote ended it early: another string
			}
			if jerr == nil {
				t.Fatalf("scanString rejects %q, encoding/json accepts it", b)
			}
			return
		}
		if jerr != nil {
			t.Fatalf("scanString accepts %q, encoding/json: %v", b, jerr)
		}
		if got := decodeString(b, string(b), 0, end, plain); got != want {
			t.Fatalf("decodeString(%q) = %q; encoding/json %q", b, got, want)
		}
	})
}
