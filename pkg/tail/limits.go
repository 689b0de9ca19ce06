package tail

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate-limit policies.
const (
	// PolicyDefer stops reading a container's file while its budget is
	// spent: the file on disk is the buffer. Nothing is lost unless kubelet
	// rotates the file away before it is read (counted, reason
	// "rotated_unread").
	PolicyDefer = "defer"
	// PolicyDrop reads at full speed and drops the lines over the limit:
	// counted, and reported by one summary record per container per
	// summary_interval.
	PolicyDrop = "drop"
)

// RateLimitAnnotation is the pod annotation that overrides a pod's rate
// limit; see ParseRateLimit for its format.
const RateLimitAnnotation = "ferry.dev/rate-limit"

// RateLimit limits what one container's log files may emit. A zero rate is
// no limit on that dimension; a RateLimit with both rates zero limits
// nothing.
type RateLimit struct {
	// LinesPerSecond is the sustained rate of lines (newline-terminated
	// lines of the file: each CRI partial fragment counts). Default 0 (no
	// limit).
	LinesPerSecond float64 `yaml:"lines_per_second"`
	// BytesPerSecond is the sustained rate of file bytes. Default 0 (no
	// limit).
	BytesPerSecond float64 `yaml:"bytes_per_second"`
	// BurstLines is how many lines may be emitted at once after a quiet
	// time. Default (0): one second of LinesPerSecond.
	BurstLines int64 `yaml:"burst_lines"`
	// BurstBytes is how many bytes may be emitted at once after a quiet
	// time. Default (0): one second of BytesPerSecond.
	BurstBytes int64 `yaml:"burst_bytes"`
	// Policy is what happens over the limit: "defer" (stop reading until
	// the budget refills) or "drop" (drop and count). Default "defer".
	Policy string `yaml:"policy"`
}

// Limited says whether r limits anything.
func (r RateLimit) Limited() bool { return r.LinesPerSecond > 0 || r.BytesPerSecond > 0 }

func (r RateLimit) policy() string {
	if r.Policy == "" {
		return PolicyDefer
	}
	return r.Policy
}

func (r RateLimit) String() string {
	if !r.Limited() {
		return "none"
	}
	var parts []string
	if r.LinesPerSecond > 0 {
		parts = append(parts, "lines="+strconv.FormatFloat(r.LinesPerSecond, 'g', -1, 64))
	}
	if r.BytesPerSecond > 0 {
		parts = append(parts, "bytes="+strconv.FormatFloat(r.BytesPerSecond, 'g', -1, 64))
	}
	if r.BurstLines > 0 {
		parts = append(parts, "burst_lines="+strconv.FormatInt(r.BurstLines, 10))
	}
	if r.BurstBytes > 0 {
		parts = append(parts, "burst_bytes="+strconv.FormatInt(r.BurstBytes, 10))
	}
	return strings.Join(append(parts, "policy="+r.policy()), ",")
}

// Validate reports every problem, each naming its field.
func (r RateLimit) Validate() error {
	var errs []error
	if r.LinesPerSecond < 0 || math.IsNaN(r.LinesPerSecond) || math.IsInf(r.LinesPerSecond, 0) {
		errs = append(errs, errors.New("lines_per_second: must be a finite number >= 0"))
	}
	if r.BytesPerSecond < 0 || math.IsNaN(r.BytesPerSecond) || math.IsInf(r.BytesPerSecond, 0) {
		errs = append(errs, errors.New("bytes_per_second: must be a finite number >= 0"))
	}
	if r.BurstLines < 0 {
		errs = append(errs, errors.New("burst_lines: must be >= 0"))
	}
	if r.BurstBytes < 0 {
		errs = append(errs, errors.New("burst_bytes: must be >= 0"))
	}
	if p := r.Policy; p != "" && p != PolicyDefer && p != PolicyDrop {
		errs = append(errs, fmt.Errorf("policy: must be %q or %q, got %q", PolicyDefer, PolicyDrop, p))
	}
	return errors.Join(errs...)
}

// LimitsConfig sets the rate limits of containers (the `logs.rate_limit`
// section of the agent's config). The limit of a container is, first
// found: its pod's ferry.dev/rate-limit annotation, the first selector
// matching its pod's labels, its namespace's entry, the default. Each
// replaces the others whole.
type LimitsConfig struct {
	// Default applies to every container. Default: no limit.
	Default RateLimit `yaml:"default"`
	// Namespaces overrides Default for the containers of a namespace.
	// Default none.
	Namespaces map[string]RateLimit `yaml:"namespaces"`
	// Selectors override the namespace and the default for the pods whose
	// labels match, the first matching one applying. Pod labels come from
	// enrichment, like the annotation. Default none.
	Selectors []SelectorLimit `yaml:"selectors"`
	// PerPod limits each pod's containers together (an aggregate, on top
	// of each container's own limit). Default: no limit.
	PerPod RateLimit `yaml:"per_pod"`
	// PerNamespace limits each namespace's containers together (an
	// aggregate, on top of the pod's and the container's). Default: no
	// limit.
	PerNamespace RateLimit `yaml:"per_namespace"`
	// SummaryInterval is how often a container whose lines are dropped
	// (policy drop) gets one record saying how many. Default 10s.
	SummaryInterval time.Duration `yaml:"summary_interval"`
}

// SelectorLimit is the limit of the pods whose labels match.
type SelectorLimit struct {
	// MatchLabels are the labels a pod must all carry, with these values.
	// Required.
	MatchLabels map[string]string `yaml:"match_labels"`
	// Limit is their containers' limit.
	Limit RateLimit `yaml:"limit"`
}

func (s SelectorLimit) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (c LimitsConfig) validate() []error {
	var errs []error
	prefix := func(p string, err error) {
		if err == nil {
			return
		}
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("%s.%w", p, e))
		}
	}
	prefix("rate_limit.default", c.Default.Validate())
	prefix("rate_limit.per_pod", c.PerPod.Validate())
	prefix("rate_limit.per_namespace", c.PerNamespace.Validate())
	for ns, r := range c.Namespaces {
		if ns == "" {
			errs = append(errs, errors.New("rate_limit.namespaces: a namespace name is empty"))
		}
		prefix("rate_limit.namespaces."+ns, r.Validate())
	}
	for i, s := range c.Selectors {
		p := fmt.Sprintf("rate_limit.selectors[%d]", i)
		if len(s.MatchLabels) == 0 {
			errs = append(errs, fmt.Errorf("%s.match_labels: must name at least one label", p))
		}
		prefix(p+".limit", s.Limit.Validate())
	}
	if c.SummaryInterval <= 0 {
		errs = append(errs, errors.New("rate_limit.summary_interval: must be > 0"))
	}
	return errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// configured says whether any limit may apply.
func (c LimitsConfig) configured() bool {
	if c.Default.Limited() || c.PerPod.Limited() || c.PerNamespace.Limited() {
		return true
	}
	for _, r := range c.Namespaces {
		if r.Limited() {
			return true
		}
	}
	for _, s := range c.Selectors {
		if s.Limit.Limited() {
			return true
		}
	}
	return false
}

// ParseRateLimit parses the value of the ferry.dev/rate-limit annotation:
// "none" (no limit for this pod), or comma-separated key=value pairs:
//
//	lines=<lines per second>   bytes=<bytes per second>
//	burst_lines=<lines>        burst_bytes=<bytes>
//	policy=defer|drop
//
// Byte values take an optional suffix: k, M, G (powers of 1000) or Ki, Mi,
// Gi (powers of 1024). At least one of lines and bytes must be set. Keys
// not given take their defaults (no limit on that dimension, bursts of one
// second, policy defer): the annotation replaces the namespace's and the
// default limit whole. Example: "lines=1000,bytes=1Mi,policy=drop".
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return RateLimit{}, nil
	}
	q := clipQuoted(s) // in errors: an annotation may be 256 KiB
	var r RateLimit
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return RateLimit{}, fmt.Errorf("rate limit %q: %q is not key=value", q, clipQuoted(kv))
		}
		if seen[k] {
			return RateLimit{}, fmt.Errorf("rate limit %q: %s given twice", q, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "lines":
			r.LinesPerSecond, err = parseRate(v, false)
		case "bytes":
			r.BytesPerSecond, err = parseRate(v, true)
		case "burst_lines":
			var f float64
			f, err = parseRate(v, false)
			r.BurstLines = int64(f)
		case "burst_bytes":
			var f float64
			f, err = parseRate(v, true)
			r.BurstBytes = int64(f)
		case "policy":
			r.Policy = v
		default:
			return RateLimit{}, fmt.Errorf("rate limit %q: unknown key %q", q, clipQuoted(k))
		}
		if err != nil {
			return RateLimit{}, fmt.Errorf("rate limit %q: %s: %w", q, k, err)
		}
	}
	if err := r.Validate(); err != nil {
		return RateLimit{}, fmt.Errorf("rate limit %q: %w", q, err)
	}
	if !r.Limited() {
		return RateLimit{}, fmt.Errorf("rate limit %q: set lines or bytes (or say none)", q)
	}
	return r, nil
}

// clipQuoted shortens s for an error message: at most 64 bytes of it are
// quoted, then how long it was.
func clipQuoted(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", strings.ToValidUTF8(s[:64], ""), len(s))
}

// parseRate parses a positive number, with a unit suffix when bytes.
func parseRate(v string, bytes bool) (float64, error) {
	mult := 1.0
	if bytes {
		for _, u := range []struct {
			s string
			m float64
		}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}} {
			if strings.HasSuffix(v, u.s) {
				v, mult = strings.TrimSuffix(v, u.s), u.m
				break
			}
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) || f*mult > 1e15 {
		return 0, fmt.Errorf("%q is not a number > 0 (at most 1e15)", clipQuoted(v))
	}
	return f * mult, nil
}

// bucket is a token bucket: rate tokens a second, up to burst. A nil
// bucket limits nothing.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int64, now time.Time) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b <= 0 {
		b = max(rate, 1)
	}
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

func (b *bucket) refill(now time.Time) {
	if b == nil {
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// full says whether the bucket holds its burst (refilled to now): one made
// now would be the same. A nil bucket (no limit) is full.
func (b *bucket) full(now time.Time) bool {
	if b == nil {
		return true
	}
	b.refill(now)
	return b.tokens >= b.burst
}

// avail is the whole tokens there are (MaxInt64 without a limit).
func (b *bucket) avail() int64 {
	if b == nil {
		return math.MaxInt64
	}
	return int64(b.tokens)
}

// admits says whether n tokens may be taken at once: they are there, or
// the bucket is full. A full bucket lets a line longer than its burst
// through and goes into debt (its tokens below zero) for the excess, so
// over any time what it let through is at most rate x time plus the
// larger of its burst and one line: otherwise such a line (a stack trace
// over burst_bytes) could never pass, however quiet its container.
func (b *bucket) admits(n int64) bool {
	return b == nil || b.tokens >= float64(n) || b.tokens >= b.burst
}

// take spends n tokens, which must be admitted (see admits) or available.
func (b *bucket) take(n int64) {
	if b != nil {
		b.tokens -= float64(n)
	}
}

// quantum is the tokens worth waking up for: what read_interval refills
// (at least one, at most the burst), so a deferred file costs one read
// per read_interval, not one per line.
func (b *bucket) quantum(interval time.Duration) float64 {
	return min(b.burst, max(1, b.rate*interval.Seconds()))
}

// maxReadyWait bounds readyAt's wait: a rate of 1e-12 a second (valid,
// if absurd) would otherwise wait past what time.Duration holds, which
// converts to a time in the past, and the tailer looked again at once,
// for ever. After it the bucket is simply asked again.
const maxReadyWait = time.Hour

// readyAt is when the bucket holds the quantum again (now if it does), at
// most maxReadyWait from now.
func (b *bucket) readyAt(now time.Time, interval time.Duration) time.Time {
	if b == nil {
		return now
	}
	need := b.quantum(interval) - b.tokens
	if need <= 0 {
		return now
	}
	wait := need / b.rate * float64(time.Second)
	if !(wait < float64(maxReadyWait)) {
		return now.Add(maxReadyWait)
	}
	return now.Add(time.Duration(math.Ceil(wait)))
}
