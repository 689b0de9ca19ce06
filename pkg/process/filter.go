package process

import (
	"regexp"
	"slices"

	"github.com/ferry-dev/ferry/pkg/event"
)

// noMeta stands for the metadata of a line that has none.
var noMeta event.Meta

// filter is a compiled FilterRule.
type filter struct {
	name       string
	drop       bool
	namespaces []string
	labels     map[string]string
	containers []string
	stream     int // -1: any
	levels     []string
	message    *regexp.Regexp
	n          int // drops since the counters were last flushed
}

func newFilter(r FilterRule) *filter {
	f := &filter{name: r.Name, drop: r.Action == "drop", namespaces: r.Namespaces, labels: r.Labels,
		containers: r.Containers, stream: -1, levels: r.Levels}
	switch r.Stream {
	case "stdout":
		f.stream = int(event.Stdout)
	case "stderr":
		f.stream = int(event.Stderr)
	}
	if r.Message != "" {
		f.message = regexp.MustCompile(r.Message)
	}
	return f
}

// match reports whether every condition of the rule holds for l.
func (f *filter) match(l *event.Log) bool {
	m := l.Meta
	if m == nil {
		m = &noMeta
	}
	if len(f.namespaces) > 0 && !slices.Contains(f.namespaces, m.Namespace) {
		return false
	}
	if len(f.containers) > 0 && !slices.Contains(f.containers, m.Container) {
		return false
	}
	for k, v := range f.labels {
		if got, ok := m.Labels[k]; !ok || got != v {
			return false
		}
	}
	if f.stream >= 0 && int(l.Stream) != f.stream {
		return false
	}
	if len(f.levels) > 0 && !slices.Contains(f.levels, l.Level) {
		return false
	}
	if f.message != nil && !f.message.Match(l.Body) {
		return false
	}
	return true
}
