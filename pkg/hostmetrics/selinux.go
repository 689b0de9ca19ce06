package hostmetrics

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	selinuxEnabledDesc = newDesc("node_selinux_enabled", "SELinux is enabled, 1 is true, 0 is false", prometheus.GaugeValue)
	selinuxConfigDesc  = newDesc("node_selinux_config_mode", "Configured SELinux enforcement mode", prometheus.GaugeValue)
	selinuxCurrentDesc = newDesc("node_selinux_current_mode", "Current SELinux enforcement mode", prometheus.GaugeValue)
)

// selinuxCollector reports whether the host runs SELinux and in which
// mode, as node_exporter's selinux collector: node_selinux_enabled alone
// (0) when it does not; with it, the mode configured for the next boot
// (<rootfs>/etc/selinux/config: 1 enforcing, 0 permissive, -1 disabled)
// and the current one (<sys>/fs/selinux/enforce: 1 enforcing, 0
// permissive, -1 unreadable).
//
// SELinux is enabled when selinuxfs is mounted (<sys>/fs/selinux has its
// enforce file) and init's security context (<proc>/1/attr/current) is not
// "kernel" (a context that cannot be read, as from a pod without
// CAP_SYS_PTRACE, is not "kernel": SELinux is taken for enabled). node_exporter asks the same of its own process through
// /proc/self and /sys/fs/selinux, whatever --path.sysfs says; reading the
// host's through <proc> and <sys> gives the host's answer from a pod too.
type selinuxCollector struct{ proc, sys, rootfs string }

func (c *selinuxCollector) collect(e *emitter) error {
	if _, err := os.Stat(filepath.Join(c.sys, "fs")); err != nil {
		return err // not a sysfs root: no answer, rather than "disabled"
	}
	enforce, err := os.ReadFile(filepath.Join(c.sys, "fs", "selinux", "enforce"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	enabled := err == nil
	if enabled {
		// A label that cannot be read is not "kernel" (go-selinux's rule):
		// from a pod it is not readable at all (the attr files need ptrace
		// access to init, which a container without capabilities lacks).
		label, err := os.ReadFile(filepath.Join(c.proc, "1", "attr", "current"))
		enabled = err != nil || string(bytes.TrimRight(label, "\x00\n")) != "kernel"
	}
	if !enabled {
		e.emit(selinuxEnabledDesc, 0)
		return nil
	}
	e.emit(selinuxEnabledDesc, 1)
	e.emit(selinuxConfigDesc, float64(selinuxConfigMode(filepath.Join(c.rootfs, "etc", "selinux", "config"))))
	current := -1
	if n, err := strconv.Atoi(string(bytes.TrimSpace(enforce))); err == nil {
		current = n
	}
	e.emit(selinuxCurrentDesc, float64(current))
	return nil
}

// selinuxConfigMode reads SELINUX= from an SELinux config file: 1
// enforcing, 0 permissive, -1 anything else (disabled, missing).
func selinuxConfigMode(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := bytes.Cut(line, []byte{'='})
		if !ok || string(key) != "SELINUX" {
			continue
		}
		switch string(bytes.Trim(val, `"`)) {
		case "enforcing":
			return 1
		case "permissive":
			return 0
		}
		return -1
	}
	return -1
}
