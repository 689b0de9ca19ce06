package hostmetrics

import (
	"bytes"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var unameDesc = newDesc("node_uname_info",
	"Labeled system information as provided by the uname system call.", prometheus.GaugeValue,
	"sysname", "release", "version", "machine", "nodename", "domainname")

// unameCollector reports node_uname_info from <proc>/sys/kernel (what
// uname(2) returns, readable under a configurable root) and the machine
// from uname(2) itself: the kernel is shared with the host, so these are
// the host's values, except nodename and domainname, which belong to the
// agent's UTS namespace (the pod's hostname unless the pod shares the
// host's, as with hostNetwork).
type unameCollector struct {
	proc    string
	machine func() (string, error)
}

var unameFiles = [...]string{"ostype", "osrelease", "version", "hostname", "domainname"}

func (c *unameCollector) collect(e *emitter) error {
	var v [len(unameFiles)][]byte
	for i, name := range unameFiles {
		b, err := readFile(filepath.Join(c.proc, "sys", "kernel", name))
		if err != nil {
			return err
		}
		v[i] = b
	}
	m, err := c.machine()
	if err != nil {
		return err
	}
	emitUname(e, v[0], v[1], v[2], m, v[3], v[4])
	return nil
}

func emitUname(e *emitter, sysname, release, version []byte, machine string, nodename, domainname []byte) {
	t := func(b []byte) string { return string(bytes.TrimSpace(b)) }
	e.emit(unameDesc, 1, t(sysname), t(release), t(version), machine, t(nodename), t(domainname))
}
