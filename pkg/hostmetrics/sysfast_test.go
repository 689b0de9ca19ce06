//go:build linux

package hostmetrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/procfs/sysfs"
)

// mkTree makes the directories (ending in /) and files (with their
// content) under a new directory.
func mkTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		p = filepath.Join(root, p)
		if content == "/" {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// procfsNothing is whether procfs' sysfs package reports no thermal zone,
// no cooling device and no cpufreq under sys, without error.
func procfsNothing(t *testing.T, sys string) (thermal, cpufreq bool) {
	t.Helper()
	fs, err := sysfs.NewFS(sys)
	if err != nil {
		t.Fatal(err)
	}
	z, err1 := fs.ClassThermalZoneStats()
	d, err2 := fs.ClassCoolingDeviceStats()
	c, err3 := fs.SystemCpufreq()
	cpufreq = err3 == nil
	for _, s := range c {
		cpufreq = cpufreq && s.Name == "" // a CPU without cpufreq: an empty entry
	}
	return err1 == nil && err2 == nil && len(z) == 0 && len(d) == 0, cpufreq
}

// TestNoThermalNoCpufreq: where the shortcuts say there is nothing,
// procfs reports nothing either; where something is there, or they
// cannot tell, they leave it to procfs.
func TestNoThermalNoCpufreq(t *testing.T) {
	for _, tc := range []struct {
		name             string
		files            map[string]string
		thermal, cpufreq bool
	}{
		{"nothing", map[string]string{"class/thermal/": "/", "devices/system/cpu/cpu0/": "/",
			"devices/system/cpu/cpu1/topology/": "/", "devices/system/cpu/cpufreq/": "/",
			"devices/system/cpu/offline": "\n"}, true, true},
		{"look-alikes", map[string]string{"class/thermal/thermal_zoneX/": "/", "class/thermal/cooling_device": "",
			"devices/system/cpu/cpu1x/": "/", "devices/system/cpu/cpux/cpufreq/": "/", "devices/system/cpu/offline": ""}, true, true},
		{"a zone", map[string]string{"class/thermal/thermal_zone0/": "/", "devices/system/cpu/cpu0/": "/",
			"devices/system/cpu/offline": ""}, false, true},
		{"a cooling device", map[string]string{"class/thermal/cooling_device12/": "/"}, false, false},
		{"no CPU (procfs: an error)", map[string]string{"class/thermal/": "/", "devices/system/cpu/cpux/": "/",
			"devices/system/cpu/offline": ""}, true, false},
		{"cpufreq", map[string]string{"class/thermal/": "/", "devices/system/cpu/cpu3/cpufreq/": "/",
			"devices/system/cpu/offline": "\n"}, true, false},
		{"an offline CPU", map[string]string{"class/thermal/": "/", "devices/system/cpu/cpu0/": "/",
			"devices/system/cpu/offline": "1\n"}, true, false},
		{"no offline list", map[string]string{"class/thermal/": "/", "devices/system/cpu/cpu0/": "/"}, true, false},
		{"no directories", map[string]string{"x": ""}, false, false},
	} {
		sys := mkTree(t, tc.files)
		if got := noThermal(sys); got != tc.thermal {
			t.Errorf("%s: noThermal %v, want %v", tc.name, got, tc.thermal)
		}
		if got := noCpufreq(sys); got != tc.cpufreq {
			t.Errorf("%s: noCpufreq %v, want %v", tc.name, got, tc.cpufreq)
		}
		th, cf := procfsNothing(t, sys)
		if tc.thermal && !th || tc.cpufreq && !cf {
			t.Errorf("%s: nothing here, but procfs reports something (thermal nothing %v, cpufreq nothing %v)", tc.name, th, cf)
		}
		for c, nothing := range map[source]bool{&thermalZoneCollector{sys: sys}: tc.thermal, &cpufreqCollector{sys: sys}: tc.cpufreq} {
			var e emitter
			if err := c.collect(&e); nothing && (err != nil || len(e.samples) > 0) {
				t.Errorf("%s: %T reports %d samples, %v", tc.name, c, len(e.samples), err)
			}
		}
	}
	// This machine: the shortcuts agree with procfs.
	if _, err := os.Stat("/sys/class"); err == nil {
		th, cf := procfsNothing(t, "/sys")
		if noThermal("/sys") && !th || noCpufreq("/sys") && !cf {
			t.Errorf("/sys: shortcuts thermal %v cpufreq %v, procfs nothing %v %v", noThermal("/sys"), noCpufreq("/sys"), th, cf)
		}
	}
}

// FuzzGlobDigit holds globDigit to filepath.Match, on names a directory
// can hold (no slash).
func FuzzGlobDigit(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		if strings.Contains(name, "/") {
			return
		}
		for _, prefix := range []string{"cpu", "thermal_zone", "cooling_device"} {
			want, err := filepath.Match(prefix+"[0-9]*", name)
			if err != nil {
				t.Fatal(err)
			}
			if got := globDigit(name, prefix); got != want {
				t.Errorf("%q, %q: %v, filepath.Match %v", name, prefix, got, want)
			}
		}
	})
}
