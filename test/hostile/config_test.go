package hostile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestValidateHostileYAML feeds `ferry validate` (and `ferry run`) config
// files meant to hurt the parser: deep flow nesting, a billion-laughs
// alias bomb, a huge file, a file of one enormous scalar, NUL bytes,
// invalid UTF-8, a tab-indented mess, a key repeated many times. Each must
// be refused (exit 1) within 5 s, with a message, and without a panic.
func TestValidateHostileYAML(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent binary")
	}
	bin := e2eharness.Ferry(t)
	laughs := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	cases := map[string]string{
		"deep flow sequence": strings.Repeat("[", 16000) + strings.Repeat("]", 16000) + "\n",
		"deep flow mapping":  strings.Repeat("{a: ", 6000) + "1" + strings.Repeat("}", 6000) + "\n",
		"deep block":         deepBlock(2000),
		"billion laughs":     laughs,
		"huge":               "node_name: x\n# " + strings.Repeat("x", 10<<20) + "\n",
		"huge scalar":        "node_name: \"" + strings.Repeat("x", 31<<10) + "\"\n",
		"nul bytes":          "node_name: a\x00b\nsink: {kafka: {brokers: [\"a:1\"]}}\n",
		"invalid utf-8":      "node_name: \xff\xfe\nsink: {kafka: {brokers: [\"a:1\"]}}\n",
		"repeated key":       strings.Repeat("node_name: x\n", 2000),
		"many problems":      strings.Repeat("- x\n", 5000),
		"merge key":          "base: &b {level: info}\nlog:\n  <<: *b\n",
		"two documents":      "node_name: a\n---\nnode_name: b\n",
		"tag bomb":           strings.Repeat("!!map ", 3000) + "{}\n",
		"long key":           strings.Repeat("k", 30<<10) + ": 1\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			must(t, os.WriteFile(path, []byte(doc), 0o644))
			for _, sub := range []string{"validate", "run"} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				out, err := exec.CommandContext(ctx, bin, sub, "--config", path).CombinedOutput()
				timedOut := ctx.Err() != nil
				cancel()
				if timedOut {
					t.Errorf("%s: still running after 5 s", sub)
					continue
				}
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != 1 {
					t.Errorf("%s: %v, want exit 1; output %.300q", sub, err, out)
				}
				if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
					t.Errorf("%s: panicked: %.500s", sub, out)
				}
				if len(out) == 0 || len(out) > 64<<10 {
					t.Errorf("%s: %d bytes of output, want a bounded message", sub, len(out))
				}
			}
		})
	}
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return b.String()
}
