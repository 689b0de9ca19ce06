//go:build linux

package hostmetrics

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Collectors that find nothing on most virtual machines (no cpufreq
// driver, no thermal zone) still cost procfs' sysfs package a
// filepath.Glob each (a directory opened through os.Open, read, sorted
// and matched) and, for cpufreq, an os.Open of the offline list: some
// 40-60 µs a collection on the reference machine for no series. These
// tell from one getdents64 listing (and for cpufreq the offline file and
// one stat per CPU, as procfs does) that procfs would report nothing;
// when they cannot tell, or something is there, procfs reads as before.

// globDigit is filepath.Match(prefix+"[0-9]*", name): name is prefix
// followed by a digit and anything.
func globDigit(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9'
}

// noThermal is whether <sys>/class/thermal has no thermal_zone[0-9]* and
// no cooling_device[0-9]*, for which procfs' ClassThermalZoneStats and
// ClassCoolingDeviceStats report nothing; false when it cannot tell.
func noThermal(sys string) bool {
	ents, err := listNetDevices(filepath.Join(sys, "class", "thermal"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if globDigit(e.name, "thermal_zone") || globDigit(e.name, "cooling_device") {
			return false
		}
	}
	return true
}

// noCpufreq is whether <sys>/devices/system/cpu lists CPUs, none offline
// and none with a cpufreq directory, for which procfs' SystemCpufreq
// reports an empty entry per CPU (and emitCpufreq nothing); false when it
// cannot tell (no CPU, which procfs calls an error; an offline list; a
// stat that fails otherwise than "does not exist"), or a CPU has one.
func noCpufreq(sys string) bool {
	dir := filepath.Join(sys, "devices", "system", "cpu")
	ents, err := listNetDevices(dir)
	if err != nil {
		return false
	}
	offline, err := readFile(filepath.Join(dir, "offline"))
	if err != nil || len(bytes.TrimSpace(offline)) > 0 {
		return false
	}
	cpus := 0
	for _, e := range ents {
		if !globDigit(e.name, "cpu") {
			continue
		}
		cpus++
		if _, err := os.Stat(filepath.Join(dir, e.name, "cpufreq")); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return cpus > 0
}
