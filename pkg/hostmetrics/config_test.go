package hostmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"zero interval", func(c *Config) { c.Interval = 0 }, []string{"interval: must be > 0, got 0s"}},
		{"relative proc", func(c *Config) { c.Proc = "host/proc" }, []string{`proc: must be an absolute path, got "host/proc"`}},
		{"empty sys and rootfs", func(c *Config) { c.Sys, c.RootFS = "", "" }, []string{"sys: must not be empty", "rootfs: must not be empty"}},
		{"statfs timeout", func(c *Config) { c.Filesystem.StatfsTimeout = -1 }, []string{"filesystem.statfs_timeout: must be > 0, got -1ns"}},
		{"bad regexps", func(c *Config) {
			c.Filesystem.MountPointsExclude = "("
			c.Filesystem.FSTypesExclude = "["
			c.Diskstats.DeviceExclude = "*"
			c.Netdev.DeviceExclude = "(?<"
			c.VMStat.Fields = ")"
		}, []string{"filesystem.mount_points_exclude: not a regular expression", "filesystem.fs_types_exclude: not a regular expression",
			"diskstats.device_exclude: not a regular expression", "netdev.device_exclude: not a regular expression", "vmstat.fields: not a regular expression"}},
		{"held snapshots", func(c *Config) { c.MaxHeldSnapshots = 0 }, []string{"max_held_snapshots: must be >= 1, got 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
			if _, nerr := New(c, nil, Options{}); nerr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// TestConfigYAML decodes a section as the agent does (strictly) and checks
// durations and that omitted keys keep their defaults.
func TestConfigYAML(t *testing.T) {
	src := `
enabled: true
interval: 30s
proc: /host/proc
sys: /host/sys
rootfs: /host/root
collectors: {sockstat: false}
filesystem: {statfs_timeout: 1m30s}
max_held_snapshots: 2
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Interval = 30 * time.Second
	want.Proc, want.Sys, want.RootFS = "/host/proc", "/host/sys", "/host/root"
	want.Filesystem.StatfsTimeout = 90 * time.Second
	want.MaxHeldSnapshots = 2
	// yaml.v3 decodes into the existing struct: collectors not named keep
	// their default (true).
	want.Collectors = DefaultConfig().Collectors
	want.Collectors.Sockstat = false
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("decoded config (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	var bad Config
	err := yaml.Unmarshal([]byte("interval: fast\n"), &bad)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad duration: %v, want an error naming line 1", err)
	}
	b, err := yaml.Marshal(DefaultConfig())
	if err != nil || !strings.Contains(string(b), "interval: 15s") {
		t.Errorf("marshal: %v\n%s", err, b)
	}
}
