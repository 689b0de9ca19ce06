package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRedactionProof is the redaction proof on a small corpus: lines
// carrying secrets of every built-in rule's kind (half of them JSON lines)
// among plain, JSON and long lines and Java stack traces go through the
// built agent with multiline java, the json parser and every built-in
// redaction rule, to the file sink; the whole output is scanned. No
// secret, nor a part of one, may be in it; the replacements in it must be
// ferry_process_redactions_total and the maskings the corpus calls for;
// every record must be there.
func TestRedactionProof(t *testing.T) {
	bin, dir := testFerry(t)
	mix, err := ParseMix("secrets")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Generate(filepath.Join(dir, "corpus"), CorpusConfig{Files: 4, Bytes: 3 << 20, Mix: mix, LongBytes: 40 << 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range secretKinds {
		if c.Secrets[k] == 0 {
			t.Fatalf("corpus has no %s secret: %v", k, c.Secrets)
		}
	}
	if c.Traces == 0 || c.SecretsInJSON == 0 {
		t.Fatalf("corpus has %d traces, %d secrets in JSON lines: want some", c.Traces, c.SecretsInJSON)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := redactionProof(ctx, bin, dir, c, 50*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// redactionProof checked these; the test states them.
	if res.Leaks != 0 || res.Masked != res.Metric || res.Metric != res.Expected || res.Expected <= res.Planted {
		t.Errorf("proof: %+v", res)
	}
	if want := c.Lines - (c.TraceLines - c.Traces); res.Records != want || res.Merged != c.TraceLines-c.Traces {
		t.Errorf("%d records, %d merged; want %d, %d", res.Records, res.Merged, want, c.TraceLines-c.Traces)
	}
}

// TestSecretScanFindsEverySecret: the scan finds each kind of planted
// secret, split across writes anywhere, and nothing in a masked line.
func TestSecretScanFindsEverySecret(t *testing.T) {
	g := newLineGen("ns/pod/app", CorpusConfig{Mix: Mix{Secret: 1}}, 1)
	for _, kind := range secretKinds {
		v := string(g.appendSecretValue(nil, kind))
		for cut := range len(v) + 1 {
			s := newSecretScan("[REDACTED]")
			s.Write([]byte("x " + v[:cut]))
			s.Write([]byte(v[cut:] + " y"))
			if s.Leaks() == 0 {
				t.Fatalf("%s %q cut at %d: not found", kind, v, cut)
			}
		}
	}
	s := newSecretScan("[REDACTED]")
	s.Write([]byte(`{"message":"outbound call: Authorization: Bearer [REDACTED] api_key=[REDACTED] [REDACTED]"}`))
	if s.Leaks() != 0 || s.replacement.Count() != 3 {
		t.Errorf("masked line: %s", s)
	}
}

// TestTraceCorpus: in the jsontrace corpus every line is a JSON object
// but the lines of Java stack traces, which are about one line in twenty;
// each trace follows a JSON line at level error on the same stream and is
// printed as the JVM prints one.
func TestTraceCorpus(t *testing.T) {
	mix, err := ParseMix("jsontrace")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Generate(filepath.Join(t.TempDir(), "corpus"), CorpusConfig{Files: 2, Bytes: 8 << 20, Mix: mix, LongBytes: 40 << 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if share := float64(c.TraceLines) / float64(c.Lines); share < 0.04 || share > 0.06 {
		t.Errorf("%d of %d lines in traces (%.3f), want about 1 in 20", c.TraceLines, c.Lines, share)
	}
	header := regexp.MustCompile(`^(?:[a-z]+\.)+[A-Z]\w*(?:Exception|Error): \S`)
	frame := regexp.MustCompile(`^\tat (?:[\w.]+/)?(?:[\w$]+\.)+[\w$<>]+\([\w$]+\.java:\d+\)$`)
	cause := regexp.MustCompile(`^Caused by: (?:[a-z]+\.)+[A-Z]\w*(?:Exception|Error): \S`)
	more := regexp.MustCompile(`^\t\.\.\. \d+ more$`)
	var lines, traceLines, traces int64
	for _, p := range c.Paths {
		f, err := os.Open(filepath.Join(c.Dir, p))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		prev, prevStream := "", ""
		for sc.Scan() {
			// <time> <stream> F <message>
			parts := strings.SplitN(sc.Text(), " ", 4)
			if len(parts) != 4 || parts[2] != "F" {
				t.Fatalf("not a whole CRI line: %q", sc.Text())
			}
			stream, msg := parts[1], parts[3]
			lines++
			inTrace := prevStream == "stderr" && (header.MatchString(msg) && strings.Contains(prev, `"level":"error"`) ||
				frame.MatchString(msg) && (header.MatchString(prev) || frame.MatchString(prev) || cause.MatchString(prev)) ||
				cause.MatchString(msg) && frame.MatchString(prev) ||
				more.MatchString(msg) && frame.MatchString(prev))
			switch {
			case inTrace:
				if stream != "stderr" {
					t.Fatalf("trace line on %s: %q", stream, msg)
				}
				traceLines++
				if header.MatchString(msg) {
					traces++
					traceLines++ // its JSON line
				}
			case !json.Valid([]byte(msg)) || msg[0] != '{':
				t.Fatalf("line %d of %s: neither JSON nor in a trace after %q: %q", lines, p, prev, msg)
			}
			prev, prevStream = msg, stream
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int64{c.Lines, c.TraceLines, c.Traces}, []int64{lines, traceLines, traces}); diff != "" {
		t.Errorf("lines, trace lines, traces: manifest (-) and read back (+):\n%s", diff)
	}
}

func TestParseProcessing(t *testing.T) {
	ps, err := parseProcessing("off, default")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].yamlSection() != "" || !strings.Contains(ps[1].yamlSection(), "processing:\n  multiline: {rule: java}") {
		t.Errorf("parseProcessing: %+v", ps)
	}
	for _, bad := range []string{"", "off,off", "cobol"} {
		if _, err := parseProcessing(bad); err == nil {
			t.Errorf("parseProcessing(%q): no error", bad)
		}
	}
	m, err := ParseMix("short=1,trace=2,secret=3")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Mix{Short: 1, Trace: 2, Secret: 3}, m); diff != "" {
		t.Errorf("mix (-want +got):\n%s", diff)
	}
	d, _ := ParseMix(defaultMix)
	if corpusDirName(d) != "corpus" || corpusDirName(m) == "corpus" || corpusDirName(m) == corpusDirName(Mix{Short: 1, Trace: 2}) {
		t.Errorf("corpusDirName: %q %q", corpusDirName(d), corpusDirName(m))
	}
}

func TestPairedRatios(t *testing.T) {
	if diff := cmp.Diff([]float64{2, 0.5}, pairedRatios([]float64{4, 1, 9}, []float64{2, 2})); diff != "" {
		t.Errorf("pairedRatios (-want +got):\n%s", diff)
	}
}
