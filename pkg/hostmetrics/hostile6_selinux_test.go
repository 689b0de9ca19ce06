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

// TestHostile6SELinuxFlipsThroughSymlinkedRoots: the roots given as
// symlinks (as a hostPath mount may be), and an enforce file that flips
// between scrapes (setenforce): every scrape reports the mode of the
// moment, and enabled stays 1 (holds).
func TestHostile6SELinuxFlipsThroughSymlinkedRoots(t *testing.T) {
	real := t.TempDir()
	writeTree(t, real, map[string]string{
		"sys/fs/selinux/enforce": "1", "proc/1/attr/current": "system_u:system_r:init_t:s0\x00",
		"etc/selinux/config": "SELINUX=permissive\n",
	})
	link := filepath.Join(t.TempDir(), "host")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cfg := onlyKernelHungAndSELinux(link)
	for _, root := range []*string{&cfg.Proc, &cfg.Sys} {
		l := filepath.Join(t.TempDir(), filepath.Base(*root))
		if err := os.Symlink(*root, l); err != nil {
			t.Fatal(err)
		}
		*root = l
	}
	reg := prometheus.NewRegistry()
	if _, err := newCollector(cfg, nil, Options{Registerer: reg}, fixtureHooks(nil)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"1", "0", "1", "0"} {
		if err := os.WriteFile(filepath.Join(real, "sys", "fs", "selinux", "enforce"), []byte(mode), 0o644); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"node_selinux_enabled": 1, "node_selinux_config_mode": 0, "node_selinux_current_mode": float64(mode[0] - '0')}
		for name, w := range want {
			if got, ok := value(mfs, name); !ok || got != w {
				t.Errorf("enforce %s: %s = %v (present %v), want %v", mode, name, got, ok, w)
			}
		}
	}
}
