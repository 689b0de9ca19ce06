package process

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/multiline")

// TestBuiltinRules groups real traces, as each runtime printed them
// (testdata/multiline/<rule>.log), and compares the records with
// <rule>.golden (records separated by a line "=====").
func TestBuiltinRules(t *testing.T) {
	for _, rule := range builtinNames() {
		t.Run(rule, func(t *testing.T) {
			in := readFile(t, filepath.Join("testdata/multiline", rule+".log"))
			cfg := DefaultConfig()
			cfg.Multiline.Rule = rule
			for _, batch := range []int{1, 3, 1000} {
				p, _ := newTest(t, cfg)
				var recs []string
				for _, r := range runAll(p, linesOf(in, nil, event.Stdout), batch) {
					recs = append(recs, string(r.Body))
				}
				got := strings.Join(recs, "\n=====\n") + "\n"
				golden := filepath.Join("testdata/multiline", rule+".golden")
				if *update && batch == 1 {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if diff := cmp.Diff(string(readFile(t, golden)), got); diff != "" {
					t.Errorf("batches of %d: records differ (-golden +got):\n%s", batch, diff)
				}
			}
		})
	}
}
