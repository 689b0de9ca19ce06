package ship

import (
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
)

func TestTopicTemplateValidation(t *testing.T) {
	for _, tc := range []struct {
		name, topic string
		ok          bool
	}{
		{"namespace", `logs.{{ .Namespace }}`, true},
		{"label", `{{ with index .Labels "team" }}logs.{{ . }}{{ end }}`, true},
		{"printf small width", `{{ printf "logs.%-20s" .Namespace }}`, true},
		{"every long field", `{{ .Pod }}.{{ .Node }}.{{ .Owner.Name }}.{{ .Namespace }}`, true},
		{"printf huge width", `{{ printf "%01000000d" 1 }}`, false},
		{"printf width 250", `{{ printf "%250s" .Pod }}`, false},
		{"printf star", `{{ printf "%*d" 100000 1 }}`, false},
		{"printf precision", `{{ printf "%.1000000f" 1.0 }}`, false},
		{"printf widths add up", `{{ printf "` + strings.Repeat("%200d", 6) + `" 1 1 1 1 1 1 }}`, false},
		{"nested js", "{{ " + nestJS(11) + " }}", false},
		{"nested js under the bound", "{{ " + nestJS(3) + " }}", true},
		{"label repeated past the bound", `{{ .Pod }}{{ .Pod }}{{ .Pod }}{{ .Pod }}{{ .Pod }}`, false},
		{"label lookup repeated", strings.Repeat(`{{ .Labels.app }}`, 20), false},
		{"worst case in a branch", `{{ if .Labels.big }}{{ .Pod }}{{ .Pod }}{{ .Pod }}{{ .Pod }}{{ .Pod }}{{ end }}x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
			cfg.Kafka.Topic = tc.topic
			cfg.Kafka.FallbackTopic = "logs"
			err := cfg.Validate()
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "kafka.topic") ||
				!(strings.Contains(err.Error(), "renders more than") || strings.Contains(err.Error(), "printf format"))) {
				t.Errorf("want a refusal by the render bound, got %v", err)
			}
		})
	}
}

// nestJS is n calls of js nested around a backslash: each doubles it.
func nestJS(n int) string {
	s := `"\\"`
	for range n {
		s = "(js " + s + ")"
	}
	return s
}

// TestRouterBoundsRender: at run time a render that would pass
// maxTopicRender (a label value longer than the validation assumed) stops
// there and the record goes to the fallback topic, and the router keeps no
// buffer larger than a bounded render.
func TestRouterBoundsRender(t *testing.T) {
	r, err := newRouter(`{{ .Labels.app }}{{ .Labels.app }}`, "logs")
	if err != nil {
		t.Fatal(err)
	}
	big := &event.Meta{Labels: map[string]string{"app": strings.Repeat("a", 1<<20)}}
	if topic, fb := r.topic(big); topic != "logs" || !fb {
		t.Errorf("topic %q fallback %v, want the fallback", topic, fb)
	}
	if c := r.buf.Cap(); c > 4*maxTopicRender {
		t.Errorf("router buffer capacity %d after a refused render, want at most %d", c, 4*maxTopicRender)
	}
	ok := &event.Meta{Labels: map[string]string{"app": "a"}}
	if topic, fb := r.topic(ok); topic != "aa" || fb {
		t.Errorf("topic %q fallback %v, want aa", topic, fb)
	}
}

func TestCheckFormat(t *testing.T) {
	for format, ok := range map[string]bool{
		"logs.%s": true, "%%%d": true, "%-249s": true, "%.3s": true, "%[1]s": true, "%v%v": true,
		"%250d": false, "%01000000d": false, "%*d": false, "%.*f": false, "%.1000f": false,
	} {
		if err := checkFormat(format); (err == nil) != ok {
			t.Errorf("checkFormat(%q) = %v, want ok %v", format, err, ok)
		}
	}
}

// FuzzBoundedPrintf: whatever the format and arguments, the printf of a
// topic template returns an error or at most maxTopicRender bytes, and a
// format checkFormat refuses is never formatted.
func FuzzBoundedPrintf(f *testing.F) {
	f.Add("logs.%s", "ns", 1)
	f.Add("%01000000d", "", 1)
	f.Add("%[2]*[1]d", "x", 1000000)
	f.Add("%-249s%-249s%-249s%-249s%-249s", "a", 3)
	f.Fuzz(func(t *testing.T, format, s string, n int) {
		out, err := boundedPrintf(format, s, n, s)
		if err == nil && len(out) > maxTopicRender {
			t.Fatalf("printf %q gave %d bytes", format, len(out))
		}
		if checkFormat(format) != nil && err == nil {
			t.Fatalf("printf %q formatted though its format was refused", format)
		}
	})
}
