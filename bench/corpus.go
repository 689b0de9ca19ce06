package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// Mix is the line-length mix of a corpus, as relative weights per kind of
// logical line.
type Mix struct {
	Short float64 `json:"short"` // plain text, 40..199 bytes
	JSON  float64 `json:"json"`  // structured JSON, ~250..450 bytes (quotes to escape)
	Long  float64 `json:"long"`  // LongBytes, split into 16 KiB partials (P...P F)
	// Trace is the share of lines that belong to a Java stack trace: a JSON
	// line at level error followed by the trace as the JVM prints it, all
	// on stderr (javatrace.go).
	Trace float64 `json:"trace,omitempty"`
	// Secret is the share of lines that carry one secret of a built-in
	// redaction rule's kind, half of them JSON lines (secrets.go).
	Secret float64 `json:"secret,omitempty"`
}

// mixPresets are mixes -mix can name.
var mixPresets = map[string]string{
	// every line JSON, one line in twenty in a Java stack trace
	"jsontrace": "short=0,json=95,long=0,trace=5",
	// the default mix with traces and lines carrying secrets (the
	// redaction proof's)
	"secrets": "short=60,json=25,long=0.1,trace=5,secret=9.9",
}

// ParseMix reads "short=70,json=29.9,long=0.1" (kinds not named weigh 0),
// or the name of a preset (jsontrace, secrets).
func ParseMix(s string) (Mix, error) {
	if p, ok := mixPresets[s]; ok {
		s = p
	}
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("mix: %q: want kind=weight", part)
		}
		w, err := strconv.ParseFloat(v, 64)
		if err != nil || !(w >= 0) || math.IsInf(w, 0) {
			return m, fmt.Errorf("mix: %q: weight must be a number >= 0", part)
		}
		switch k {
		case "short":
			m.Short = w
		case "json":
			m.JSON = w
		case "long":
			m.Long = w
		case "trace":
			m.Trace = w
		case "secret":
			m.Secret = w
		default:
			return m, fmt.Errorf("mix: unknown kind %q (short, json, long, trace, secret)", k)
		}
	}
	if t := m.total(); !(t > 0) || math.IsInf(t, 0) {
		return m, errors.New("mix: weights must not all be 0, and their sum must be finite")
	}
	return m, nil
}

func (m Mix) total() float64 { return m.Short + m.JSON + m.Long + m.Trace + m.Secret }

// String prints the mix as ParseMix reads it; trace and secret only when
// they weigh something.
func (m Mix) String() string {
	s := fmt.Sprintf("short=%g,json=%g,long=%g", m.Short, m.JSON, m.Long)
	if m.Trace != 0 {
		s += fmt.Sprintf(",trace=%g", m.Trace)
	}
	if m.Secret != 0 {
		s += fmt.Sprintf(",secret=%g", m.Secret)
	}
	return s
}

// CorpusConfig says what corpus to generate.
type CorpusConfig struct {
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"` // total target size; each file gets Bytes/Files
	Mix       Mix    `json:"mix"`
	LongBytes int    `json:"long_bytes"`
	Seed      uint64 `json:"seed"`
}

// Validate names the flag of each problem.
func (c CorpusConfig) Validate() error {
	var errs []error
	if c.Files <= 0 {
		errs = append(errs, errors.New("files: must be > 0"))
	}
	if c.Bytes <= 0 {
		errs = append(errs, errors.New("size: must be > 0"))
	}
	if c.LongBytes <= simnode.PartialSize {
		errs = append(errs, fmt.Errorf("long-bytes: must be > %d (one partial)", simnode.PartialSize))
	}
	return errors.Join(errs...)
}

// Corpus is a generated corpus and what it holds.
type Corpus struct {
	Config   CorpusConfig `json:"config"`
	Dir      string       `json:"-"`
	Lines    int64        `json:"lines"`     // logical lines (what ferry_tail_lines_read_total counts)
	CRILines int64        `json:"cri_lines"` // physical CRI lines (partials counted one by one)
	Bytes    int64        `json:"bytes"`     // bytes on disk
	Paths    []string     `json:"paths"`     // relative to Dir
	Version  int          `json:"version"`
	// TraceLines are the lines of Traces stack traces (each trace's JSON
	// error line included): multiline java merges TraceLines - Traces.
	TraceLines int64 `json:"trace_lines,omitempty"`
	Traces     int64 `json:"traces,omitempty"`
	// Secrets counts the secrets planted, by redaction rule; SecretsInJSON
	// how many of them are in JSON lines (a json parser's fields hold them
	// a second time).
	Secrets       map[string]int64 `json:"secrets,omitempty"`
	SecretsInJSON int64            `json:"secrets_in_json,omitempty"`
}

const corpusVersion = 3

// Glob is the include pattern of the corpus's log files.
func (c *Corpus) Glob() string { return filepath.Join(c.Dir, "pods", "*", "*", "*.log") }

// GiB is the corpus size in GiB.
func (c *Corpus) GiB() float64 { return float64(c.Bytes) / (1 << 30) }

// MiB is the corpus size in MiB.
func (c *Corpus) MiB() float64 { return float64(c.Bytes) / (1 << 20) }

// LoadOrGenerate reuses the corpus in dir if it was made from the same
// config, and generates it otherwise.
func LoadOrGenerate(dir string, cfg CorpusConfig) (*Corpus, bool, error) {
	if c, err := loadCorpus(dir); err == nil && c.Config == cfg && c.Version == corpusVersion && c.intact() {
		return c, true, nil
	}
	c, err := Generate(dir, cfg)
	return c, false, err
}

func loadCorpus(dir string) (*Corpus, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var c Corpus
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	c.Dir = dir
	return &c, nil
}

func (c *Corpus) intact() bool {
	var total int64
	for _, p := range c.Paths {
		fi, err := os.Stat(filepath.Join(c.Dir, p))
		if err != nil {
			return false
		}
		total += fi.Size()
	}
	return total == c.Bytes
}

var namespaces = []string{"shop", "payments", "search", "kube-system", "monitoring"}

// Generate writes a fresh corpus into dir (its previous content is removed).
func Generate(dir string, cfg CorpusConfig) (*Corpus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	c := &Corpus{Config: cfg, Dir: dir, Version: corpusVersion}
	per := cfg.Bytes / int64(cfg.Files)
	for i := range cfg.Files {
		ns := namespaces[i%len(namespaces)]
		pod := fmt.Sprintf("svc-%d-6c8f9b7d4-%05d", i/2, i)
		uid := fmt.Sprintf("5f0c2a1e-7b3d-4c9a-8e21-%012d", i)
		name := []string{"app", "sidecar"}[i%2]
		rel := filepath.Join("pods", ns+"_"+pod+"_"+uid, name, "0.log")
		g := newLineGen(ns+"/"+pod+"/"+name, cfg, cfg.Seed+uint64(i))
		lines, cri, n, err := writeFile(filepath.Join(dir, rel), per, g)
		if err != nil {
			return nil, err
		}
		c.Lines += lines
		c.CRILines += cri
		c.Bytes += n
		c.TraceLines += g.traceLines
		c.Traces += g.traces
		for k, v := range g.secrets {
			if c.Secrets == nil {
				c.Secrets = map[string]int64{}
			}
			c.Secrets[k] += v
		}
		c.SecretsInJSON += g.secretsInJSON
		c.Paths = append(c.Paths, rel)
	}
	sort.Strings(c.Paths)
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return c, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// corpusEpoch is the timestamp of the first line of every file.
var corpusEpoch = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

// writeFile writes the CRI lines of g into path until it holds at least
// target bytes, and the rest of a stack trace begun before.
func writeFile(path string, target int64, g *lineGen) (lines, cri, size int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, 0, 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	for size < target || len(g.trace) > 0 {
		buf, cri = g.next(buf[:0], cri)
		if _, err := w.Write(buf); err != nil {
			return 0, 0, 0, err
		}
		size += int64(len(buf))
		lines++
	}
	if err := w.Flush(); err != nil {
		return 0, 0, 0, err
	}
	return lines, cri, size, f.Close()
}

// lineGen produces the logical lines of one file, deterministically.
type lineGen struct {
	src string
	rng *rand.Rand
	seq int64
	t   time.Time
	// cumulative probabilities of a draw (a line that is not the rest of
	// a trace): short, json, long, trace start, then secret
	pShort, pJSON, pLong, pTrace float64
	longBytes                    int
	msg                          []byte

	trace              [][]byte // the lines of the current trace still to write
	traceBuf           [][]byte
	traceLines, traces int64
	secrets            map[string]int64
	secretsInJSON      int64
}

func newLineGen(src string, cfg CorpusConfig, seed uint64) *lineGen {
	m := cfg.Mix
	// A draw that starts a trace writes meanTraceLines lines. For a share f
	// of all lines in traces, a draw starts one with probability
	// q = f / (L(1-f) + f) (qL / (qL + 1 - q) = f).
	f := m.Trace / m.total()
	q := f / (meanTraceLines*(1-f) + f)
	rest := (1 - q) / (m.Short + m.JSON + m.Long + m.Secret)
	if m.Short+m.JSON+m.Long+m.Secret == 0 {
		rest = 0
	}
	g := &lineGen{
		src: src, rng: rand.New(rand.NewPCG(seed, 0xbe9c4)), t: corpusEpoch,
		longBytes: cfg.LongBytes,
	}
	g.pShort = m.Short * rest
	g.pJSON = g.pShort + m.JSON*rest
	g.pLong = g.pJSON + m.Long*rest
	g.pTrace = g.pLong + q
	// The last kind that weighs anything takes what rounding left over
	// (a mix without traces and secrets writes what version 1 wrote).
	if m.Secret == 0 {
		g.pTrace = 1
		if m.Trace == 0 {
			g.pLong = 1
		}
	}
	return g
}

var (
	levels  = []string{"info", "info", "info", "debug", "warn", "error"}
	methods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	routes  = []string{"/api/v1/cart", "/api/v1/checkout", "/api/v2/search", "/healthz", "/api/v1/users/profile"}
)

// next appends the CRI line(s) of the next logical line and adds how many
// physical lines it took to cri.
func (g *lineGen) next(b []byte, cri int64) ([]byte, int64) {
	g.seq++
	if len(g.trace) > 0 {
		// The JVM prints a trace at once: microseconds between its lines.
		g.t = g.t.Add(time.Duration(1+g.rng.IntN(20)) * time.Microsecond)
		line := g.trace[0]
		g.trace = g.trace[1:]
		return simnode.AppendCRI(b, g.t, "stderr", line), cri + int64(simnode.CRILines(len(line)))
	}
	g.t = g.t.Add(time.Duration(200+g.rng.IntN(1800)) * time.Microsecond)
	stream := "stdout"
	if g.rng.IntN(5) == 0 {
		stream = "stderr"
	}
	p := g.rng.Float64()
	switch {
	case p < g.pShort:
		g.msg = simnode.AppendLine(g.msg[:0], g.src, g.seq, 40+g.rng.IntN(160))
	case p < g.pJSON:
		g.msg = g.appendJSON(g.msg[:0])
	case p < g.pLong:
		g.msg = simnode.AppendLine(g.msg[:0], g.src, g.seq, g.longBytes)
	case p < g.pTrace:
		g.startTrace()
		g.traceLines += int64(len(g.trace))
		g.traces++
		line := g.trace[0]
		g.trace = g.trace[1:]
		return simnode.AppendCRI(b, g.t, "stderr", line), cri + int64(simnode.CRILines(len(line)))
	default:
		g.msg = g.appendSecret(g.msg[:0])
	}
	return simnode.AppendCRI(b, g.t, stream, g.msg), cri + int64(simnode.CRILines(len(g.msg)))
}

// appendJSON appends a structured log line such as an HTTP service writes.
func (g *lineGen) appendJSON(b []byte) []byte {
	r := g.rng
	b = append(b, `{"ts":"`...)
	b = g.t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, levels[r.IntN(len(levels))]...)
	b = append(b, `","logger":"http.server","msg":"request served","seq":`...)
	b = strconv.AppendInt(b, g.seq, 10)
	b = append(b, `,"method":"`...)
	b = append(b, methods[r.IntN(len(methods))]...)
	b = append(b, `","path":"`...)
	b = append(b, routes[r.IntN(len(routes))]...)
	b = append(b, `?id=`...)
	b = strconv.AppendInt(b, int64(r.IntN(1000000)), 10)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64([]int{200, 200, 200, 201, 404, 500}[r.IntN(6)]), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.IntN(100000))/1000, 'f', 3, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(r.IntN(1<<20)), 10)
	b = append(b, `,"trace_id":"`...)
	b = fmt.Appendf(b, "%016x%016x", r.Uint64(), r.Uint64())
	b = append(b, `","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","src":"`...)
	b = append(b, g.src...)
	b = append(b, `"}`...)
	return b
}

// parseSize reads "256MiB", "1GiB", "512KiB" or a plain byte count.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit (KiB, MiB, GiB)", s)
	}
	return int64(v * float64(mult)), nil
}
