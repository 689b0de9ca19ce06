package tail

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/event"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/logs")

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC3339Nano in UTC, or "" for a failure
	}{
		{"2026-11-26T03:55:09.123456789Z", "2026-11-26T03:55:09.123456789Z"},
		{"2026-11-26T03:55:09Z", "2026-11-26T03:55:09Z"},
		{"2026-11-26T03:55:09.5Z", "2026-11-26T03:55:09.5Z"},
		{"2026-11-26T03:55:09.1234567891234Z", "2026-11-26T03:55:09.123456789Z"},
		{"2026-11-26T03:55:09+02:00", "2026-11-26T01:55:09Z"},
		{"2026-11-26T03:55:09.25-01:30", "2026-11-26T05:25:09.25Z"},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"2026-02-29T00:00:00Z", ""},
		{"2026-11-26T24:00:00Z", ""},
		{"2026-11-26T03:55:09", ""},
		{"2026-11-26T03:55:09.Z", ""},
		{"2026-11-26 03:55:09Z", ""},
		{"2026-11-26T03:55:09ZZ", ""},
		{"2026-11-26T03:55:09+0200", ""},
		{"20a6-11-26T03:55:09Z", ""},
		{"", ""},
		// The edges of what RFC 3339 can write, and offsets that carry a
		// time past them (no RFC 3339 form in UTC: not a time).
		{"9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"},
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59.999999999-23:59", ""},
		{"0000-01-01T00:00:00.5+23:59", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseTime([]byte(tc.in))
			s := ""
			if ok {
				s = got.UTC().Format(time.RFC3339Nano)
			}
			if diff := cmp.Diff(tc.want, s); diff != "" {
				t.Fatalf("parseTime(%q) (-want +got):\n%s", tc.in, diff)
			}
			// Through a cache primed with the same second, the result is the same.
			var c tsCache
			c.parse([]byte("2026-11-26T03:55:09.5Z"))
			cgot, cok := c.parse([]byte(tc.in))
			if cok != ok || !cgot.Equal(got) {
				t.Fatalf("cached parse(%q) = %v %v, uncached %v %v", tc.in, cgot, cok, got, ok)
			}
			if ok {
				ref, err := time.Parse(time.RFC3339Nano, tc.in)
				if err == nil && !ref.Equal(got) {
					t.Fatalf("parseTime(%q) = %v, time.Parse = %v", tc.in, got, ref)
				}
			}
		})
	}
}

type parsed struct {
	Time    string
	Stream  string
	Partial bool
	Msg     string
	OK      bool
}

func TestParseCRI(t *testing.T) {
	ts := "2026-11-26T03:55:09.123456789Z"
	tests := []struct {
		name, in string
		want     parsed
	}{
		{"full", ts + " stdout F hello world", parsed{ts, "stdout", false, "hello world", true}},
		{"partial stderr", ts + " stderr P part", parsed{ts, "stderr", true, "part", true}},
		{"empty message", ts + " stdout F ", parsed{ts, "stdout", false, "", true}},
		{"no separator", ts + " stdout F", parsed{ts, "stdout", false, "", true}},
		{"extra tags", ts + " stdout F:a:b msg", parsed{ts, "stdout", false, "msg", true}},
		{"spaces kept", ts + " stdout F  two", parsed{ts, "stdout", false, " two", true}},
		{"bad stream", ts + " stdlog F x", parsed{}},
		{"bad tag", ts + " stdout Q x", parsed{}},
		{"glued tag", ts + " stdout Fx", parsed{}},
		{"bad time", "yesterday stdout F x", parsed{}},
		{"no fields", ts, parsed{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, s, p, m, ok := parseCRI([]byte(tc.in), nil)
			got := parsed{OK: ok}
			if ok {
				got = parsed{tm.Format(time.RFC3339Nano), s.String(), p, string(m), true}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDocker(t *testing.T) {
	ts := "2026-11-26T03:55:09.123456789Z"
	tests := []struct {
		name, in string
		want     parsed
	}{
		{"full", `{"log":"hello\n","stream":"stdout","time":"` + ts + `"}`, parsed{ts, "stdout", false, "hello", true}},
		{"partial", `{"log":"hel","stream":"stderr","time":"` + ts + `"}`, parsed{ts, "stderr", true, "hel", true}},
		{"escapes", `{"log":"a\"b\\c\/d\te\u00e9\ud83d\ude00\n","stream":"stdout","time":"` + ts + `"}`, parsed{ts, "stdout", false, "a\"b\\c/d\teé😀", true}},
		{"inner newline", `{"log":"a\nb\n","stream":"stdout","time":"` + ts + `"}`, parsed{ts, "stdout", false, "a\nb", true}},
		{"other keys", `{"time":"` + ts + `","x":[1,{"y":"]"}],"stream":"stdout","log":"v\n","z":null}`, parsed{ts, "stdout", false, "v", true}},
		{"lone surrogate", `{"log":"\ud800x\n","stream":"stdout","time":"` + ts + `"}`, parsed{ts, "stdout", false, "\uFFFDx", true}},
		{"missing time", `{"log":"a\n","stream":"stdout"}`, parsed{}},
		{"missing log", `{"stream":"stdout","time":"` + ts + `"}`, parsed{}},
		{"bad stream", `{"log":"a\n","stream":"x","time":"` + ts + `"}`, parsed{}},
		{"log not string", `{"log":1,"stream":"stdout","time":"` + ts + `"}`, parsed{}},
		{"unterminated", `{"log":"a`, parsed{}},
		{"trailing", `{"log":"a\n","stream":"stdout","time":"` + ts + `"} x`, parsed{}},
		{"not json", `hello`, parsed{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, s, p, m, ok := parseDocker([]byte(tc.in), nil)
			got := parsed{OK: ok}
			if ok {
				got = parsed{tm.Format(time.RFC3339Nano), s.String(), p, string(m), true}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// decodeAll runs the decoder over data, fed in chunks of the given size (0:
// all at once), as the follower does, and returns what it emitted.
func decodeAll(data []byte, maxLine, chunk int) ([]event.Log, []mark) {
	d := &decoder{maxLine: maxLine, path: "p", now: 1}
	var carry []byte
	var off int64
	if chunk <= 0 {
		chunk = len(data) + 1
	}
	for i := 0; i < len(data); i += chunk {
		j := min(i+chunk, len(data))
		buf := append(append([]byte(nil), carry...), data[i:j]...)
		n := d.splitLines(buf, off)
		off += int64(n)
		carry = buf[n:]
	}
	return d.logs, d.marks
}

func render(logs []event.Log, marks []mark) string {
	var b strings.Builder
	for i, l := range logs {
		var flags []string
		if l.Truncated {
			flags = append(flags, "truncated")
		}
		if l.ParseError {
			flags = append(flags, "parse_error")
		}
		tm := l.Time.UTC().Format(time.RFC3339Nano)
		if l.ParseError {
			tm = "read-time"
		}
		fmt.Fprintf(&b, "%s %s end=%d safe=%d [%s] %q\n", tm, l.Stream, marks[i].end, marks[i].safe, strings.Join(flags, ","), l.Body)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/logs/*/*.log")
	if err != nil || len(files) < 6 {
		t.Fatalf("golden inputs: %v %v", files, err)
	}
	for _, in := range files {
		t.Run(in, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			logs, marks := decodeAll(bytes.Clone(data), 64, 0)
			got := render(logs, marks)
			golden := strings.TrimSuffix(in, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			// Chunking must not change the result.
			for _, c := range []int{1, 7, 100} {
				l2, m2 := decodeAll(bytes.Clone(data), 64, c)
				if diff := cmp.Diff(got, render(l2, m2)); diff != "" {
					t.Fatalf("chunk %d (-whole +chunked):\n%s", c, diff)
				}
			}
		})
	}
}

// checkInvariants holds for any input: bounded bodies, monotonic marks, every
// line accounted for.
func checkInvariants(t *testing.T, data []byte, logs []event.Log, marks []mark, maxLine int) {
	t.Helper()
	var prevEnd, prevSafe int64
	for i, l := range logs {
		if len(l.Body) > maxLine {
			t.Fatalf("body of %d bytes > max %d", len(l.Body), maxLine)
		}
		m := marks[i]
		if m.end <= prevEnd || m.end > int64(len(data)) || m.safe > m.end || m.safe < prevSafe {
			t.Fatalf("marks not monotonic: %+v after end=%d safe=%d", m, prevEnd, prevSafe)
		}
		if data[m.end-1] != '\n' {
			t.Fatalf("mark %d does not end a line", m.end)
		}
		prevEnd, prevSafe = m.end, m.safe
	}
}

func fuzzDecode(t *testing.T, data []byte) {
	const maxLine = 100
	logs, marks := decodeAll(bytes.Clone(data), maxLine, 0)
	checkInvariants(t, data, logs, marks, maxLine)
	// Fed in small pieces (the carry is copied each time, so the piece
	// grows with the input to keep this linear-ish).
	l2, m2 := decodeAll(bytes.Clone(data), maxLine, max(3, len(data)/16))
	if diff := cmp.Diff(render(logs, marks), render(l2, m2)); diff != "" {
		t.Fatalf("chunking changed the result:\n%s", diff)
	}
	// Every newline-terminated line that is not a partial yields a record, so
	// never more records than lines.
	if n := bytes.Count(data, []byte{'\n'}); len(logs) > n {
		t.Fatalf("%d records from %d lines", len(logs), n)
	}
}

func FuzzCRI(f *testing.F) {
	for _, s := range []string{
		"2026-11-26T03:55:09.123456789Z stdout F hello\n",
		"2026-11-26T03:55:09Z stdout P a\n2026-11-26T03:55:09Z stderr F b\n2026-11-26T03:55:09Z stdout F c\n",
		"garbage\n\n\r\n\xff\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data)
		// Round trip: a message without newline framed as CRI comes back.
		msg := bytes.ReplaceAll(data, []byte{'\n'}, nil)
		if len(msg) > 100 {
			msg = msg[:100]
		}
		line := append([]byte("2026-11-26T03:55:09.5Z stderr F "), msg...)
		tm, s, p, m, ok := parseCRI(line, nil)
		if !ok || p || s != event.Stderr || !bytes.Equal(m, msg) || tm.Nanosecond() != 5e8 {
			t.Fatalf("round trip of %q: ok=%v p=%v s=%v m=%q", msg, ok, p, s, m)
		}
	})
}

func FuzzDocker(f *testing.F) {
	for _, s := range []string{
		`{"log":"hello\n","stream":"stdout","time":"2026-11-26T03:55:09.123456789Z"}` + "\n",
		`{"log":"a\u00e9\ud83d\ude00\"\\","stream":"stderr","time":"2026-11-26T03:55:09Z"}` + "\n" + `{"log":"b\n","stream":"stderr","time":"2026-11-26T03:55:09Z"}` + "\n",
		`{"log":"x","attrs":{"a":[1,"}"]},"stream":"stdout","time":"2026-11-26T03:55:09Z"}` + "\n{\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data)
		// Any parse that succeeds yields valid-as-written bytes no longer than
		// the input, and unescaping never grows.
		line := bytes.Clone(data)
		_, _, partial, m, ok := parseDocker(line, nil)
		if ok && len(m) > len(data) {
			t.Fatalf("message longer than line")
		}
		// Differential: on valid JSON the message is what encoding/json reads.
		var obj map[string]any
		if ok && utf8.Valid(data) && json.Unmarshal(data, &obj) == nil {
			if lg, isStr := obj["log"].(string); isStr {
				want := strings.TrimSuffix(lg, "\n")
				if string(m) != want || partial != !strings.HasSuffix(lg, "\n") {
					t.Fatalf("log %q: got %q partial=%v", lg, m, partial)
				}
			}
		}
		if utf8.Valid(data) {
			u := unescapeInPlace(bytes.Clone(data))
			if len(u) > len(data) {
				t.Fatalf("unescape grew")
			}
		}
	})
}
