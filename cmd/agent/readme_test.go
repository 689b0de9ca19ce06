package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

// readmeConfig returns the annotated config block of the README.
func readmeConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- config-reference -->\\s*```yaml\\n(.*?)```")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatal("README has no config reference block")
	}
	return m[1]
}

// keyPaths lists every mapping key path of a YAML document.
func keyPaths(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Tag == "!!null" {
					continue // file: null, stdout: null
				}
				p := strings.TrimPrefix(prefix+"."+k.Value, ".")
				out[p] = true
				walk(v, p)
			}
		}
	}
	walk(&root, "")
	return out
}

// TestREADMEConfigReference keeps the README's config block true: it is a
// valid config, its values are the defaults (but the brokers, which every
// cluster must name), and it names every key the agent knows.
func TestREADMEConfigReference(t *testing.T) {
	block := readmeConfig(t)
	lookup := env(map[string]string{"NODE_NAME": "node-1"})
	got, err := ParseConfig(block, lookup)
	if err != nil {
		t.Fatalf("the README's config does not validate:\n%v", err)
	}
	want := DefaultConfig()
	want.NodeName = "node-1"
	want.Sink.Kafka.Brokers = []string{"kafka-0.kafka:9092"}
	want.apply()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the README's values differ from the defaults (-default +README):\n%s", diff)
	}

	defaults, err := yaml.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	documented := keyPaths(t, block)
	for p := range keyPaths(t, defaults) {
		if !documented[p] {
			t.Errorf("config key %s is not in the README's reference", p)
		}
	}
	for _, alt := range []string{"# file: {path:", "# stdout: {}"} {
		if !strings.Contains(string(block), alt) {
			t.Errorf("the README's reference does not show the %q sink", alt)
		}
	}
}
