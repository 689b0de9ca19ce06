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
}

// ParseMix reads "short=70,json=29.9,long=0.1".
func ParseMix(s string) (Mix, error) {
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
		default:
			return m, fmt.Errorf("mix: unknown kind %q (short, json, long)", k)
		}
	}
	if t := m.Short + m.JSON + m.Long; !(t > 0) || math.IsInf(t, 0) {
		return m, errors.New("mix: weights must not all be 0, and their sum must be finite")
	}
	return m, nil
}

func (m Mix) String() string {
	return fmt.Sprintf("short=%g,json=%g,long=%g", m.Short, m.JSON, m.Long)
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
}

const corpusVersion = 1

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
		lines, cri, n, err := writeFile(filepath.Join(dir, rel), ns+"/"+pod+"/"+name, per, cfg, cfg.Seed+uint64(i))
		if err != nil {
			return nil, err
		}
		c.Lines += lines
		c.CRILines += cri
		c.Bytes += n
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

// writeFile writes CRI lines into path until it holds at least target bytes.
func writeFile(path, src string, target int64, cfg CorpusConfig, seed uint64) (lines, cri, size int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, 0, 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	g := newLineGen(src, cfg, seed)
	var buf []byte
	for size < target {
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
	src           string
	rng           *rand.Rand
	seq           int64
	t             time.Time
	pShort, pJSON float64
	longBytes     int
	msg           []byte
}

func newLineGen(src string, cfg CorpusConfig, seed uint64) *lineGen {
	total := cfg.Mix.Short + cfg.Mix.JSON + cfg.Mix.Long
	return &lineGen{
		src: src, rng: rand.New(rand.NewPCG(seed, 0xbe9c4)), t: corpusEpoch,
		pShort: cfg.Mix.Short / total, pJSON: (cfg.Mix.Short + cfg.Mix.JSON) / total,
		longBytes: cfg.LongBytes,
	}
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
	default:
		g.msg = simnode.AppendLine(g.msg[:0], g.src, g.seq, g.longBytes)
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
