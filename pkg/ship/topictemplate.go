package ship

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/ferry-dev/ferry/pkg/event"
)

// maxTopicRender bounds what a topic template may produce: its output and
// every value one of its functions returns. A valid topic name is at most
// 249 bytes; the rest of the room is for templates whose longest renders
// (a pod name of 253 bytes) are invalid names that go to the fallback
// topic. A render that would pass it is stopped there: the record goes to
// kafka.fallback_topic (counted in ferry_ship_fallback_topic_records_total),
// and the validation refuses a template whose render for a pod with
// worst-case metadata (worstMeta) passes it.
const maxTopicRender = 1024

// maxPrintfWidth bounds a printf width or precision in a topic template: a
// width beyond a topic name's 249 bytes only makes the name invalid, and a
// width of 10^6 would allocate a megabyte per verb before any bound applies.
const maxPrintfWidth = 249

var (
	errTopicRender  = fmt.Errorf("renders more than %d bytes", maxTopicRender)
	errPrintfFormat = errors.New("printf format")
)

// boundedWriter refuses writes past maxTopicRender; text/template stops the
// execution at the first refused write.
type boundedWriter struct{ b *bytes.Buffer }

func (w boundedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > maxTopicRender {
		return 0, errTopicRender
	}
	return w.b.Write(p)
}

// topicFuncs replace the predefined functions of text/template whose result
// can be much longer than their arguments: printf (widths and precisions),
// and the escapers (js doubles a backslash, urlquery triples a '%', so
// nesting them grows a value exponentially). Each refuses a result longer
// than maxTopicRender; the others (print, index, slice, ...) return at most
// what they are given.
var topicFuncs = template.FuncMap{
	"printf":   boundedPrintf,
	"html":     bounded(template.HTMLEscaper),
	"js":       bounded(template.JSEscaper),
	"urlquery": bounded(template.URLQueryEscaper),
}

func bounded(f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if err := checkArgs(args); err != nil {
			return "", err
		}
		s := f(args...)
		if len(s) > maxTopicRender {
			return "", errTopicRender
		}
		return s, nil
	}
}

// checkArgs refuses string arguments that are together longer than
// maxTopicRender before any work is done on them.
func checkArgs(args []any) error {
	n := 0
	for _, a := range args {
		if s, ok := a.(string); ok {
			n += len(s)
		}
	}
	if n > maxTopicRender {
		return errTopicRender
	}
	return nil
}

func boundedPrintf(format string, args ...any) (string, error) {
	if err := checkFormat(format); err != nil {
		return "", err
	}
	if err := checkArgs(args); err != nil || len(format) > maxTopicRender {
		return "", errTopicRender
	}
	s := fmt.Sprintf(format, args...)
	if len(s) > maxTopicRender {
		return "", errTopicRender
	}
	return s, nil
}

// checkFormat refuses a printf format with a width or precision over
// maxPrintfWidth, or one taken from an argument ('*').
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		num := 0
	spec:
		for ; i < len(format); i++ {
			c := format[i]
			switch {
			case c >= '0' && c <= '9':
				num = min(num*10+int(c-'0'), maxPrintfWidth+1)
				if num > maxPrintfWidth {
					return fmt.Errorf("%w: width or precision over %d", errPrintfFormat, maxPrintfWidth)
				}
				continue
			case c == '*':
				return fmt.Errorf("%w: width or precision from an argument ('*')", errPrintfFormat)
			case c == '.' || c == '+' || c == '-' || c == '#' || c == ' ' || c == '[' || c == ']':
				num = 0
				continue
			}
			break spec // the verb
		}
	}
	return nil
}

func parseTopicTemplate(s string) (*template.Template, error) {
	return template.New("topic").Option("missingkey=zero").Funcs(topicFuncs).Parse(s)
}

// renderTopic executes t for m into buf (reset first), bounded by
// maxTopicRender.
func renderTopic(t *template.Template, buf *bytes.Buffer, m *event.Meta) error {
	buf.Reset()
	err := t.Execute(boundedWriter{buf}, m)
	if buf.Cap() > 4*maxTopicRender {
		*buf = bytes.Buffer{} // never keep more than a bounded render needs
	}
	return err
}

// worstMeta is the metadata of a pod whose every field is as long as
// Kubernetes allows (a label value 63 bytes, an image reference taken at
// 512), with a label, an annotation and a namespace label of 63 bytes under
// every name the template mentions, so that its lookups find values.
func worstMeta(t *template.Template) *event.Meta {
	long := func(n int) string { return strings.Repeat("x", n) }
	m := &event.Meta{
		Namespace: long(63), Pod: long(253), PodUID: long(36), Container: long(63),
		ContainerID: "containerd://" + long(64), Image: long(512), Node: long(253),
		Labels: map[string]string{}, Annotations: map[string]string{}, NamespaceLabels: map[string]string{},
		Owner: event.Owner{Kind: long(63), Name: long(253)},
	}
	var walk func(n parse.Node)
	name := func(s string) {
		for _, mp := range []map[string]string{m.Labels, m.Annotations, m.NamespaceLabels} {
			mp[s] = long(63)
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.FieldNode:
			for _, s := range n.Ident {
				name(s)
			}
		case *parse.ChainNode:
			walk(n.Node)
			for _, s := range n.Field {
				name(s)
			}
		case *parse.VariableNode:
			for _, s := range n.Ident[1:] {
				name(s)
			}
		case *parse.StringNode:
			if len(n.Text) <= 253 {
				name(n.Text)
			}
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Root)
		}
	}
	return m
}

// checkTopicRender executes the template for an empty metadata and for
// worstMeta and reports the first failure: an execution error or a render
// longer than maxTopicRender.
func checkTopicRender(t *template.Template) error {
	var buf bytes.Buffer
	if err := renderTopic(t, &buf, &event.Meta{Labels: map[string]string{}}); err != nil {
		return shortRenderError(err)
	}
	if err := renderTopic(t, &buf, worstMeta(t)); err != nil {
		return fmt.Errorf("for a pod with the longest metadata Kubernetes allows: %w", shortRenderError(err))
	}
	return nil
}

// shortRenderError drops the action text text/template puts in an
// execution error (the whole template, for one long printf) when the
// error is one of the bounds'.
func shortRenderError(err error) error {
	for _, b := range []error{errTopicRender, errPrintfFormat} {
		if errors.Is(err, b) {
			var cause error = err
			for u := errors.Unwrap(cause); u != nil; u = errors.Unwrap(cause) {
				cause = u
				if strings.HasPrefix(u.Error(), b.Error()) {
					break
				}
			}
			return cause
		}
	}
	return err
}
