package process

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/pkg/event"
)

// parser turns a message into fields, appended to dst; ok is false when
// the message is not in the parser's format (dst is then returned as
// given). Parsers are pure functions over bytes.
type parser interface {
	name() string
	parse(dst []event.Field, msg []byte) (fields []event.Field, ok bool)
}

type jsonParser struct{}

func (jsonParser) name() string { return "json" }

// parse takes a message that is a JSON object: its top-level keys become
// fields in their order (a repeated key keeps its last value, as
// encoding/json does); string values are decoded, other values are kept as
// JSON text.
func (jsonParser) parse(dst []event.Field, msg []byte) ([]event.Field, bool) {
	return parseJSON(dst, msg)
}

func parseJSON(dst []event.Field, msg []byte) ([]event.Field, bool) {
	b := bytes.TrimSpace(msg)
	if len(b) < 2 || b[0] != '{' || !json.Valid(b) {
		return dst, false
	}
	n0 := len(dst)
	if cap(dst)-n0 < 8 {
		dst = append(make([]event.Field, 0, n0+8), dst...)
	}
	// One string holds the message: keys and values without escapes are
	// slices of it (one allocation, not two per field).
	str := string(b)
	i := 1
	for {
		i = skipWS(b, i)
		switch b[i] {
		case '}':
			return dst, true
		case ',':
			i++
			continue
		}
		key, j, ok := scanString(b, str, i)
		if !ok {
			return dst[:n0], false
		}
		i = skipWS(b, j) + 1 // ':'
		i = skipWS(b, i)
		var f event.Field
		if b[i] == '"' {
			v, j, ok := scanString(b, str, i)
			if !ok {
				return dst[:n0], false
			}
			f, i = event.Field{Key: key, Value: v}, j
		} else {
			j := scanValue(b, i)
			f, i = event.Field{Key: key, Value: rawValue(b[i:j], str[i:j]), Raw: true}, j
		}
		dst = setField(dst, n0, f)
	}
}

// setField appends f, or replaces the value of the field of the same key
// found after dst[n0].
func setField(dst []event.Field, n0 int, f event.Field) []event.Field {
	for k := n0; k < len(dst); k++ {
		if dst[k].Key == f.Key {
			dst[k] = f
			return dst
		}
	}
	return append(dst, f)
}

// rawValue returns JSON text to embed as is; a value with invalid UTF-8 is
// re-encoded (as encoding/json does, with U+FFFD).
func rawValue(b []byte, s string) string {
	if utf8.Valid(b) {
		return s
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return "null"
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(out)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString decodes the JSON string starting at b[i] ('"') of valid JSON
// (str is b as a string) and returns the index just past it.
func scanString(b []byte, str string, i int) (string, int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			if !esc && utf8.Valid(b[i+1:j]) {
				return str[i+1 : j], j + 1, true
			}
			var s string
			if json.Unmarshal(b[i:j+1], &s) != nil {
				return "", 0, false
			}
			return s, j + 1, true
		}
	}
	return "", 0, false
}

// scanValue returns the end of the JSON value (not a string) at b[i] of
// valid JSON.
func scanValue(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return j
			}
		}
	}
	return len(b)
}

type logfmtParser struct{}

func (logfmtParser) name() string { return "logfmt" }

// parse takes key=value pairs separated by spaces; values may be quoted
// (Go escapes, as go-kit and logrus write them). Every token must be a
// pair: a sentence with one "a=b" in it is not logfmt.
func (logfmtParser) parse(dst []event.Field, msg []byte) ([]event.Field, bool) {
	return parseLogfmt(dst, msg)
}

func parseLogfmt(dst []event.Field, msg []byte) ([]event.Field, bool) {
	n0 := len(dst)
	b := msg
	i := 0
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		if i == len(b) {
			break
		}
		k := i
		for i < len(b) && b[i] > ' ' && b[i] != '=' && b[i] != '"' {
			i++
		}
		if i == k || i == len(b) || b[i] != '=' {
			return dst[:n0], false
		}
		key := string(b[k:i])
		i++
		var val string
		if i < len(b) && b[i] == '"' {
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return dst[:n0], false
			}
			v, err := strconv.Unquote(string(b[i : j+1]))
			if err != nil {
				return dst[:n0], false
			}
			val, i = v, j+1
			if i < len(b) && b[i] != ' ' && b[i] != '\t' {
				return dst[:n0], false
			}
		} else {
			v := i
			for i < len(b) && b[i] != ' ' && b[i] != '\t' {
				i++
			}
			val = string(b[v:i])
		}
		dst = setField(dst, n0, event.Field{Key: key, Value: val})
	}
	return dst, len(dst) > n0
}

type regexParser struct {
	re    *regexp.Regexp
	names []string
}

func (p *regexParser) name() string { return "regex" }

// parse matches the expression; its named groups that took part in the
// match become fields.
func (p *regexParser) parse(dst []event.Field, msg []byte) ([]event.Field, bool) {
	m := p.re.FindSubmatchIndex(msg)
	if m == nil {
		return dst, false
	}
	n0 := len(dst)
	for g, name := range p.names {
		if name == "" || m[2*g] < 0 {
			continue
		}
		dst = setField(dst, n0, event.Field{Key: name, Value: string(msg[m[2*g]:m[2*g+1]])})
	}
	return dst, true
}

// levels maps the spellings of severities to the normalised names.
var levels = map[string]string{
	"trace": "trace", "trc": "trace", "finest": "trace", "finer": "trace", "verbose": "trace",
	"debug": "debug", "dbg": "debug", "fine": "debug", "config": "debug",
	"info": "info", "inf": "info", "information": "info", "informational": "info", "notice": "info",
	"warn": "warn", "warning": "warn", "wrn": "warn",
	"error": "error", "err": "error", "eror": "error", "severe": "error",
	"fatal": "fatal", "critical": "fatal", "crit": "fatal", "alert": "fatal", "emerg": "fatal",
	"emergency": "fatal", "panic": "fatal", "dpanic": "fatal",
	// pino and bunyan numbers; syslog numbers
	"10": "trace", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal",
	"0": "fatal", "1": "fatal", "2": "fatal", "3": "error", "4": "warn", "5": "info", "6": "info", "7": "debug",
}

// normLevel returns the normalised level of s, or "" when s is none.
func normLevel(s string) string {
	if len(s) > 13 {
		return ""
	}
	if l, ok := levels[s]; ok {
		return l
	}
	var buf [13]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return levels[string(buf[:len(s)])]
}

// detectLevel finds a severity at the head of a plain line: a klog header
// ("E1204 10:00:00.000000 ..."), or one of the first four words when it is
// upper case ("ERROR", "WARN") or marked ("[warn]", "error:"). A word of a
// sentence ("an error happened") is not a level.
func detectLevel(msg []byte) string {
	if len(msg) > 5 && strings.IndexByte("IWEF", msg[0]) >= 0 && isDigits(msg[1:5]) {
		switch msg[0] {
		case 'I':
			return "info"
		case 'W':
			return "warn"
		case 'E':
			return "error"
		}
		return "fatal"
	}
	b := msg
	if len(b) > 80 {
		b = b[:80]
	}
	for w := 0; w < 4 && len(b) > 0; w++ {
		b = bytes.TrimLeft(b, " \t")
		end := bytes.IndexAny(b, " \t")
		if end < 0 {
			end = len(b)
		}
		tok := b[:end]
		word := bytes.Trim(tok, "[]():|")
		marked := len(word) < len(tok)
		if (marked || isUpper(word)) && len(word) >= 4 && len(word) <= 8 {
			if l := normLevel(string(word)); l != "" && !ambiguous[string(bytes.ToLower(word))] {
				return l
			}
		}
		b = b[end:]
	}
	return ""
}

// ambiguous are level spellings that are also common words.
var ambiguous = map[string]bool{"config": true, "fine": true, "alert": true, "notice": true, "panic": true}

func isUpper(w []byte) bool {
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return len(w) > 0
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
