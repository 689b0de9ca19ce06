package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// procConfig is the processing section of the agent's config for a run;
// nil or an empty yaml leaves the section out (processing off).
type procConfig struct {
	name string
	yaml string // the section's body, indented two spaces
}

// processingConfigs are what -processing can name. default is the set the
// processing issue names: multiline java, the json parser and one
// redaction rule (email); every other option is the package's default
// (parser.keep_original false: the message becomes the parsed msg or
// message field, and the line is not shipped twice).
var processingConfigs = map[string]string{
	"off":        "",
	"multiline":  "  multiline: {rule: java}\n",
	"json":       "  parser: {format: json}\n",
	"redact":     "  redact: {builtins: [email]}\n",
	"redact-all": "  redact: {builtins: [bearer, api_key, aws_key, jwt, card, email]}\n",
	"default":    "  multiline: {rule: java}\n  parser: {format: json}\n  redact: {builtins: [email]}\n",
	// the same with parser.keep_original true: the record keeps the line
	// as its message beside the parsed fields (the line shipped twice)
	"json-keep":    "  parser: {format: json, keep_original: true}\n",
	"default-keep": "  multiline: {rule: java}\n  parser: {format: json, keep_original: true}\n  redact: {builtins: [email]}\n",
	// the redaction proof's: every built-in rule, behind multiline and the
	// json parser keeping the line (so a JSON line's secrets are masked
	// twice: in the line shipped as the message and in the parsed fields)
	"proof": "  multiline: {rule: java}\n  parser: {format: json, keep_original: true}\n  redact: {builtins: [bearer, api_key, aws_key, jwt, card, email]}\n",
}

func processingNames() []string {
	var out []string
	for n := range processingConfigs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parseProcessing reads -processing: comma-separated names of
// processingConfigs.
func parseProcessing(s string) ([]*procConfig, error) {
	var out []*procConfig
	seen := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		y, ok := processingConfigs[n]
		if !ok {
			return nil, fmt.Errorf("processing config %q: want one of %s", n, strings.Join(processingNames(), ", "))
		}
		if seen[n] {
			return nil, fmt.Errorf("processing config %q named twice", n)
		}
		seen[n] = true
		out = append(out, &procConfig{name: n, yaml: y})
	}
	return out, nil
}

func (p *procConfig) yamlSection() string {
	if p == nil || p.yaml == "" {
		return ""
	}
	return "processing:\n" + p.yaml
}

// label is what a run's name says of its processing.
func (p *procConfig) label() string {
	if p == nil {
		return ""
	}
	return ", processing " + p.name
}

// procNameWidth is the run column's width for names of processing runs.
const procNameWidth = 72

// processedOf says what the processing stage did in a run.
func processedOf(sc scrape) string {
	return fmt.Sprintf("processing: %.0f lines merged into %.0f multiline records (%.0f sent at the flush timeout, %.0f cut at a cap), %.0f parsed, %.0f not parsed, %.0f secrets masked, %.0f dropped",
		sc.sum("ferry_process_multiline_merged_lines_total"), sc.sum("ferry_process_multiline_records_total"),
		sc.sum("ferry_process_multiline_timeout_flushes_total"), sc.sum("ferry_process_multiline_cut_total"),
		sc.sum("ferry_process_parsed_total"), sc.sum("ferry_process_parse_failures_total"),
		sc.sum("ferry_process_redactions_total"), sc.sum("ferry_process_dropped_total"))
}

// processingRuns runs the agent over the corpus once per processing config
// per round, the configs interleaved (each round starts with the next one,
// so none always runs first), to a sink of the given name, and prints each
// run, then per config the medians of CPU-seconds per GiB and peak RSS and
// their ratios to processing off's medians in the same run.
//
// The caller prints the header (with nameWidth at least procNameWidth).
func processingRuns(ctx context.Context, w io.Writer, bin, work string, c *Corpus, procs []*procConfig, sinkName, comp string, rounds int, poll, timeout time.Duration) error {
	cpu := make([][]float64, len(procs))
	rss := make([][]float64, len(procs))
	loads := make([]float64, 0, rounds*len(procs))
	off := -1
	for i, p := range procs {
		if p.yaml == "" {
			off = i
		}
	}
	if c.Traces > 0 {
		fmt.Fprintf(w, "corpus traces: %d Java stack traces of %d lines in all (%.2f%% of the lines); multiline java is to merge %d lines\n",
			c.Traces, c.TraceLines, 100*float64(c.TraceLines)/float64(c.Lines), c.TraceLines-c.Traces)
	}
	for round := range max(1, rounds) {
		for k := range procs {
			i := (round + k) % len(procs)
			s, err := newSink(sinkName, comp)
			if err != nil {
				return err
			}
			f, err := runCorpus(ctx, bin, work, c, s, nil, procs[i], poll, timeout)
			s.stop()
			if err != nil {
				return fmt.Errorf("processing %s: %w", procs[i].name, err)
			}
			printFigures(w, f, nil)
			if merged := int64(f.Metrics.sum("ferry_process_multiline_merged_lines_total")); strings.Contains(procs[i].yaml, "multiline") && merged != c.TraceLines-c.Traces {
				fmt.Fprintf(w, "  warning: multiline merged %d lines, the corpus's traces hold %d lines to merge\n", merged, c.TraceLines-c.Traces)
			}
			cpu[i] = append(cpu[i], f.CPUPerGiB())
			rss[i] = append(rss[i], mib(f.MaxRSS))
			loads = append(loads, f.Load1)
		}
	}
	fmt.Fprintf(w, "\nprocessing to %s: medians of %d runs each, interleaved; load1 at the runs' ends %s\n", sinkName, max(1, rounds), spread("%.2f", loads))
	fmt.Fprintf(w, "(x off: the ratio of the medians; paired: the median of each round's ratio to that round's off run)\n")
	fmt.Fprintf(w, "%-12s %10s %12s %8s %8s %9s %12s %8s\n", "processing", "CPU-s/GiB", "(spread)", "x off", "paired", "RSS MiB", "(spread)", "x off")
	for i, p := range procs {
		xc, xp, xr := "-", "-", "-"
		if off >= 0 {
			xc = fmt.Sprintf("%.2fx", median(cpu[i])/median(cpu[off]))
			xp = fmt.Sprintf("%.2fx", median(pairedRatios(cpu[i], cpu[off])))
			xr = fmt.Sprintf("%.2fx", median(rss[i])/median(rss[off]))
		}
		fmt.Fprintf(w, "%-12s %10.2f %12s %8s %8s %9.1f %12s %8s\n", p.name, median(cpu[i]), spread("%.2f", cpu[i]), xc, xp, median(rss[i]), spread("%.0f", rss[i]), xr)
	}
	if off >= 0 {
		for i, p := range procs {
			if p.name == "default" {
				r, rp := median(cpu[i])/median(cpu[off]), median(pairedRatios(cpu[i], cpu[off]))
				verdict := "holds"
				if r >= 2 || rp >= 2 {
					verdict = "does NOT hold"
				}
				fmt.Fprintf(w, "target (the default set under 2x processing off's CPU per GiB to %s): %.2fx (paired %.2fx), %s\n", sinkName, r, rp, verdict)
			}
		}
	}
	return nil
}

// pairedRatios is xs[r]/base[r] for each round r.
func pairedRatios(xs, base []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for r := range min(len(xs), len(base)) {
		out = append(out, xs[r]/base[r])
	}
	return out
}

// proofResult is what the redaction proof found.
type proofResult struct {
	Planted  int64  // secrets in the corpus
	Expected int64  // maskings expected: planted, plus those in JSON lines again in the parsed fields
	Metric   int64  // ferry_process_redactions_total
	Masked   int64  // replacements in the output
	Leaks    int64  // secrets or parts of one in the output
	Records  int64  // records in the output
	Sent     int64  // ferry_ship_records_sent_total{record="log"}
	Merged   int64  // ferry_process_multiline_merged_lines_total
	InCorpus string // what the scan found in the corpus
	InOutput string // and in the output
	Figures  Figures
}

// redactionProof runs the agent over a corpus with secret lines (mix
// secret > 0) with processing config "proof" (every built-in rule) to the
// file sink on a named pipe, and scans every byte of the output. It first
// scans the corpus: the scan must find every planted secret there. It
// fails when a secret, or a part of one, is in the output, when the
// replacements in the output are not ferry_process_redactions_total, when
// that is not the maskings the corpus calls for, or when records are
// missing.
func redactionProof(ctx context.Context, bin, work string, c *Corpus, poll, timeout time.Duration) (proofResult, error) {
	var res proofResult
	for _, n := range c.Secrets {
		res.Planted += n
	}
	if res.Planted == 0 {
		return res, fmt.Errorf("redaction proof: the corpus has no secrets (give -mix a secret weight)")
	}
	res.Expected = res.Planted + c.SecretsInJSON

	in := newSecretScan("[REDACTED]")
	for _, p := range c.Paths {
		f, err := os.Open(filepath.Join(c.Dir, p))
		if err != nil {
			return res, err
		}
		_, err = io.Copy(in, bufio.NewReaderSize(f, 1<<20))
		f.Close()
		if err != nil {
			return res, err
		}
	}
	res.InCorpus = in.String()
	if got, want := in.marker.Count(), res.Planted-c.Secrets["card"]; got != want {
		return res, fmt.Errorf("redaction proof: the scan finds %d %q in the corpus, the generator planted %d", got, secretMarker, want)
	}
	if got, want := in.Cards(), c.Secrets["card"]; got != want {
		return res, fmt.Errorf("redaction proof: the scan finds %d card numbers in the corpus, the generator planted %d", got, want)
	}
	if in.at.Count() != c.Secrets["email"] || in.akia.Count() != c.Secrets["aws_key"] || in.eyj.Count() != 2*c.Secrets["jwt"] {
		return res, fmt.Errorf("redaction proof: the corpus holds %s; planted %v", in, c.Secrets)
	}

	dir, err := os.MkdirTemp(work, "proof-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	scan := newSecretScan("[REDACTED]")
	o, err := openOutputTee(filepath.Join(dir, "out.ndjson"), "\n", scan)
	if err != nil {
		return res, err
	}
	defer o.close()
	s := &sink{name: "file sink (named pipe, every byte scanned)", yaml: fmt.Sprintf("  file: {path: %q}\n", o.path), stop: func() {},
		caughtUp: func(sent int64) bool { return o.counter.Count() >= sent }}
	f, err := runCorpus(ctx, bin, work, c, s, nil, &procConfig{name: "proof", yaml: processingConfigs["proof"]}, poll, timeout)
	if err != nil {
		return res, err
	}
	if err := o.close(); err != nil {
		return res, err
	}
	res.Figures = f
	res.Metric = int64(f.Metrics.sum("ferry_process_redactions_total"))
	res.Sent = int64(f.Metrics.sum("ferry_ship_records_sent_total", "record", "log"))
	res.Merged = int64(f.Metrics.sum("ferry_process_multiline_merged_lines_total"))
	res.Masked, res.Leaks, res.Records = scan.replacement.Count(), scan.Leaks(), o.counter.Count()
	res.InOutput = scan.String()
	var errs []string
	if res.Leaks != 0 {
		errs = append(errs, fmt.Sprintf("%d secrets or parts of one in the output", res.Leaks))
	}
	if res.Masked != res.Metric {
		errs = append(errs, fmt.Sprintf("%d replacements in the output, ferry_process_redactions_total is %d", res.Masked, res.Metric))
	}
	if res.Metric != res.Expected {
		errs = append(errs, fmt.Sprintf("ferry_process_redactions_total is %d, the corpus calls for %d (%d secrets, %d of them in JSON lines)", res.Metric, res.Expected, res.Planted, c.SecretsInJSON))
	}
	if want := c.Lines - (c.TraceLines - c.Traces); res.Records != want || res.Sent != want {
		errs = append(errs, fmt.Sprintf("%d records in the output, %d sent; the corpus's %d lines make %d records", res.Records, res.Sent, c.Lines, want))
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("redaction proof failed: %s\n  output: %s", strings.Join(errs, "; "), res.InOutput)
	}
	return res, nil
}

// printProof prints a passed proof.
func printProof(w io.Writer, c *Corpus, r proofResult) {
	fmt.Fprintf(w, "redaction proof: %d secrets planted (%s), %d of them in JSON lines\n", r.Planted, formatCounts(c.Secrets), c.SecretsInJSON)
	fmt.Fprintf(w, "  corpus scan: %s\n", r.InCorpus)
	printFigures(w, r.Figures, nil)
	fmt.Fprintf(w, "  output scan (%d records, every byte): %s\n", r.Records, r.InOutput)
	fmt.Fprintf(w, "  PASS: no secret in the output; %d masked = ferry_process_redactions_total %d = the %d the corpus calls for (each secret once, those of JSON lines again in the parsed fields); %d records = %d lines - %d merged\n",
		r.Masked, r.Metric, r.Expected, r.Records, c.Lines, r.Merged)
}

func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range secretKinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
