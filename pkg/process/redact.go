package process

import (
	"bytes"
	"encoding/json"
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
	n     int // masked since the counters were last flushed
}

type builtinRedaction struct {
	pattern string
	pre     func([]byte) bool
	valid   func([]byte) bool
}

var builtinRedactions = map[string]*builtinRedaction{
	// Authorization: Bearer <token>
	"bearer": {pattern: `(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]+=*)`,
		pre: func(b []byte) bool { return containsFold(b, "bearer") }},
	// api_key=..., "password": "...", token: ...
	"api_key": {pattern: `(?i)\b(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|token|passw(?:or)?d|pwd)\b["']?\s*[:=]\s*["']?(?P<secret>[^\s"',;&]{4,})`,
		pre: func(b []byte) bool {
			return bytes.IndexAny(b, ":=") >= 0 && (containsFold(b, "key") || containsFold(b, "token") ||
				containsFold(b, "secret") || containsFold(b, "passw") || containsFold(b, "pwd"))
		}},
	// AWS access key ids.
	"aws_key": {pattern: `\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
		pre: func(b []byte) bool { return bytes.Contains(b, []byte("AKIA")) || bytes.Contains(b, []byte("ASIA")) }},
	// JSON Web Tokens.
	"jwt": {pattern: `\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`,
		pre: func(b []byte) bool { return bytes.Contains(b, []byte("eyJ")) }},
	// Payment card numbers: 13 to 19 digits, spaces or dashes allowed, that
	// pass the Luhn check.
	"card": {pattern: `\b\d(?:[ -]?\d){12,18}\b`,
		pre: func(b []byte) bool { return countDigits(b) >= 13 }, valid: luhn},
	// E-mail addresses.
	"email": {pattern: `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
		pre: func(b []byte) bool { return bytes.IndexByte(b, '@') > 0 }},
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

// redact returns b with every match masked by repl, and whether anything
// was; b itself is never modified (a line's body belongs to the tailer).
func (r *redaction) redact(b []byte, repl string) ([]byte, bool) {
	if r.pre != nil && !r.pre(b) {
		return b, false
	}
	ms := r.re.FindAllSubmatchIndex(b, -1)
	if ms == nil {
		return b, false
	}
	var out []byte
	last := 0
	for _, m := range ms {
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
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:s]...)
		out = append(out, repl...)
		last = e
		r.n++
	}
	if out == nil {
		return b, false
	}
	return append(out, b[last:]...), true
}

// redactString is redact over a string (a parsed field's value).
func (r *redaction) redactString(s, repl string) (string, bool) {
	out, ok := r.redact(unsafeBytes(s), repl)
	if !ok {
		return s, false
	}
	return string(out), true
}

// redactRaw masks a field's JSON text; when masking broke the JSON, the
// masked text becomes a string value.
func (r *redaction) redactRaw(s, repl string) (string, bool, bool) {
	out, ok := r.redactString(s, repl)
	if !ok {
		return s, true, false
	}
	return out, json.Valid([]byte(out)), true
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

func countDigits(b []byte) int {
	n := 0
	for _, c := range b {
		if '0' <= c && c <= '9' {
			n++
		}
	}
	return n
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
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
