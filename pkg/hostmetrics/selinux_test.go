package hostmetrics

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// onlyKernelHungAndSELinux is a config reading dir as /proc, /sys and the
// root, with only the kernel_hung and selinux collectors on.
func onlyKernelHungAndSELinux(dir string) Config {
	cfg := DefaultConfig()
	cfg.Proc, cfg.Sys, cfg.RootFS = filepath.Join(dir, "proc"), filepath.Join(dir, "sys"), dir
	cfg.Collectors = Collectors{KernelHung: true, SELinux: true}
	return cfg
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSELinuxAndKernelHungStates: what node_exporter reports in each state
// a host can be in, and a kernel without the hung-task counter is "no
// data" (success 0), not a failure logged as a warning.
func TestSELinuxAndKernelHungStates(t *testing.T) {
	for _, tc := range []struct {
		name            string
		files           map[string]string
		enabled         float64 // -2: absent
		config, current float64 // -2: absent
		hung            float64 // -1: absent
		hungSuccess     float64
		selinuxFails    bool // a root without sysfs: no answer (success 0, one warning)
	}{
		{name: "no selinuxfs, old kernel", files: map[string]string{"proc/1/stat": "", "sys/fs/cgroup/x": ""},
			enabled: 0, config: -2, current: -2, hung: -1, hungSuccess: 0},
		{name: "selinuxfs but init runs as kernel", files: map[string]string{
			"sys/fs/selinux/enforce": "0", "proc/1/attr/current": "kernel\x00", "proc/sys/kernel/hung_task_detect_count": "0\n"},
			enabled: 0, config: -2, current: -2, hung: 0, hungSuccess: 1},
		{name: "enforcing, configured enforcing", files: map[string]string{
			"sys/fs/selinux/enforce": "1", "proc/1/attr/current": "system_u:system_r:init_t:s0\x00",
			"etc/selinux/config": "SELINUX=\"enforcing\"\n", "proc/sys/kernel/hung_task_detect_count": "12\n"},
			enabled: 1, config: 1, current: 1, hung: 12, hungSuccess: 1},
		{name: "permissive now, configured disabled", files: map[string]string{
			"sys/fs/selinux/enforce": "0", "proc/1/attr/current": "system_u:system_r:init_t:s0",
			"etc/selinux/config": "# SELINUX=enforcing\nSELINUX=disabled\n"},
			enabled: 1, config: -1, current: 0, hung: -1, hungSuccess: 0},
		{name: "no config file", files: map[string]string{
			"sys/fs/selinux/enforce": "1", "proc/1/attr/current": "system_u:system_r:init_t:s0"},
			enabled: 1, config: -1, current: 1, hung: -1, hungSuccess: 0},
		{name: "no sysfs at the configured root", files: map[string]string{"proc/1/stat": ""},
			enabled: -2, config: -2, current: -2, hung: -1, hungSuccess: 0, selinuxFails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			logs := &recordHandler{}
			reg := prometheus.NewRegistry()
			_, err := newCollector(onlyKernelHungAndSELinux(dir), slog.New(logs), Options{Registerer: reg}, fixtureHooks(nil))
			if err != nil {
				t.Fatal(err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, want float64, absent bool, labels ...string) {
				t.Helper()
				got, ok := value(mfs, name, labels...)
				if absent {
					if ok {
						t.Errorf("%s = %v, want absent", name, got)
					}
					return
				}
				if !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
				}
			}
			check("node_selinux_enabled", tc.enabled, tc.enabled == -2)
			check("node_selinux_config_mode", tc.config, tc.config == -2)
			check("node_selinux_current_mode", tc.current, tc.current == -2)
			check("node_kernel_hung_tasks_total", tc.hung, tc.hung == -1)
			wantSuccess, wantWarnings := 1.0, 0
			if tc.selinuxFails {
				wantSuccess, wantWarnings = 0, 1
			}
			check("node_scrape_collector_success", wantSuccess, false, "collector", "selinux")
			check("node_scrape_collector_success", tc.hungSuccess, false, "collector", "kernel_hung")
			if n := logs.count(slog.LevelWarn); n != wantWarnings {
				t.Errorf("%d warnings logged, want %d", n, wantWarnings)
			}
		})
	}
}
