package process

import (
	"bytes"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"unsafe"
)

// redaction is one masking rule: every match of re (or of its group
// "secret", when it has one) becomes the replacement. pre is a cheap test
// that must hold for re to be tried; valid, when set, must accept a match
// for it to be masked.
type redaction struct {
	name  string
	re    *regexp.Regexp
	group int
	pre   func([]byte) bool
	valid func([]byte) bool
	// find, when set, replaces re: it appends the spans to mask.
	find func(dst [][2]int, b []byte) [][2]int
	// keyed, when set, says which parsed fields hold a secret by their
	// key alone: their whole value is masked (the rule finds the secret by
	// the key before it, which a parsed field's value no longer has).
	keyed func(key string) bool
	// partPre: pre tests that the text contains a word or a byte, so it
	// holds of a text when it holds of a part of it (fieldRules).
	partPre bool
	n       int // masked since the counters were last flushed
	spans   [][2]int
}

type builtinRedaction struct {
	pattern string            // documents find, when find is set
	pre     func([]byte) bool // every builtin's pre is a partPre
	valid   func([]byte) bool
	find    func(dst [][2]int, b []byte) [][2]int
	keyed   func(key string) bool
}

// secretKeys are the key names the api_key rule knows secrets by, also
// after a prefix joined by _ or - (access_token, client_secret,
// DB_PASSWORD, AWS_SECRET_ACCESS_KEY).
const secretKeys = `(?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|token|passw(?:or)?d|pwd)`

var (
	secretKey    = regexp.MustCompile(`(?i)^` + secretKeys + `$`)
	secretKeySep = regexp.MustCompile(`(?i)\b` + secretKeys + `\b["']?\s*([:=])\s*`)
)

// isSecretKey reports whether a parsed field's key names a secret. It runs
// for every string field of every record: the word table rules out most
// keys before the expression.
func isSecretKey(k string) bool { return apiKeyWords.in(unsafeBytes(k)) && secretKey.MatchString(k) }

// findKeyed finds the values of the api_key rule: after each key naming a
// secret and its separator, a quoted value's inside (up to the closing
// quote that is not escaped, so a passphrase with spaces, commas or an
// escaped quote is masked whole and JSON stays JSON), or an unquoted run
// of at least 4 bytes up to a space or one of , ; & } ] ) and quotes. A
// JSON literal (true, false, null) or a number after a colon is a flag or
// a count, not a secret. A key inside a value found already (token=token=x,
// password='a token=b') is part of that value, not a secret of its own:
// spans never overlap.
func findKeyed(dst [][2]int, b []byte) [][2]int {
	n0 := len(dst)
	for _, m := range secretKeySep.FindAllSubmatchIndex(b, -1) {
		i, colon := m[1], b[m[2]] == ':'
		if i >= len(b) || (len(dst) > n0 && m[0] < dst[len(dst)-1][1]) {
			continue
		}
		if q := b[i]; q == '"' || q == '\'' {
			j := i + 1
			for j < len(b) && b[j] != q {
				if b[j] == '\\' && q == '"' {
					j++
				}
				j++
			}
			if j < len(b) && j > i+1 {
				dst = append(dst, [2]int{i + 1, j})
			}
			continue
		}
		j := i
		for j < len(b) && !unquotedEnd(b[j]) {
			j++
		}
		v := b[i:j]
		if len(v) < 4 || string(v) == "true" || string(v) == "false" || string(v) == "null" || (colon && isNumber(v)) {
			continue
		}
		dst = append(dst, [2]int{i, j})
	}
	return dst
}

func unquotedEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', ',', ';', '&', '}', ']', ')':
		return true
	}
	return false
}

// isNumber reports whether v is a JSON number's characters.
func isNumber(v []byte) bool {
	for _, c := range v {
		if !isDigit(c) && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return len(v) > 0
}

var builtinRedactions = map[string]*builtinRedaction{
	// Authorization: Bearer <token>
	"bearer": {pattern: `(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]+=*)`,
		pre: func(b []byte) bool { return containsFold(b, "bearer") }},
	// api_key=..., "password": "...", token: ...
	// The value is what follows the key and its separator: a quoted
	// string whole (escapes included), or an unquoted run of 4 or more
	// bytes up to a space or , ; & } ] ) (findKeyed). JSON's true, false,
	// null and a number after a colon are not secrets (has_password: true,
	// max_token: 4096).
	"api_key": {pattern: `(?i)\b` + secretKeys + `\b["']?\s*[:=]\s*(?P<secret>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;&}\])]{4,})`,
		pre: func(b []byte) bool {
			return bytes.IndexAny(b, ":=") >= 0 && apiKeyWords.in(b)
		},
		find:  findKeyed,
		keyed: isSecretKey},
	// AWS access key ids.
	"aws_key": {pattern: `\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
		pre: func(b []byte) bool { return bytes.Contains(b, []byte("AKIA")) || bytes.Contains(b, []byte("ASIA")) }},
	// JSON Web Tokens.
	"jwt": {pattern: `\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`,
		pre: func(b []byte) bool { return bytes.Contains(b, []byte("eyJ")) }},
	// Payment card numbers: runs of 13 to 19 digits, single spaces or
	// dashes between them, that pass the Luhn check (findCards; the pattern
	// says roughly what it finds).
	"card": {pattern: `\b\d(?:[ -]?\d){12,18}\b`, find: findCards},
	// E-mail addresses.
	"email": {pattern: `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, find: findEmails,
		pre: func(b []byte) bool { return bytes.IndexByte(b, '@') >= 0 }},
}

func redactNames() []string {
	var out []string
	for n := range builtinRedactions {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func newRedaction(name, pattern string, pre, valid func([]byte) bool) *redaction {
	re := regexp.MustCompile(pattern)
	return &redaction{name: name, re: re, group: re.SubexpIndex("secret"), pre: pre, valid: valid}
}

func newBuiltinRedaction(name string) *redaction {
	b := builtinRedactions[name]
	r := newRedaction(name, b.pattern, b.pre, b.valid)
	r.find, r.keyed, r.partPre = b.find, b.keyed, b.pre != nil
	return r
}

// unescapeASCII returns b with the JSON escapes of printable ASCII
// characters (\u0026 for &, \u0040 for @, as encoding/json and others
// write them) written as the characters, or nil when b has none. The
// result means the same to a JSON decoder; quotes, backslashes and control
// characters stay escaped. Masking looks at it so that a secret written
// with escapes is found.
func unescapeASCII(b []byte) []byte {
	i := bytes.Index(b, []byte(`\u00`))
	if i < 0 {
		return nil
	}
	var out []byte
	last := 0
	for i = bytes.IndexByte(b, '\\'); i >= 0 && i < len(b); {
		if i+1 >= len(b) {
			break
		}
		if b[i+1] != 'u' {
			i += 2 // an escaped character (\\ too): skipped whole
		} else if c, ok := escapedASCII(b[i:]); ok {
			out = append(append(out, b[last:i]...), c)
			i += 6
			last = i
		} else {
			i += 2
		}
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			break
		}
		i += j
	}
	if out == nil {
		return nil
	}
	return append(out, b[last:]...)
}

// escapedASCII reads \u00XX at the start of b: the character, when it is
// printable ASCII other than a quote or a backslash.
func escapedASCII(b []byte) (byte, bool) {
	if len(b) < 6 || b[2] != '0' || b[3] != '0' || !isHex(b[4]) || !isHex(b[5]) {
		return 0, false
	}
	c := hexVal(b[4])<<4 | hexVal(b[5])
	if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
		return 0, false
	}
	return c, true
}

func hexVal(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// redact returns b with every match masked by repl, and whether anything
// was; b itself is never modified (a line's body belongs to the tailer).
func (r *redaction) redact(b []byte, repl string) ([]byte, bool) {
	if r.pre != nil && !r.pre(b) {
		return b, false
	}
	r.spans = r.spans[:0]
	if r.find != nil {
		r.spans = r.find(r.spans, b)
	} else {
		for _, m := range r.re.FindAllSubmatchIndex(b, -1) {
			s, e := m[0], m[1]
			if r.group > 0 {
				s, e = m[2*r.group], m[2*r.group+1]
				if s < 0 {
					continue
				}
			}
			if r.valid != nil && !r.valid(b[s:e]) {
				continue
			}
			r.spans = append(r.spans, [2]int{s, e})
		}
	}
	if len(r.spans) == 0 {
		return b, false
	}
	out := make([]byte, 0, len(b))
	last := 0
	for _, sp := range r.spans {
		out = append(out, b[last:sp[0]]...)
		out = append(out, repl...)
		last = sp[1]
	}
	r.n += len(r.spans)
	return append(out, b[last:]...), true
}

// findEmails finds what the email pattern matches, without a regular
// expression: around each '@', the longest local part and a domain whose
// last label is two letters or more.
func findEmails(dst [][2]int, b []byte) [][2]int {
	last := 0
	for {
		i := bytes.IndexByte(b[last:], '@')
		if i < 0 {
			return dst
		}
		at := last + i
		s := at
		for s > last && emailLocal(b[s-1]) {
			s--
		}
		e, dot := at+1, -1
		for e < len(b) && (isAlnum(b[e]) || b[e] == '-' || (b[e] == '.' && e > at+1 && b[e-1] != '.')) {
			if b[e] == '.' {
				dot = e
			}
			e++
		}
		// The domain ends at its last label made of letters only, two or more.
		for dot > 0 {
			end := dot + 1
			for end < e && isLetter(b[end]) {
				end++
			}
			if end-dot-1 >= 2 && dot > at+1 {
				e = end
				break
			}
			dot = bytes.LastIndexByte(b[at+1:dot], '.')
			if dot >= 0 {
				dot += at + 1
			}
		}
		if s < at && dot > at+1 {
			dst = append(dst, [2]int{s, e})
			last = e
		} else {
			last = at + 1
		}
	}
}

func emailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

// findCards finds runs of 13 to 19 digits, single spaces or dashes
// between them, not inside a longer word or number, that pass the Luhn
// check (the card pattern).
func findCards(dst [][2]int, b []byte) [][2]int {
	for i := 0; i < len(b); i++ {
		if !isDigit(b[i]) || (i > 0 && (isAlnum(b[i-1]) || b[i-1] == '_')) {
			continue
		}
		j, n, end := i, 0, i
		for j < len(b) {
			if isDigit(b[j]) {
				n++
				j++
				end = j
				continue
			}
			if (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]) {
				j++
				continue
			}
			break
		}
		if n >= 13 && n <= 19 && !(end < len(b) && (isAlnum(b[end]) || b[end] == '_')) && luhn(b[i:end]) {
			dst = append(dst, [2]int{i, end})
		}
		i = end
	}
	return dst
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// redactString is redact over a string (a parsed field's value).
func (r *redaction) redactString(s, repl string) (string, bool) {
	out, ok := r.redact(unsafeBytes(s), repl)
	if !ok {
		return s, false
	}
	return string(out), true
}

var apiKeyWords = newWordSet("key", "token", "secret", "passw", "pwd")

// wordSet finds lower-case ASCII words, in any case, in one pass: a table
// says which words start with each byte.
type wordSet struct {
	words []string
	first [256]uint8 // bit i: words[i] starts with this byte (either case)
}

func newWordSet(words ...string) *wordSet {
	ws := &wordSet{words: words}
	for i, w := range words {
		ws.first[w[0]] |= 1 << i
		ws.first[w[0]&^0x20] |= 1 << i
	}
	return ws
}

func (ws *wordSet) in(b []byte) bool {
	for i, c := range b {
		m := ws.first[c]
		for m != 0 {
			k := bits.TrailingZeros8(m)
			m &^= 1 << k
			w := ws.words[k]
			if len(b)-i >= len(w) && equalFold(b[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		c := b[i] | 0x20
		if c == lower[0] && strings.EqualFold(string(b[i:i+len(lower)]), lower) {
			return true
		}
	}
	return false
}

// luhn reports whether the digits of b (spaces and dashes ignored) pass
// the Luhn check.
func luhn(b []byte) bool {
	sum, n := 0, 0
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && sum%10 == 0
}

// unsafeBytes views s as bytes, for reading only.
//
// A record's Body may be such bytes (a message lifted out of parsed fields
// shares the parsed string): a Body is never written in place (redaction
// copies it before masking). An empty s gives an empty, not a nil, slice.
func unsafeBytes(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
