package process

import (
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHostile6KeyInsideASecretsValue: a secret's value that holds a key
// naming a secret again (token=token=..., password='x token=abcdef') was
// found twice, the second span inside the first, and masking panicked
// (slice bounds out of range): one such line crashed the agent, and again
// on every restart, since the line was never acknowledged. FuzzRedact
// found the first (testdata/fuzz/FuzzRedact/008596682120dc6b).
func TestHostile6KeyInsideASecretsValue(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Redact.Builtins = []string{"api_key"}
	for _, tc := range []struct{ in, want string }{
		{"token=token=00000", "token=[REDACTED]"},
		{"password='x token=abcdef' next", "password='[REDACTED]' next"},
		{`{"secret":"api_key: hunter22"}`, `{"secret":"[REDACTED]"}`},
		{"token=abcd token=efgh", "token=[REDACTED] token=[REDACTED]"},
	} {
		p, _ := newTest(t, cfg)
		out := p.Process(linesOf([]byte(tc.in), nil, event.Stdout))
		if len(out) != 1 || string(out[0].Body) != tc.want {
			t.Errorf("%q: %d records (%+v), want one: %q", tc.in, len(out), out, tc.want)
		}
	}
}
