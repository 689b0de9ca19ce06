package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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
		HTTP:            HTTPConfig{Listen: ":2020"},
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
// naming its field path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(data, os.LookupEnv)
}

// ParseConfig is LoadConfig over bytes already read; lookup resolves
// ${NAME} references (os.LookupEnv in the agent).
func ParseConfig(data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	cfg.NodeName = expandEnv(cfg.NodeName, lookup)

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if len(root.Content) == 0 {
		// An empty file: all defaults.
		cfg.apply()
		return cfg, cfg.Validate()
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return Config{}, fmt.Errorf("config: the document must be a mapping of keys (line %d)", root.Content[0].Line)
	}
	// A sink section names the sinks it wants: the default kafka sink is
	// not merged into `file:`. A named kafka sink starts from its defaults.
	sinkKeys := map[string]bool{}
	if sink := lookupKey(root.Content[0], "sink"); sink != nil && sink.Kind == yaml.MappingNode {
		cfg.Sink = ship.Config{}
		for i := 0; i+1 < len(sink.Content); i += 2 {
			sinkKeys[sink.Content[i].Value] = true
		}
		if sinkKeys["kafka"] {
			k := ship.DefaultKafkaConfig()
			cfg.Sink.Kafka = &k
		}
	}

	// Lines of the file as written, by field path, for error messages.
	origLines := map[string]int{}
	for line, path := range indexPaths(&root) {
		if old, ok := origLines[path]; !ok || line < old {
			origLines[path] = line
		}
	}
	expandNode(&root, lookup)
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// Decode strictly (unknown keys are errors) from the expanded document.
	var tree yaml.Node
	if err := yaml.Unmarshal(expanded, &tree); err != nil {
		return Config{}, fmt.Errorf("config after ${ENV} expansion: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, decodeError(err, indexPaths(&tree), origLines)
	}
	if sinkKeys["stdout"] && cfg.Sink.Stdout == nil {
		cfg.Sink.Stdout = &ship.StdoutConfig{} // `stdout:` with nothing after it
	}
	cfg.apply()
	return cfg, cfg.Validate()
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

var (
	lineRef      = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type .*$`)
)

// decodeError turns yaml's "line N: ..." messages into messages that name
// the field path and the line of the file as written
// (`logs.max_line_bytes: cannot unmarshal ... (line 7)`).
func decodeError(err error, paths map[int]string, origLines map[string]int) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config: %w", err)
	}
	var errs []error
	for _, msg := range te.Errors {
		m := lineRef.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, errors.New(msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		reason := m[2]
		if unknownField.MatchString(reason) {
			reason = "unknown key"
		}
		p, ok := paths[line]
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s", reason))
			continue
		}
		if l, ok := origLines[p]; ok {
			errs = append(errs, fmt.Errorf("%s: %s (line %d)", p, reason, l))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", p, reason))
		}
	}
	return errors.Join(errs...)
}

// indexPaths maps each line holding a mapping key or a sequence item to the
// dotted path of that key (`logs.include[0]`).
func indexPaths(root *yaml.Node) map[int]string {
	out := map[int]string{}
	var walk func(n *yaml.Node, prefix string)
	// A key names its line; a sequence item only a line no key is on.
	set := func(line int, p string, key bool) {
		if _, ok := out[line]; !ok || key {
			out[line] = p
		}
	}
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				set(k.Line, p, true)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", prefix, i)
				set(c.Line, p, false)
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}

// Validate reports every problem of the configuration at once, each naming
// its field path and the reason.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.StateDir == "" {
		add("state_dir", "must not be empty")
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "must be > 0, got %s", c.ShutdownTimeout)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		add("log.level", "%v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if c.Memory.QueueBytes < 64<<10 {
		add("memory.queue_bytes", "must be at least 65536, got %d", c.Memory.QueueBytes)
	}
	if c.Logs.MaxLineBytes > 0 && c.Memory.QueueBytes > 0 && int64(c.Logs.MaxLineBytes) > c.Memory.QueueBytes {
		add("logs.max_line_bytes", "must not exceed memory.queue_bytes (%d)", c.Memory.QueueBytes)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		add("http.listen", "must be host:port, got %q", c.HTTP.Listen)
	}
	errs = append(errs, prefixed("logs", c.Logs.Validate())...)
	errs = append(errs, prefixed("kubernetes", c.Kubernetes.Validate())...)
	errs = append(errs, prefixed("processing", c.Processing.Validate())...)
	errs = append(errs, prefixed("hostmetrics", c.HostMetrics.Validate())...)
	errs = append(errs, prefixed("sink", c.Sink.Validate())...)
	return errors.Join(errs...)
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
	c.Kubernetes.Annotations = processingAnnotations(c.Kubernetes.Annotations, c.Processing)
}
