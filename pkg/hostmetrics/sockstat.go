package hostmetrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var sockstatUsedDesc = newDesc("node_sockstat_sockets_used", "Number of IPv4 sockets in use.", prometheus.GaugeValue)

// sockstatCollector reports <proc>/1/net/sockstat and sockstat6: the
// host's network namespace, as for netdev.
type sockstatCollector struct {
	proc     string
	pageSize int // bytes per page, for the mem_bytes families
}

func (c *sockstatCollector) collect(e *emitter) error {
	pfs, err := newProcFS(filepath.Join(c.proc, "1"))
	if err != nil {
		return err
	}
	// IPv4 or IPv6 may be disabled on this kernel: a missing file is fine.
	s4, err := pfs.NetSockstat()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s6, err := pfs.NetSockstat6()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s4 == nil && s6 == nil {
		return errors.New("no sockstat or sockstat6 under <proc>/1/net")
	}
	if err := validateSockstat(false, s4); err != nil {
		return err
	}
	if err := validateSockstat(true, s6); err != nil {
		return err
	}
	emitSockstat(e, false, s4, c.pageSize)
	emitSockstat(e, true, s6, c.pageSize)
	return nil
}

// ssPair is one sockstat field: its name suffix, whether
// /proc/net/sockstat counts it for IPv4 and IPv6 together, and its value.
type ssPair struct {
	name   string
	shared bool
	v      *int
}

func sockstatPairs(p procfs.NetSockstatProtocol, pageSize int) []ssPair {
	pairs := []ssPair{
		{"inuse", false, &p.InUse},
		{"orphan", true, p.Orphan},
		{"tw", true, p.TW},
		{"alloc", true, p.Alloc},
		{"mem", true, p.Mem},
		{"memory", false, p.Memory},
	}
	if p.Mem != nil {
		v := *p.Mem * pageSize
		pairs = append(pairs, ssPair{"mem_bytes", true, &v})
	}
	return pairs
}

func validateSockstat(v6 bool, s *procfs.NetSockstat) error {
	if s == nil {
		return nil
	}
	for _, p := range s.Protocols {
		if v6 {
			for _, pair := range sockstatPairs(p, 1) {
				if pair.shared && pair.v != nil {
					return fmt.Errorf("unexpected %s %s in sockstat6", p.Protocol, pair.name)
				}
			}
		} else if strings.HasSuffix(p.Protocol, "6") {
			return fmt.Errorf("unexpected %s in IPv4 sockstat", p.Protocol)
		}
	}
	return nil
}

// emitSockstat reports one file under node_exporter's names
// (node_sockstat_<PROTOCOL>_<field>) and help texts.
func emitSockstat(e *emitter, v6 bool, s *procfs.NetSockstat, pageSize int) {
	if s == nil {
		return
	}
	if !v6 && s.Used != nil {
		e.emit(sockstatUsedDesc, float64(*s.Used))
	}
	for _, p := range s.Protocols {
		if !validMetricName(p.Protocol) {
			continue
		}
		for _, pair := range sockstatPairs(p, pageSize) {
			if pair.v == nil {
				continue
			}
			// node_exporter's help text, "sockets" even for fragments.
			help := fmt.Sprintf("Number of %s sockets in state %s.", p.Protocol, pair.name)
			d := e.dyn.get("node_sockstat_"+p.Protocol+"_"+pair.name, help, prometheus.GaugeValue)
			e.emit(d, float64(*pair.v))
		}
	}
}
