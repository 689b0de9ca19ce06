package process

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the processing section of the agent's config. The zero value
// and DefaultConfig both process nothing: lines pass through untouched.
type Config struct {
	// Multiline groups the lines of a stack trace into one record.
	Multiline MultilineConfig `yaml:"multiline"`
	// Parser turns a message into structured fields.
	Parser ParserConfig `yaml:"parser"`
	// Filters drop or keep records. Default: none.
	Filters []FilterRule `yaml:"filters"`
	// FilterDefault is what happens to a record no filter matched: keep or
	// drop. Default: keep.
	FilterDefault string `yaml:"filter_default"`
	// Redact masks secrets in the message and in parsed fields.
	Redact RedactConfig `yaml:"redact"`
	// Annotations says which pod annotations are honoured.
	Annotations AnnotationConfig `yaml:"annotations"`
}

// MultilineConfig configures multiline grouping.
type MultilineConfig struct {
	// Rule is the rule every container gets unless an annotation chooses
	// another: "" (none), java, python, go, ruby, nodejs, dotnet, or the name
	// of a custom rule. Default: "".
	Rule string `yaml:"rule"`
	// Custom rules, usable by name in Rule and in annotations. Default: none.
	Custom []CustomRule `yaml:"custom"`
	// FlushTimeout is how long a group waits for its next line before it is
	// sent as it is. Default: 1s.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// MaxLines caps a group; the next line starts a new group, and the cut
	// one is flagged truncated and counted. Default: 1000.
	MaxLines int `yaml:"max_lines"`
	// MaxBytes caps a group's message (lines plus newlines) the same way.
	// The agent refuses more than two thirds of the sink's
	// max_message_bytes less 4 KiB (room for JSON escapes and the
	// record's metadata). Default: 524288 (512 KiB).
	MaxBytes int `yaml:"max_bytes"`
}

// CustomRule is a multiline rule made of regular expressions (RE2 syntax).
// With Start only, a line matching Start begins a group and any other line
// continues it. With Continuation only, a line matching it continues the
// group and any other line begins one. With both, a line matching neither
// begins a group of its own. Negate inverts the one pattern given (not
// allowed with both).
type CustomRule struct {
	Name         string `yaml:"name"`
	Start        string `yaml:"start"`
	Continuation string `yaml:"continuation"`
	Negate       bool   `yaml:"negate"`
}

// ParserConfig configures the parsing of messages into fields.
type ParserConfig struct {
	// Format is "" (none), json, logfmt or regex. Default: "".
	Format string `yaml:"format"`
	// Regex is the expression for format regex (and for annotations that
	// choose regex); its named groups become fields. Default: "".
	Regex string `yaml:"regex"`
	// KeepOriginal keeps the whole line as the message, beside the parsed
	// fields: every record then carries its line twice (the bytes shipped,
	// compressed and stored for a JSON line about double). When false, the
	// message becomes the first of MessageKeys found among the parsed fields
	// (removed from them, so nothing is carried twice), and stays the whole
	// line when none is found. Default: false, as Fluent Bit's parser
	// filter drops the field it parsed unless told to keep it.
	KeepOriginal bool `yaml:"keep_original"`
	// MessageKeys: see KeepOriginal. Default: [message, msg].
	MessageKeys []string `yaml:"message_keys"`
	// LevelKeys are the parsed fields that hold the severity; the first found
	// is normalised into the record's level. Default: [level, lvl, severity,
	// loglevel].
	LevelKeys []string `yaml:"level_keys"`
	// DetectLevel looks for a severity at the head of lines that have no
	// level field (ERROR, [warn], W1204 klog headers, ...). Default: false.
	DetectLevel bool `yaml:"detect_level"`
}

// FilterRule drops or keeps the records it matches. Every condition given
// must hold; a rule with none is invalid. Rules are tried in order; the
// first that matches decides.
type FilterRule struct {
	// Name labels the rule's drops in ferry_process_dropped_total{rule}.
	Name string `yaml:"name"`
	// Action is drop or keep.
	Action     string            `yaml:"action"`
	Namespaces []string          `yaml:"namespaces"`
	Labels     map[string]string `yaml:"labels"` // pod labels, all equal
	Containers []string          `yaml:"containers"`
	Stream     string            `yaml:"stream"`  // stdout or stderr
	Levels     []string          `yaml:"levels"`  // normalised levels
	Message    string            `yaml:"message"` // regular expression on the record's message (after parsing: the message field the parser took, unless keep_original)
}

// RedactConfig configures masking.
type RedactConfig struct {
	// Builtins names built-in rules: bearer, api_key, aws_key, jwt, card,
	// email. Default: none.
	Builtins []string `yaml:"builtins"`
	// Custom rules. A named group "secret" in the pattern masks only that
	// group; otherwise the whole match is masked. Default: none.
	Custom []RedactRule `yaml:"custom"`
	// Replacement is what a secret becomes. Default: "[REDACTED]".
	Replacement string `yaml:"replacement"`
}

// RedactRule is one custom masking rule.
type RedactRule struct {
	Name    string `yaml:"name"`
	Pattern string `yaml:"pattern"`
}

// AnnotationConfig says which pod annotations may change processing. The
// agent adds the honoured keys to the annotations enrichment reads (so
// they are also shipped with the records of their pods).
type AnnotationConfig struct {
	// Prefix of the annotation keys. Default: ferry.dev.
	Prefix string `yaml:"prefix"`
	// Multiline honours <prefix>/multiline and <prefix>/multiline-<container>
	// (a rule name, or "none"). Default: false.
	Multiline bool `yaml:"multiline"`
	// Parser honours <prefix>/parser and <prefix>/parser-<container> (json,
	// logfmt, regex, or "none"). Default: false.
	Parser bool `yaml:"parser"`
	// Exclude honours <prefix>/exclude-stdout and <prefix>/exclude-stderr
	// ("true": that stream of every container of the pod is dropped).
	// Default: false.
	Exclude bool `yaml:"exclude"`
}

// DefaultConfig returns the defaults: nothing is processed.
func DefaultConfig() Config {
	return Config{
		Multiline: MultilineConfig{FlushTimeout: time.Second, MaxLines: 1000, MaxBytes: 512 << 10},
		Parser: ParserConfig{MessageKeys: []string{"message", "msg"},
			LevelKeys: []string{"level", "lvl", "severity", "loglevel"}},
		FilterDefault: "keep",
		Redact:        RedactConfig{Replacement: "[REDACTED]"},
		Annotations:   AnnotationConfig{Prefix: "ferry.dev"},
	}
}

// Enabled reports whether the configuration processes anything. When it
// does not, the agent leaves the stage out of the pipeline.
func (c Config) Enabled() bool {
	return c.Multiline.Rule != "" || c.Parser.Format != "" || c.Parser.DetectLevel ||
		len(c.Filters) > 0 || c.FilterDefault == "drop" ||
		len(c.Redact.Builtins) > 0 || len(c.Redact.Custom) > 0 ||
		c.Annotations.Multiline || c.Annotations.Parser || c.Annotations.Exclude
}

// AnnotationPatterns returns the annotation keys (globs) enrichment must
// expose on the records' metadata for the honoured annotations.
func (c Config) AnnotationPatterns() []string {
	var out []string
	p := c.Annotations.Prefix
	if c.Annotations.Multiline {
		out = append(out, p+"/multiline", p+"/multiline-*")
	}
	if c.Annotations.Parser {
		out = append(out, p+"/parser", p+"/parser-*")
	}
	if c.Annotations.Exclude {
		out = append(out, p+"/exclude-stdout", p+"/exclude-stderr")
	}
	return out
}

var (
	ruleName  = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$`)
	prefixRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	levelSet  = []string{"trace", "debug", "info", "warn", "error", "fatal"}
	formatSet = []string{"", "json", "logfmt", "regex"}
)

// Validate reports every problem at once, each naming its field path.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	compile := func(field, expr string) *regexp.Regexp {
		re, err := regexp.Compile(expr)
		if err != nil {
			add(field, "invalid regular expression: %v", err)
		}
		return re
	}

	ml := c.Multiline
	custom := map[string]bool{}
	for i, r := range ml.Custom {
		f := fmt.Sprintf("multiline.custom[%d]", i)
		switch {
		case !ruleName.MatchString(r.Name):
			add(f+".name", "must be lower-case letters, digits, - or _, got %q", r.Name)
		case builtinRules[r.Name] != nil || r.Name == "none":
			add(f+".name", "%q is a built-in rule", r.Name)
		case custom[r.Name]:
			add(f+".name", "%q is defined twice", r.Name)
		}
		custom[r.Name] = true
		if r.Start == "" && r.Continuation == "" {
			add(f, "needs start, continuation or both")
		}
		if r.Start != "" && r.Continuation != "" && r.Negate {
			add(f+".negate", "only with one of start or continuation")
		}
		if r.Start != "" {
			compile(f+".start", r.Start)
		}
		if r.Continuation != "" {
			compile(f+".continuation", r.Continuation)
		}
	}
	if ml.Rule != "" && builtinRules[ml.Rule] == nil && !custom[ml.Rule] {
		add("multiline.rule", "unknown rule %q (built-in: %s; or a custom rule's name)", ml.Rule, strings.Join(builtinNames(), ", "))
	}
	if ml.FlushTimeout <= 0 {
		add("multiline.flush_timeout", "must be > 0, got %s", ml.FlushTimeout)
	}
	if ml.MaxLines < 2 {
		add("multiline.max_lines", "must be at least 2, got %d", ml.MaxLines)
	}
	if ml.MaxBytes < 1024 {
		add("multiline.max_bytes", "must be at least 1024, got %d", ml.MaxBytes)
	}

	p := c.Parser
	if !slices.Contains(formatSet, p.Format) {
		add("parser.format", "must be json, logfmt, regex or empty, got %q", p.Format)
	}
	if p.Regex != "" {
		if re := compile("parser.regex", p.Regex); re != nil && !hasNamedGroup(re) {
			add("parser.regex", "needs at least one named group (?P<name>...)")
		}
	}
	if p.Format == "regex" && p.Regex == "" {
		add("parser.regex", "required with format regex")
	}

	if c.FilterDefault != "keep" && c.FilterDefault != "drop" {
		add("filter_default", "must be keep or drop, got %q", c.FilterDefault)
	}
	names := map[string]bool{}
	for i, r := range c.Filters {
		f := fmt.Sprintf("filters[%d]", i)
		switch {
		case !ruleName.MatchString(r.Name):
			add(f+".name", "must be lower-case letters, digits, - or _, got %q", r.Name)
		case r.Name == "default" || r.Name == "annotation":
			add(f+".name", "%q is reserved", r.Name)
		case names[r.Name]:
			add(f+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		if r.Action != "drop" && r.Action != "keep" {
			add(f+".action", "must be drop or keep, got %q", r.Action)
		}
		if len(r.Namespaces) == 0 && len(r.Labels) == 0 && len(r.Containers) == 0 && r.Stream == "" &&
			len(r.Levels) == 0 && r.Message == "" {
			add(f, "needs at least one condition (namespaces, labels, containers, stream, levels, message)")
		}
		if r.Stream != "" && r.Stream != "stdout" && r.Stream != "stderr" {
			add(f+".stream", "must be stdout or stderr, got %q", r.Stream)
		}
		for j, l := range r.Levels {
			if !slices.Contains(levelSet, l) {
				add(fmt.Sprintf("%s.levels[%d]", f, j), "must be one of %s, got %q", strings.Join(levelSet, ", "), l)
			}
		}
		if r.Message != "" {
			compile(f+".message", r.Message)
		}
	}

	rd := c.Redact
	seen := map[string]bool{}
	for i, b := range rd.Builtins {
		if builtinRedactions[b] == nil {
			add(fmt.Sprintf("redact.builtins[%d]", i), "unknown rule %q (known: %s)", b, strings.Join(redactNames(), ", "))
		}
		seen[b] = true
	}
	for i, r := range rd.Custom {
		f := fmt.Sprintf("redact.custom[%d]", i)
		switch {
		case !ruleName.MatchString(r.Name):
			add(f+".name", "must be lower-case letters, digits, - or _, got %q", r.Name)
		case builtinRedactions[r.Name] != nil || seen[r.Name]:
			add(f+".name", "%q is used twice or is a built-in", r.Name)
		}
		seen[r.Name] = true
		if r.Pattern == "" {
			add(f+".pattern", "must not be empty")
		} else if re := compile(f+".pattern", r.Pattern); re != nil && re.MatchString("") {
			add(f+".pattern", "must not match the empty string")
		}
	}
	if rd.Replacement == "" {
		add("redact.replacement", "must not be empty")
	}

	if !prefixRe.MatchString(c.Annotations.Prefix) || len(c.Annotations.Prefix) > 200 {
		add("annotations.prefix", "must be a DNS subdomain, got %q", c.Annotations.Prefix)
	}
	return errors.Join(errs...)
}

func hasNamedGroup(re *regexp.Regexp) bool {
	for _, n := range re.SubexpNames() {
		if n != "" {
			return true
		}
	}
	return false
}
