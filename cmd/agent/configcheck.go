package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits of what the agent agrees to read as a config file. A config is a
// few KiB (the README's full reference is about 7 KiB); these bounds keep a
// hostile or broken ConfigMap from costing the node memory or CPU.
const (
	// maxConfigBytes caps the file. The worst input measured (a flow list
	// of one-digit items under logs.include) costs about 800 bytes of
	// memory per input byte to parse and check: 32 KiB stay well under
	// the 64 MiB that FuzzParseConfig allows.
	maxConfigBytes = 32 << 10
	// maxProblems caps the problems listed; the rest are counted.
	maxProblems = 50
)

// problem is one thing wrong with the config, at a field path (as the user
// wrote it: `logs.include[0]`) and, when known, a line of the file.
type problem struct {
	path string
	line int
	msg  string
}

func (p problem) Error() string {
	var b strings.Builder
	if p.path != "" {
		b.WriteString(p.path)
		b.WriteString(": ")
	} else {
		b.WriteString("config: ")
	}
	b.WriteString(p.msg)
	if p.line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.line)
	}
	return b.String()
}

// readBounded reads at most maxConfigBytes from r and refuses more.
func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("config: larger than %d bytes; a config file is a few KiB", maxConfigBytes)
	}
	return data, nil
}

// parseDocument checks the raw bytes (size, UTF-8) and parses exactly one
// YAML document. It returns nil for an empty file.
func parseDocument(data []byte) (*yaml.Node, error) {
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("config: larger than %d bytes; a config file is a few KiB", maxConfigBytes)
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:off], '\n')+1:off])
		return nil, fmt.Errorf("config: not valid UTF-8 at line %d, column %d (byte 0x%02x)", line, col, data[off])
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("config: a second YAML document starts at line %d; a config file holds one document", docLine(&next))
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("config: after the first document: %w", err)
	}
	return &root, nil
}

func docLine(n *yaml.Node) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0].Line
	}
	return n.Line
}

// schema walks a parsed document beside the Go type it decodes into and
// reports, from the nodes' own positions, every key the type does not have,
// every duplicate key, every alias, and every value that does not decode
// into its field's type. It also records the line of every path, for the
// messages of the validation that follows.
type schema struct {
	problems []problem
	lines    map[string]int
	// aliases is set when the document holds an alias: it is then never
	// decoded, so no alias is ever expanded.
	aliases bool
}

var durationType = reflect.TypeFor[time.Duration]()

func (s *schema) add(path string, line int, format string, args ...any) {
	s.problems = append(s.problems, problem{path: path, line: line, msg: fmt.Sprintf(format, args...)})
}

func (s *schema) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		s.aliases = true
		s.add(path, n.Line, "YAML aliases (*%s) are not supported: write the value out", n.Value)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			s.add(path, n.Line, "must be a mapping of keys, got %s", kindName(n))
			return
		}
		seen := map[string]int{}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if first, dup := seen[k.Value]; dup && k.Kind == yaml.ScalarNode {
				// Dropped from the document: the decoder refuses a whole
				// mapping with a duplicate, hiding every other problem.
				s.add(p, k.Line, "duplicate key (first at line %d)", first)
				continue
			}
			kept = append(kept, k, v)
			if k.Kind == yaml.AliasNode {
				s.aliases = true
				s.add(p, k.Line, "YAML aliases are not supported: write the value out")
				continue
			}
			if k.Kind != yaml.ScalarNode {
				s.add(path, k.Line, "keys must be plain words, got %s", kindName(k))
				continue
			}
			seen[k.Value] = k.Line
			if _, ok := s.lines[p]; !ok {
				s.lines[p] = k.Line
			}
			if k.Value == "<<" {
				s.add(p, k.Line, "YAML merge keys are not supported: write the keys out")
				if v.Kind == yaml.AliasNode {
					s.aliases = true
				}
				continue
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				s.add(p, k.Line, "unknown key")
				if a, ap := firstAlias(v, p); a != nil {
					s.aliases = true
					s.add(ap, a.Line, "YAML aliases (*%s) are not supported: write the value out", a.Value)
				}
				continue
			}
			s.walk(v, f.Type, p)
		}
		n.Content = kept
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		// A mapping of names (logs.rate_limit.namespaces) to values.
		if n.Kind != yaml.MappingNode {
			s.add(path, n.Line, "must be a mapping of names, got %s", kindName(n))
			return
		}
		seen := map[string]int{}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				if k.Kind == yaml.AliasNode {
					s.aliases = true
				}
				s.add(path, k.Line, "keys must be plain names, got %s", kindName(k))
				continue
			}
			p := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				s.add(p, k.Line, "duplicate key (first at line %d)", first)
				continue // dropped, as in a struct's mapping
			}
			kept = append(kept, k, v)
			seen[k.Value] = k.Line
			s.lines[p] = k.Line
			s.walk(v, t.Elem(), p)
		}
		n.Content = kept
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			s.add(path, n.Line, "must be a list, got %s", kindName(n))
			return
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			s.lines[p] = c.Line
			s.walk(c, t.Elem(), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			s.add(path, n.Line, "must be a single value, got %s", kindName(n))
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			s.add(path, n.Line, "%s", scalarReason(err, n, t))
		}
	}
}

// scalarReason says why a scalar does not decode into t, without the
// decoder's own "line N:" prefix (the problem carries the line).
func scalarReason(err error, n *yaml.Node, t reflect.Type) string {
	if t == durationType {
		return fmt.Sprintf("%q is not a duration (like 200ms, 5s, 1m)", n.Value)
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return err.Error()
}

// firstAlias finds the first alias under n (without following any), and
// its path.
func firstAlias(n *yaml.Node, path string) (*yaml.Node, string) {
	switch n.Kind {
	case yaml.AliasNode:
		return n, path
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if a, p := firstAlias(n.Content[i], path); a != nil {
				return a, p
			}
			if a, p := firstAlias(n.Content[i+1], join(path, n.Content[i].Value)); a != nil {
				return a, p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if a, p := firstAlias(c, fmt.Sprintf("%s[%d]", path, i)); a != nil {
				return a, p
			}
		}
	}
	return nil, ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return fmt.Sprintf("%s %q", n.ShortTag(), truncate(n.Value, 40))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// fieldByTag finds the field of struct t whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// lineOf returns the line of the longest prefix of path that the file
// names, or 0.
func (s *schema) lineOf(path string) int {
	for p := path; p != ""; {
		if l, ok := s.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// pathOf splits a validation message "a.b[0]: reason" into its path and
// reason; messages of the sections all have this shape.
var validationPath = regexp.MustCompile(`^([a-z0-9_]+(?:\[\d+\])?(?:\.[a-z0-9_]+(?:\[\d+\])?)*(?:, [a-z0-9_.]+)*): (.*)$`)

// asProblem turns a validation error into a problem with the line of its
// path in the file.
func (s *schema) asProblem(err error) problem {
	m := validationPath.FindStringSubmatch(err.Error())
	if m == nil {
		return problem{msg: err.Error()}
	}
	return problem{path: m[1], line: s.lineOf(m[1]), msg: m[2]}
}

// checkBroker reports what is wrong with a bootstrap address, or "".
func checkBroker(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q must be host:port (an IPv6 host in brackets: [::1]:9092)", addr)
	}
	if host == "" {
		return fmt.Sprintf("%q has no host", addr)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Sprintf("%q: host %q is not a host name or address", addr, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q: port must be a number from 1 to 65535, got %q", addr, port)
	}
	return ""
}

// bound is the accepted range of one interval or size.
type bound[T int | int64 | time.Duration] struct {
	path     string
	v        T
	min, max T
	// zeroOK: 0 means "the default" or "off" and is accepted.
	zeroOK bool
}

func (b bound[T]) check() string {
	if b.v == 0 && b.zeroOK {
		return ""
	}
	if b.v < b.min || b.v > b.max {
		return fmt.Sprintf("must be from %v to %v, got %v", b.min, b.max, b.v)
	}
	return ""
}

// checkTopicTemplate refuses the template actions a topic name does not
// need and that can make one execution arbitrarily long: range (over an
// integer it loops that many times), template, define and block. It
// returns "" for a plain name or an acceptable template.
func checkTopicTemplate(topic string) string {
	if !strings.Contains(topic, "{{") {
		return ""
	}
	if len(topic) > 1024 {
		return fmt.Sprintf("a template of %d bytes; a topic template is a name with a few fields", len(topic))
	}
	trees, err := parse.Parse("topic", topic, "", "", map[string]any{
		// The functions text/template predefines, so that parsing knows them.
		"and": nil, "call": nil, "html": nil, "index": nil, "slice": nil, "js": nil, "len": nil, "not": nil,
		"or": nil, "print": nil, "printf": nil, "println": nil, "urlquery": nil, "eq": nil, "ge": nil,
		"gt": nil, "le": nil, "lt": nil, "ne": nil,
	})
	if err != nil {
		return "" // the sink's own check says why
	}
	if len(trees) > 1 {
		return "a topic template must not define templates"
	}
	var bad string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if n == nil || bad != "" {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.RangeNode:
			bad = "range"
		case *parse.TemplateNode:
			bad = "template"
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	for _, t := range trees {
		walk(t.Root)
	}
	if bad != "" {
		return fmt.Sprintf("a topic template must not use {{%s}}", bad)
	}
	return ""
}
