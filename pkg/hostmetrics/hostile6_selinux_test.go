package hostmetrics

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHostile6SELinuxInitLabelUnreadable: from a pod, the host's
// <proc>/1/attr/current is not readable (the attr files need ptrace
// access to init, which a container with every capability dropped lacks:
// EACCES). node_exporter (go-selinux) takes SELinux for enabled when
// selinuxfs is mounted unless the label reads "kernel"; a label it cannot
// read is not "kernel". ferry reported node_selinux_enabled 0 on every
// SELinux host it runs on as the chart installs it. Here the label is a
// directory (root reads any file; EISDIR stands for EACCES).
func TestHostile6SELinuxInitLabelUnreadable(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"sys/fs/selinux/enforce": "1", "etc/selinux/config": "SELINUX=enforcing\n",
	})
	if err := os.MkdirAll(filepath.Join(dir, "proc", "1", "attr", "current"), 0o755); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logs := &recordHandler{}
	if _, err := newCollector(onlyKernelHungAndSELinux(dir), slog.New(logs), Options{Registerer: reg}, fixtureHooks(nil)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want float64
	}{{"node_selinux_enabled", 1}, {"node_selinux_config_mode", 1}, {"node_selinux_current_mode", 1}} {
		if got, ok := value(mfs, c.name); !ok || got != c.want {
			t.Errorf("%s = %v (present %v), want %v", c.name, got, ok, c.want)
		}
	}
}
