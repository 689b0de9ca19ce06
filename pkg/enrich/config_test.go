package enrich

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // substrings, one per expected error
	}{
		{"defaults with node", func(*Config) {}, nil},
		{"disabled needs no node", func(c *Config) { c.Enabled = false; c.NodeName = "" }, nil},
		{"node required", func(c *Config) { c.NodeName = "" }, []string{"node_name: required"}},
		{"bad node", func(c *Config) { c.NodeName = "Node_1" }, []string{"node_name: \"Node_1\" is not a valid node name"}},
		{"empty pattern", func(c *Config) { c.Annotations = []string{"a/*", ""} }, []string{"annotations[1]: must not be empty"}},
		{"bad exclude key", func(c *Config) { c.ExcludeAnnotation = "not a key" }, []string{"exclude_annotation: "}},
		{"exclusion off", func(c *Config) { c.ExcludeAnnotation = "" }, nil},
		{"all numbers", func(c *Config) {
			c.SyncTimeout, c.MissWait, c.DeleteGrace, c.MaxDeletedPods, c.MaxParkedLines = 0, -1, -1, 0, -3
		}, []string{"sync_timeout: must be > 0", "miss_wait: must be >= 0", "delete_grace: must be >= 0",
			"max_deleted_pods: must be > 0", "max_parked_lines: must be > 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
enabled: true
kubeconfig: /etc/kube/config
annotations: ["app.kubernetes.io/*", "team"]
exclude_annotation: example.com/skip
namespace_labels: true
sync_timeout: 30s
miss_wait: 500ms
delete_grace: 2m
max_deleted_pods: 50
max_parked_lines: 100
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Enabled: true, Kubeconfig: "/etc/kube/config", Annotations: []string{"app.kubernetes.io/*", "team"},
		ExcludeAnnotation: "example.com/skip", NamespaceLabels: true, SyncTimeout: 30 * time.Second,
		MissWait: 500 * time.Millisecond, DeleteGrace: 2 * time.Minute, MaxDeletedPods: 50, MaxParkedLines: 100}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if err := yaml.Unmarshal([]byte("miss_wait: soon"), &c); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("bad duration: %v", err)
	}
	out, err := yaml.Marshal(DefaultConfig())
	if err != nil || !strings.Contains(string(out), "delete_grace: 1m0s") {
		t.Errorf("marshal: %v\n%s", err, out)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"app.kubernetes.io/*", "app.kubernetes.io/name", true},
		{"app.kubernetes.io/*", "app.kubernetes.io/", true},
		{"app.kubernetes.io/*", "xapp.kubernetes.io/name", false},
		{"*", "a/b/c", true},
		{"*/version", "app.kubernetes.io/version", true},
		{"*/version", "app.kubernetes.io/versions", false},
		{"team", "team", true},
		{"team", "teams", false},
		{"t?am", "team", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
