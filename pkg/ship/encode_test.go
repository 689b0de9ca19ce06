package ship

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/event"
)

// logRecord mirrors the shipped log record schema (README, Records).
type logRecord struct {
	Time       string         `json:"time"`
	Stream     string         `json:"stream"`
	Message    string         `json:"message"`
	Kubernetes kubeRecord     `json:"kubernetes"`
	File       string         `json:"file"`
	Offset     int64          `json:"offset"`
	Truncated  bool           `json:"truncated"`
	Extra      map[string]any `json:"-"`
}

type kubeRecord struct {
	Namespace       string            `json:"namespace"`
	Pod             string            `json:"pod"`
	PodUID          string            `json:"pod_uid"`
	Container       string            `json:"container"`
	ContainerID     string            `json:"container_id"`
	Image           string            `json:"image"`
	Node            string            `json:"node"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	NamespaceLabels map[string]string `json:"namespace_labels,omitempty"`
	Owner           struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"owner"`
}

var testMeta = &event.Meta{
	Namespace:   "shop",
	Pod:         "checkout-7d9f8",
	PodUID:      "0b6d5c1e-uid",
	Container:   "app",
	ContainerID: "containerd://abc",
	Image:       "registry/checkout:1.2",
	Node:        "node-1",
	Labels:      map[string]string{"app": "checkout", "tier": "web", "a\"b": "c\nd"},
	Owner:       event.Owner{Kind: "Deployment", Name: "checkout"},
}

func TestEncodeLogExact(t *testing.T) {
	ts := time.Date(2026, 11, 26, 3, 55, 9, 123456789, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		log  event.Log
		want string
	}{
		{
			name: "full",
			log: event.Log{Time: ts, Body: []byte("GET /cart 200"), Path: "/var/log/pods/a/app/0.log",
				Cursor: event.Cursor{Source: 1, Offset: 12345}, Meta: testMeta, Stream: event.Stdout},
			want: `{"time":"2026-11-26T02:55:09.123456789Z","stream":"stdout","message":"GET /cart 200",` +
				`"kubernetes":{"namespace":"shop","pod":"checkout-7d9f8","pod_uid":"0b6d5c1e-uid","container":"app",` +
				`"container_id":"containerd://abc","image":"registry/checkout:1.2","node":"node-1",` +
				`"labels":{"a\"b":"c\nd","app":"checkout","tier":"web"},"owner":{"kind":"Deployment","name":"checkout"}},` +
				`"file":"/var/log/pods/a/app/0.log","offset":12345,"truncated":false}`,
		},
		{
			name: "nil meta, stderr, truncated, whole seconds",
			log: event.Log{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Body: []byte("x\t\x01\xff"),
				Path: "p", Cursor: event.Cursor{Offset: 7}, Stream: event.Stderr, Truncated: true},
			want: `{"time":"2026-01-02T03:04:05.000000000Z","stream":"stderr","message":"x\t\u0001\ufffd",` +
				`"kubernetes":` + emptyKubernetes + `,"file":"p","offset":7,"truncated":true}`,
		},
		{
			name: "annotations",
			log:  event.Log{Time: time.Unix(0, 0), Meta: &event.Meta{Annotations: map[string]string{"app.kubernetes.io/x": "1"}}},
			want: `{"time":"1970-01-01T00:00:00.000000000Z","stream":"stdout","message":"","kubernetes":` +
				`{"namespace":"","pod":"","pod_uid":"","container":"","container_id":"","image":"","node":"","labels":{},` +
				`"annotations":{"app.kubernetes.io/x":"1"},"owner":{"kind":"","name":""}},"file":"","offset":0,"truncated":false}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(newEncoder().appendLog(nil, &tc.log))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("encoding (-want +got):\n%s", diff)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON: %s", got)
			}
			var rec logRecord
			if err := json.Unmarshal([]byte(got), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Offset != tc.log.Cursor.Offset || rec.File != tc.log.Path || rec.Truncated != tc.log.Truncated {
				t.Errorf("round trip mismatch: %+v", rec)
			}
		})
	}
}

// TestEncodeLogSourceMemo: one encoder keeps the members of the last Meta
// and path encoded; records that change either, alone or both, in any
// order, are encoded as a fresh encoder encodes each.
func TestEncodeLogSourceMemo(t *testing.T) {
	other := &event.Meta{Namespace: "other", Pod: "p2", PodUID: "u2"}
	paths := []string{"/var/log/pods/a/app/0.log", "/var/log/pods/b/app/0.log", "/var/log/pods/a/app/0.log.20261126-035509", ""}
	metas := []*event.Meta{testMeta, other, nil}
	enc := newEncoder()
	for i := range 60 {
		l := event.Log{Time: time.Unix(int64(i), 0), Body: []byte("line"), Path: paths[(i/2)%len(paths)],
			Meta: metas[(i/3)%len(metas)], Cursor: event.Cursor{Offset: int64(i)}}
		if i%7 == 0 { // the same path in a new string
			l.Path = strings.Clone(l.Path)
		}
		got := string(enc.appendLog(nil, &l))
		if want := string(newEncoder().appendLog(nil, &l)); got != want {
			t.Fatalf("record %d (path %q, meta %v): got\n%s\nwant\n%s", i, l.Path, l.Meta, got, want)
		}
	}
}

func TestEncodeMetric(t *testing.T) {
	ts := time.Date(2026, 11, 26, 3, 55, 9, 5, time.UTC)
	tests := []struct {
		name string
		m    event.Metric
		want string
	}{
		{"counter", event.Metric{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}}, Value: 1234.5, Type: event.Counter},
			`{"name":"node_cpu_seconds_total","labels":{"cpu":"0","mode":"idle"},"value":1234.5,"type":"counter","time":"2026-11-26T03:55:09.000000005Z","node":"n\"1"}`},
		{"gauge no labels", event.Metric{Name: "node_load1", Value: 0.25},
			`{"name":"node_load1","labels":{},"value":0.25,"type":"gauge","time":"2026-11-26T03:55:09.000000005Z","node":"n\"1"}`},
		{"nan", event.Metric{Name: "x", Value: math.NaN()},
			`{"name":"x","labels":{},"value":null,"type":"gauge","time":"2026-11-26T03:55:09.000000005Z","node":"n\"1"}`},
		{"huge", event.Metric{Name: "x", Value: 1e300},
			`{"name":"x","labels":{},"value":1e+300,"type":"gauge","time":"2026-11-26T03:55:09.000000005Z","node":"n\"1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendMetric(nil, &tc.m, ts, "n\"1"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON: %s", got)
			}
		})
	}
}

// checkString asserts that appendString(s) is valid JSON which decodes to
// what encoding/json's own encoding of s decodes to.
func checkString(t *testing.T, s []byte) {
	t.Helper()
	enc := appendString(nil, s)
	if !utf8.Valid(enc) {
		t.Fatalf("output is not valid UTF-8 for %q: %q", s, enc)
	}
	if !json.Valid(enc) {
		t.Fatalf("invalid JSON for %q: %s", s, enc)
	}
	var got string
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	ref, err := json.Marshal(string(s))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("round trip of %q: got %q, want %q", s, got, want)
	}
	if str := string(appendString(nil, string(s))); str != string(enc) {
		t.Fatalf("string and []byte encodings differ: %s vs %s", str, enc)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "\x00\x1f\x7f", "é€😀", "\xff\xfe", "a\u2028b\u2029c",
		"<script>&amp;</script>", "\xed\xa0\x80", "\xf0\x9f\x98", strings.Repeat("ab\n", 100)} {
		t.Run("", func(t *testing.T) { checkString(t, []byte(s)) })
	}
}

func FuzzEncodeLog(f *testing.F) {
	for _, s := range []string{"", "hello", "\xff", "\"\\\n", "\u2028", "\x00", "é"} {
		f.Add([]byte(s), s)
	}
	enc := newEncoder()
	f.Fuzz(func(t *testing.T, body []byte, label string) {
		checkString(t, body)
		l := event.Log{Time: time.Unix(1, 2), Body: body, Path: label,
			Meta: &event.Meta{Namespace: label, Labels: map[string]string{label: label, "k": label}}}
		out := enc.appendLog(nil, &l)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		var rec logRecord
		if err := json.Unmarshal(out, &rec); err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(string(body))
		var want string
		_ = json.Unmarshal(ref, &want)
		if rec.Message != want {
			t.Fatalf("message: got %q, want %q", rec.Message, want)
		}
		// What processing adds: raw values are valid JSON by contract.
		l.Level, l.Lines = label, int32(len(body))
		l.Fields = []event.Field{{Key: label, Value: string(body)}, {Key: "n", Value: "1", Raw: true}}
		if out := enc.appendLog(nil, &l); !json.Valid(out) {
			t.Fatalf("invalid JSON with processed fields: %s", out)
		}
		m := event.Metric{Name: label, Labels: []event.Label{{Name: label, Value: string(body)}}}
		if out := appendMetric(nil, &m, time.Unix(0, 0), label); !json.Valid(out) {
			t.Fatalf("invalid metric JSON: %s", out)
		}
	})
}

func TestEncodeAllocatesNothingPerRecord(t *testing.T) {
	enc := newEncoder()
	l := benchLog(strings.Repeat("é\"x\n", 50))
	m := event.Metric{Name: "node_load1", Labels: []event.Label{{Name: "a", Value: "b"}}, Value: 1}
	buf := enc.appendLog(nil, &l) // first sight of the Meta fills the cache
	buf = appendMetric(buf, &m, l.Time, "n")
	if n := testing.AllocsPerRun(100, func() {
		buf = enc.appendLog(buf[:0], &l)
		buf = appendMetric(buf, &m, l.Time, "n")
	}); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}

// appendStringRef is the byte-at-a-time encoder the fast path must match.
func appendStringRef(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// TestAppendStringFastPath puts every byte value at every position of a
// 8-byte word (and around it) inside plain text: the word-at-a-time scan
// must produce exactly what the byte-at-a-time encoder does.
func TestAppendStringFastPath(t *testing.T) {
	plain := []byte("abcdefghijklmnopqrstuvwxyz0123")
	for v := 0; v < 256; v++ {
		for pos := 0; pos < 20; pos++ {
			s := slices.Clone(plain)
			s[pos] = byte(v)
			if got, want := appendString(nil, s), appendStringRef(nil, s); !bytes.Equal(got, want) {
				t.Fatalf("byte %#x at %d: got %s, want %s", v, pos, got, want)
			}
		}
	}
	// Every word of quotes, backslashes, new lines and plain bytes, at two
	// places: the branch-free escaping of a word's quotes and backslashes
	// and the way out of it for a byte it does not take.
	alphabet := []byte{'a', '"', '\\', '\n'}
	for w := range 1 << 16 {
		var word [8]byte
		for k := range word {
			word[k] = alphabet[w>>(2*k)&3]
		}
		for _, s := range [][]byte{word[:], append([]byte("0123"), append(word[:], "4567"...)...)} {
			if got, want := appendString(nil, s), appendStringRef(nil, s); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s, want %s", s, got, want)
			}
		}
	}
	for _, s := range []string{"é€😀 plain text after", "0123456\u2028abcdefgh\u2029", "01234567\xff89abcdef", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"} {
		if got, want := appendString(nil, s), appendStringRef(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

// FuzzAppendString: the word-at-a-time encoder writes exactly what the
// byte-at-a-time reference does, after any prefix and from any room left
// in dst (the encoder grows dst itself, before and during the string), and
// what it writes decodes to what encoding/json's encoding decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain text", benchJSON, `"\\"\\""\\\\`, "é\"x\n\x01\xff\u2028\u2029",
		strings.Repeat(`{"k":"v\\"}`, 9), "\x7f\x80\xc0\xed\xa0\x80\xf4\x90\x80\x80"} {
		f.Add([]byte(s), uint8(0), uint8(0))
		f.Add([]byte(s), uint8(3), uint8(40))
	}
	f.Fuzz(func(t *testing.T, s []byte, prefix, room uint8) {
		dst := make([]byte, prefix, int(prefix)+int(room))
		for i := range dst {
			dst[i] = byte('a' + i%26)
		}
		got := appendString(slices.Clone(dst), s)
		want := appendStringRef(slices.Clone(dst), s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q after %d bytes, %d bytes of room:\ngot  %s\nwant %s", s, prefix, room, got, want)
		}
		checkString(t, s)
	})
}

// TestAppendTime checks the cached-seconds timestamp against timeLayout,
// across second, day and year boundaries and time zones.
func TestAppendTime(t *testing.T) {
	e := newEncoder()
	base := time.Date(2026, 12, 31, 23, 59, 58, 999999990, time.FixedZone("X", 3600))
	for i := range 50 {
		tm := base.Add(time.Duration(i) * 123456789 * time.Nanosecond)
		if got, want := string(e.appendTime(nil, tm)), tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	for _, tm := range []time.Time{time.Unix(0, 0), time.Unix(0, 1), time.Unix(-1, 5), {}} {
		if got, want := string(e.appendTime(nil, tm)), tm.UTC().Format(timeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
