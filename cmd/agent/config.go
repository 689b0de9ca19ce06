package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/pipeline"
	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/hostmetrics"
	"github.com/ferry-dev/ferry/pkg/process"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// Config is the agent's whole configuration file. Each room owns its section;
// the agent owns the top-level keys and how they are handed to the rooms.
type Config struct {
	// NodeName is the Kubernetes node this agent runs on; the chart sets it
	// from the downward API through ${NODE_NAME}. Required when kubernetes
	// is enabled. Default: "${NODE_NAME}".
	NodeName string `yaml:"node_name"`
	// StateDir holds committed offsets (and nothing that cannot be rebuilt).
	// Default: /var/lib/ferry.
	StateDir string `yaml:"state_dir"`
	// ShutdownTimeout bounds the flush at SIGTERM; keep it below the pod's
	// terminationGracePeriodSeconds. Default: 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Log is the agent's own logging.
	Log LogConfig `yaml:"log"`
	// Memory bounds the agent's queues.
	Memory MemoryConfig `yaml:"memory"`
	// Logs configures the tailer (pkg/tail).
	Logs tail.Config `yaml:"logs"`
	// Kubernetes configures enrichment (pkg/enrich).
	Kubernetes enrich.Config `yaml:"kubernetes"`
	// Processing configures multiline, parsing, filters and redaction
	// (pkg/process); nothing by default.
	Processing process.Config `yaml:"processing"`
	// HostMetrics configures host metrics (pkg/hostmetrics).
	HostMetrics hostmetrics.Config `yaml:"hostmetrics"`
	// Sink configures where records go (pkg/ship); exactly one sink.
	Sink ship.Config `yaml:"sink"`
	// HTTP is the endpoint for /metrics, /healthz and /readyz.
	HTTP HTTPConfig `yaml:"http"`
}

// LogConfig configures the agent's own structured logs.
type LogConfig struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is json or text. Default: json.
	Format string `yaml:"format"`
}

// MemoryConfig is the agent's one global byte budget for queued data.
type MemoryConfig struct {
	// QueueBytes bounds the bytes of log lines read but not yet
	// acknowledged by the sink, across every file. When it is reached,
	// reading pauses (backpressure) and the files on disk are the buffer.
	// Default: 33554432 (32 MiB), fit for a 128 MiB container limit.
	QueueBytes int64 `yaml:"queue_bytes"`
}

// HTTPConfig configures the agent's HTTP endpoint.
type HTTPConfig struct {
	// Listen is the address to serve on. Default: ":2020".
	Listen string `yaml:"listen"`
	// MaxConnections caps the connections open at once. At the cap a new
	// connection takes the place of the one waiting longest (not in a
	// request), or is closed at accept when all are in a request; requests
	// other than /healthz and /readyz use at most seven eighths of the
	// slots, so probes always get one. Default: 64.
	MaxConnections int `yaml:"max_connections"`
	// Pprof serves Go's profiles under /debug/pprof/ on the same address
	// (heap, CPU, goroutines: what to attach to a report of the agent using
	// too much memory or CPU). Default: false.
	Pprof bool `yaml:"pprof"`
}

// DefaultConfig returns a configuration that fits a standard node, except
// for the sink's brokers, which every cluster must name.
func DefaultConfig() Config {
	return Config{
		NodeName:        "${NODE_NAME}",
		StateDir:        "/var/lib/ferry",
		ShutdownTimeout: 20 * time.Second,
		Log:             LogConfig{Level: "info", Format: "json"},
		Memory:          MemoryConfig{QueueBytes: 32 << 20},
		Logs:            tail.DefaultConfig(),
		Kubernetes:      enrich.DefaultConfig(),
		Processing:      process.DefaultConfig(),
		HostMetrics:     hostmetrics.DefaultConfig(),
		Sink:            ship.DefaultConfig(),
		HTTP:            HTTPConfig{Listen: ":2020", MaxConnections: 64},
	}
}

// envRef matches ${NAME}; a lone $ is left alone, so passwords with $ in
// them survive. $${NAME} escapes to a literal ${NAME}.
var envRef = regexp.MustCompile(`\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} by the value of the environment variable NAME
// (empty when unset; validation then names the field that needs it).
func expandEnv(s string, lookup func(string) (string, bool)) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "$$") {
			return m[1:]
		}
		v, _ := lookup(m[2 : len(m)-1])
		return v
	})
}

// expandNode expands ${NAME} in every scalar value of the document (never
// in keys). Expansion happens after parsing, so a value holding quotes,
// colons or newlines cannot change the document's structure. A plain
// (unquoted) scalar is re-typed after expansion, so `max_line_bytes:
// ${MAX}` can be a number; a quoted one stays a string.
func expandNode(n *yaml.Node, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = expandEnv(n.Value, lookup)
		if n.Style == 0 {
			n.Tag = ""
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expandNode(n.Content[i], lookup)
		}
	default:
		for _, c := range n.Content {
			expandNode(c, lookup)
		}
	}
}

// LoadConfig reads, expands and strictly decodes a config file over the
// defaults, then validates it. The error lists every problem found, each
// naming its field path and, when the file names it, its line. Files
// larger than maxConfigBytes are refused unread.
func LoadConfig(path string) (Config, error) {
	// Non-blocking, so that a FIFO in place of the file cannot hang the
	// agent; then only a regular file is read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Config{}, fmt.Errorf("read config %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	data, err := readBounded(f)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	return ParseConfig(data, os.LookupEnv)
}

// ParseConfig is LoadConfig over bytes already read; lookup resolves
// ${NAME} references (os.LookupEnv in the agent).
//
// Every problem is reported at once: unknown and duplicate keys and values
// of the wrong type are found by walking the parsed document beside the
// Config type (so their paths and lines come from the document's own
// positions, in block and flow style alike), and the fields that did
// decode are validated as well. Aliases, merge keys and a second document
// are refused; nothing is ever expanded.
func ParseConfig(data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	cfg.NodeName = expandEnv(cfg.NodeName, lookup)

	root, err := parseDocument(data)
	if err != nil {
		return Config{}, err
	}
	sc := &schema{lines: map[string]int{}}
	if root == nil || len(root.Content) == 0 {
		// An empty file: all defaults.
		cfg.apply()
		return cfg, sc.report(cfg.Validate())
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return Config{}, fmt.Errorf("config: the document must be a mapping of keys (line %d)", doc.Line)
	}
	// ${NAME} is expanded in the parsed values, so positions stay those of
	// the file as written.
	expandNode(doc, lookup)
	sc.walk(doc, reflect.TypeFor[Config](), "")
	if sc.aliases {
		// Never decoded: an alias is never expanded.
		return Config{}, sc.report(nil)
	}
	// A sink section names the sinks it wants: the default kafka sink is
	// not merged into `file:`. A named kafka sink starts from its defaults.
	sinkKeys := map[string]bool{}
	if sink := lookupKey(doc, "sink"); sink != nil && sink.Kind == yaml.MappingNode {
		cfg.Sink = ship.Config{}
		for i := 0; i+1 < len(sink.Content); i += 2 {
			sinkKeys[sink.Content[i].Value] = true
		}
		if sinkKeys["kafka"] {
			k := ship.DefaultKafkaConfig()
			cfg.Sink.Kafka = &k
		}
	}
	// Every value that the walk found wrong keeps its default.
	if len(sc.problems) == 0 {
		if err := doc.Decode(&cfg); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	} else {
		_ = doc.Decode(&cfg) // partial: the walk already named what failed
	}
	if sinkKeys["stdout"] && cfg.Sink.Stdout == nil {
		cfg.Sink.Stdout = &ship.StdoutConfig{} // `stdout:` with nothing after it
	}
	cfg.apply()
	if err := sc.report(cfg.Validate()); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// report joins the walk's problems with the validation's, each validation
// problem given the line of its path; a field whose value did not decode is
// reported once, by the walk. At most maxProblems are listed.
func (s *schema) report(validation error) error {
	all := append([]problem(nil), s.problems...)
	bad := map[string]bool{}
	for _, p := range s.problems {
		bad[p.path] = true
	}
	for _, e := range flatten(validation) {
		if e == nil {
			continue
		}
		p := s.asProblem(e)
		if p.path != "" && bad[p.path] {
			continue
		}
		all = append(all, p)
	}
	if len(all) == 0 {
		return nil
	}
	var errs []error
	for i, p := range all {
		if i == maxProblems {
			errs = append(errs, fmt.Errorf("config: %d more problems not listed", len(all)-maxProblems))
			break
		}
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

func lookupKey(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Validate reports every problem of the configuration at once, each naming
// its field path and the reason. Beyond each section's own checks, it holds
// every interval and size to a range that cannot hurt the node (a 1ns poll
// interval is a busy loop) and refuses combinations that cannot work.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.StateDir == "" {
		add("state_dir", "must not be empty")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		add("log.level", "%v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if c.Logs.MaxLineBytes > 0 && c.Memory.QueueBytes > 0 && int64(c.Logs.MaxLineBytes) > c.Memory.QueueBytes {
		add("logs.max_line_bytes", "must not exceed memory.queue_bytes (%d)", c.Memory.QueueBytes)
	}
	if k := c.Sink.Kafka; k != nil && c.Sink.File == nil && c.Sink.Stdout == nil &&
		k.MaxMessageBytes > 0 && c.Logs.MaxLineBytes > k.MaxMessageBytes {
		add("logs.max_line_bytes", "must not exceed sink.kafka.max_message_bytes (%d): a line that long could never be sent", k.MaxMessageBytes)
	}
	if k, ml := c.Sink.Kafka, c.Processing.Multiline; k != nil && c.Sink.File == nil && c.Sink.Stdout == nil && k.MaxMessageBytes > 0 &&
		(ml.Rule != "" || c.Processing.Annotations.Multiline) && ml.MaxBytes > multilineRoom(k.MaxMessageBytes) {
		add("processing.multiline.max_bytes", "must not exceed %d, two thirds of sink.kafka.max_message_bytes (%d) less 4 KiB: a group's record is its lines JSON-escaped (a tab, a newline, a quote take two bytes) inside the record's metadata, and a record over max_message_bytes is dropped whole (a trace cut at max_bytes goes on in the next record)",
			multilineRoom(k.MaxMessageBytes), k.MaxMessageBytes)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		add("http.listen", "must be host:port, got %q", c.HTTP.Listen)
	}
	errs = append(errs, prefixed("logs", c.Logs.Validate())...)
	errs = append(errs, prefixed("kubernetes", c.Kubernetes.Validate())...)
	errs = append(errs, prefixed("processing", c.Processing.Validate())...)
	errs = append(errs, prefixed("hostmetrics", c.HostMetrics.Validate())...)
	sink := c.Sink
	if k := sink.Kafka; k != nil {
		if msg := checkTopicTemplate(k.Topic); msg != "" {
			add("sink.kafka.topic", "%s", msg)
			// The sink's own check executes the template: not this one.
			kc := *k
			kc.Topic = "logs"
			sink.Kafka = &kc
		}
	}
	errs = append(errs, prefixed("sink", sink.Validate())...)
	if f := c.Sink.File; f != nil && f.Path != "" {
		if i, glob, ok := readBack(f.Path, c.Logs.Include, c.Logs.Exclude); ok {
			add("sink.file.path", "%q is matched by logs.include[%d] %q: the agent would read its own records back and write them again until the disk is full; write outside the include globs or add the path to logs.exclude", f.Path, i, glob)
		} else if live, ok := tail.LivePath(f.Path); ok {
			if i, glob, ok := readBack(live, c.Logs.Include, c.Logs.Exclude); ok {
				add("sink.file.path", "%q is named like a rotated copy of %q, which logs.include[%d] %q matches: the agent reads the rotated copies of the files it follows, so it would read its own records back; write elsewhere or add %q to logs.exclude", f.Path, live, i, glob, live)
			}
		}
	}

	// The agent's bounds, for the fields no section already refused.
	named := map[string]bool{}
	for _, e := range errs {
		if f, _, ok := strings.Cut(e.Error(), ": "); ok {
			named[f] = true
		}
	}
	more := func(path, msg string) {
		if msg != "" && !named[path] {
			named[path] = true
			add(path, "%s", msg)
		}
	}
	for _, b := range c.durationBounds() {
		more(b.path, b.check())
	}
	for _, b := range c.sizeBounds() {
		more(b.path, b.check())
	}
	if k := c.Sink.Kafka; k != nil {
		for i, b := range k.Brokers {
			more(fmt.Sprintf("sink.kafka.brokers[%d]", i), checkBroker(b))
		}
	}
	return errors.Join(errs...)
}

// readBack reports the first include glob that matches path (made absolute
// and clean) when no exclude glob does: a file sink there would be tailed.
func readBack(path string, include, exclude []string) (int, string, bool) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	for _, g := range exclude { // as the tailer matches them: the path or its base name
		if ok, _ := filepath.Match(g, path); ok {
			return 0, "", false
		}
		if ok, _ := filepath.Match(g, filepath.Base(path)); ok {
			return 0, "", false
		}
	}
	for i, g := range include {
		if ok, _ := filepath.Match(filepath.Clean(g), path); ok {
			return i, g, true
		}
	}
	return 0, "", false
}

// multilineRoom is the largest multiline.max_bytes whose records fit in
// max_message_bytes: room for JSON escapes (up to half again the bytes)
// and 4 KiB of metadata.
func multilineRoom(maxMessage int) int { return (maxMessage - 4096) * 2 / 3 }

// durationBounds are the accepted ranges of every interval and timeout.
func (c Config) durationBounds() []bound[time.Duration] {
	const ms, s, min, h = time.Millisecond, time.Second, time.Minute, time.Hour
	b := []bound[time.Duration]{
		{path: "shutdown_timeout", v: c.ShutdownTimeout, min: s, max: 10 * min},
		{path: "logs.read_interval", v: c.Logs.ReadInterval, min: 10 * ms, max: min},
		{path: "logs.poll_interval", v: c.Logs.PollInterval, min: 100 * ms, max: 10 * min},
		{path: "logs.rescan_interval", v: c.Logs.RescanInterval, min: 100 * ms, max: h},
		{path: "logs.commit_interval", v: c.Logs.CommitInterval, min: 100 * ms, max: 10 * min},
		{path: "logs.delete_wait", v: c.Logs.DeleteWait, min: 100 * ms, max: 24 * h},
		{path: "logs.rate_limit.summary_interval", v: c.Logs.RateLimit.SummaryInterval, min: 100 * ms, max: h},
		{path: "kubernetes.sync_timeout", v: c.Kubernetes.SyncTimeout, min: 100 * ms, max: 10 * min},
		{path: "kubernetes.miss_wait", v: c.Kubernetes.MissWait, min: 10 * ms, max: min, zeroOK: true},
		{path: "kubernetes.delete_grace", v: c.Kubernetes.DeleteGrace, min: s, max: 24 * h, zeroOK: true},
		{path: "hostmetrics.interval", v: c.HostMetrics.Interval, min: s, max: h},
		{path: "hostmetrics.filesystem.statfs_timeout", v: c.HostMetrics.Filesystem.StatfsTimeout, min: 100 * ms, max: min},
	}
	if k := c.Sink.Kafka; k != nil {
		b = append(b,
			bound[time.Duration]{path: "sink.kafka.batch.linger", v: k.Batch.Linger, min: ms, max: 10 * s, zeroOK: true},
			bound[time.Duration]{path: "sink.kafka.dial_timeout", v: k.DialTimeout, min: 100 * ms, max: 5 * min},
			bound[time.Duration]{path: "sink.kafka.write_timeout", v: k.WriteTimeout, min: 100 * ms, max: 5 * min},
			bound[time.Duration]{path: "sink.kafka.retry.backoff_min", v: k.Retry.BackoffMin, min: ms, max: min},
			bound[time.Duration]{path: "sink.kafka.retry.backoff_max", v: k.Retry.BackoffMax, min: ms, max: 10 * min},
		)
	}
	if f := c.Sink.File; f != nil {
		b = append(b, bound[time.Duration]{path: "sink.file.linger", v: f.Linger, min: ms, max: 10 * s, zeroOK: true})
	}
	if o := c.Sink.Stdout; o != nil {
		b = append(b, bound[time.Duration]{path: "sink.stdout.linger", v: o.Linger, min: ms, max: 10 * s, zeroOK: true})
	}
	return b
}

// sizeBounds are the accepted ranges of every size and count.
func (c Config) sizeBounds() []bound[int64] {
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	b := []bound[int64]{
		{path: "memory.queue_bytes", v: c.Memory.QueueBytes, min: 64 * kib, max: 16 * gib},
		{path: "logs.max_line_bytes", v: int64(c.Logs.MaxLineBytes), min: 1 * kib, max: 64 * mib},
		{path: "logs.read_bytes_per_turn", v: int64(c.Logs.ReadBytesPerTurn), min: 4 * kib, max: 64 * mib},
		{path: "logs.max_open_files", v: int64(c.Logs.MaxOpenFiles), min: 8, max: 1 << 20},
		{path: "kubernetes.max_deleted_pods", v: int64(c.Kubernetes.MaxDeletedPods), min: 1, max: 1_000_000},
		{path: "kubernetes.max_parked_lines", v: int64(c.Kubernetes.MaxParkedLines), min: 1, max: 10_000_000},
		{path: "hostmetrics.max_held_snapshots", v: int64(c.HostMetrics.MaxHeldSnapshots), min: 1, max: 1000},
		{path: "http.max_connections", v: int64(c.HTTP.MaxConnections), min: 4, max: 10_000},
	}
	if k := c.Sink.Kafka; k != nil {
		b = append(b,
			bound[int64]{path: "sink.kafka.batch.max_bytes", v: int64(k.Batch.MaxBytes), min: 1 * kib, max: 256 * mib},
			bound[int64]{path: "sink.kafka.max_message_bytes", v: int64(k.MaxMessageBytes), min: 1 * kib, max: 256 * mib},
		)
	}
	return b
}

// prefixed flattens a section's joined errors and puts the section's name
// in front of each field path.
func prefixed(section string, err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, prefixed(section, e)...)
		}
		return out
	}
	e := fmt.Errorf("%s.%w", section, err)
	for from, to := range renamed {
		if strings.HasPrefix(e.Error(), from+":") {
			e = fmt.Errorf("%s%s", to, strings.TrimPrefix(e.Error(), from))
		}
	}
	return []error{e}
}

// renamed maps the fields the agent hands to a section (yaml:"-" there) to
// the top-level keys the user actually wrote.
var renamed = map[string]string{
	"kubernetes.node_name":    "node_name",
	"logs.state_dir":          "state_dir",
	"logs.max_inflight_bytes": "memory.queue_bytes",
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// apply hands the top-level settings to the sections that need them.
func (c *Config) apply() {
	c.Logs.StateDir = c.StateDir
	c.Logs.MaxInflightBytes = c.Memory.QueueBytes
	c.Kubernetes.NodeName = c.NodeName
	c.Kubernetes.Annotations = pipeline.Annotations(c.Kubernetes.Annotations, c.Processing)
}

// pipeline is what the pipeline takes of the config (after apply).
func (c *Config) pipeline() pipeline.Config {
	return pipeline.Config{
		Logs: c.Logs, Kubernetes: c.Kubernetes, Processing: c.Processing, HostMetrics: c.HostMetrics, Sink: c.Sink,
		NodeName: c.NodeName, ShutdownTimeout: c.ShutdownTimeout,
	}
}
