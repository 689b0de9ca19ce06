package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecordCounter splits outputs at every position (and into single
// bytes): a pattern that straddles two writes counts once, and text that
// only looks like it (an escaped quote inside a body) does not count.
func TestRecordCounter(t *testing.T) {
	otlp := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` +
		`{"timeUnixNano":"1","body":{"stringValue":"a \"body\": inside"}},` +
		`{"timeUnixNano":"2","body":{"stringValue":"b"}},` +
		`{"timeUnixNano":"3","body":{"stringValue":"c"}}]}]}]}` + "\n" +
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"d"}}]}]}]}` + "\n"
	for _, tc := range []struct {
		name, pattern, out string
		want               int64
	}{
		{"ndjson", "\n", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", 3},
		{"otlp json", `"body":`, otlp, 4},
		{"two-byte pattern", "ab", "xabyabab", 3},
		{"nothing", `"body":`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for cut := 0; cut <= len(tc.out); cut++ {
				c := newRecordCounter(tc.pattern)
				c.Write([]byte(tc.out[:cut]))
				c.Write([]byte(tc.out[cut:]))
				if got := c.Count(); got != tc.want {
					t.Fatalf("cut at %d: %d records, want %d", cut, got, tc.want)
				}
			}
			c := newRecordCounter(tc.pattern)
			for i := range len(tc.out) {
				c.Write([]byte{tc.out[i]})
			}
			if got := c.Count(); got != tc.want {
				t.Errorf("byte by byte: %d records, want %d", got, tc.want)
			}
		})
	}
}

// TestOutputPipe writes records into the named pipe as an agent does (its
// own open, writes, close, then a second writer) and waits for the count.
func TestOutputPipe(t *testing.T) {
	o, err := openOutput(filepath.Join(t.TempDir(), "out.pipe"), "\n")
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	want := int64(0)
	for range 2 {
		w, err := os.OpenFile(o.path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte(strings.Repeat("x", 99)+"\n"), 20000) // 2 MB: more than the pipe holds
		if _, err := w.Write(big); err != nil {
			t.Fatal(err)
		}
		w.Close()
		want += 20000
	}
	deadline := time.After(10 * time.Second)
wait:
	for o.counter.Count() < want {
		select {
		case <-deadline:
			break wait
		case <-time.After(10 * time.Millisecond): // the next look at the count
		}
	}
	if got := o.counter.Count(); got != want {
		t.Fatalf("counted %d records, want %d", got, want)
	}
	if err := o.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(o.path); !os.IsNotExist(err) {
		t.Errorf("pipe left behind: %v", err)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "4242 (ferry) S 1 4242 4242 0 -1 4194560 5210 0 0 0 1234 56 0 0 20 0 9 0 100 0 0", 1290 * clockTick, false},
		{"name with spaces and parens", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0", 7 * clockTick, false},
		{"no name", "4242 S 1", 0, true},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 4 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatCPU(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
	// This process's own stat parses.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
}

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		xs     []float64
		median float64
		spread string
	}{
		{nil, 0, "-"},
		{[]float64{3}, 3, "3.0-3.0"},
		{[]float64{5, 1, 3}, 3, "1.0-5.0"},
		{[]float64{4, 1, 3, 2}, 2.5, "1.0-4.0"},
	} {
		if got := median(tc.xs); got != tc.median {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.median)
		}
		if got := spread("%.1f", tc.xs); got != tc.spread {
			t.Errorf("spread(%v) = %q, want %q", tc.xs, got, tc.spread)
		}
	}
}

// TestSmokeVerdict: the median of the rounds decides, so one noisy round
// neither fails a good build nor passes a regressed one.
func TestSmokeVerdict(t *testing.T) {
	for _, tc := range []struct {
		ratios        []float64
		bound         float64
		ok            bool
		median, worst float64
	}{
		{[]float64{20, 22, 21}, 40, true, 21, 22},
		{[]float64{20, 95, 21}, 40, true, 21, 95},  // one outlier
		{[]float64{45, 20, 50}, 40, false, 45, 50}, // most rounds over
		{[]float64{40}, 40, true, 40, 40},          // at the bound
	} {
		c := smokeCheck{ratios: tc.ratios, bound: tc.bound}
		c.done()
		if c.ok() != tc.ok || c.median != tc.median || c.worst != tc.worst {
			t.Errorf("%v against %v: ok %v, median %v, worst %v; want %v, %v, %v", tc.ratios, tc.bound, c.ok(), c.median, c.worst, tc.ok, tc.median, tc.worst)
		}
	}
}
