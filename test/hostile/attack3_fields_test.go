package hostile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/process"
)

// TestAttackFieldsRepeatedKeysBeyondSixteen: parsed keys are kept unique
// through a map beyond 16 fields. Lines of up to 60 keys drawn from 30
// names (so repeats before and after the 16th field, and a key first seen
// beyond it repeated), in JSON and logfmt: every record must hold each
// key once, in the order first seen, with the value written last (as a
// JSON decoder keeps it) - the shipped fields are what a user queries.
func TestAttackFieldsRepeatedKeysBeyondSixteen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, format := range []string{"json", "logfmt"} {
		cfg := process.DefaultConfig()
		cfg.Parser.Format = format
		cfg.Parser.MessageKeys, cfg.Parser.LevelKeys = []string{"nomsg"}, []string{"nolevel"}
		p, err := process.New(cfg, nil, process.Options{Acker: nopAck{}})
		must(t, err)
		for n := 0; n < 300; n++ {
			keys := 1 + rng.IntN(60)
			var order []string
			last := map[string]string{}
			var parts []string
			for i := 0; i < keys; i++ {
				k := fmt.Sprintf("k%d", rng.IntN(30))
				v := fmt.Sprintf("v%d_%d", n, i)
				if _, ok := last[k]; !ok {
					order = append(order, k)
				}
				last[k] = v
				if format == "json" {
					parts = append(parts, fmt.Sprintf("%q:%q", k, v))
				} else {
					parts = append(parts, k+"="+v)
				}
			}
			line := strings.Join(parts, " ")
			if format == "json" {
				line = "{" + strings.Join(parts, ",") + "}"
				var ref map[string]string
				must(t, json.Unmarshal([]byte(line), &ref))
				for k, v := range ref {
					if last[k] != v {
						t.Fatalf("reference: %s=%s, json has %s", k, last[k], v)
					}
				}
			}
			out := p.Process([]event.Log{{Body: []byte(line), Cursor: event.Cursor{Source: 1, Offset: int64(n + 1)}}})
			if len(out) != 1 {
				t.Fatalf("%d records", len(out))
			}
			var got []string
			for _, f := range out[0].Fields {
				got = append(got, f.Key+"="+f.Value)
			}
			var want []string
			for _, k := range order {
				want = append(want, k+"="+last[k])
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("%s line of %d keys:\n%s\nfields %v\nwant   %v", format, keys, line, got, want)
			}
		}
	}
}
