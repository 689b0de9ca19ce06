package hostmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
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
	s4, err := readSockstat(filepath.Join(c.proc, "1", "net", "sockstat"), pfs.NetSockstat)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s6, err := readSockstat(filepath.Join(c.proc, "1", "net", "sockstat6"), pfs.NetSockstat6)
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

// readSockstat reads path, a <proc>/net/sockstat or sockstat6. A file of
// the kernel's lines is parsed here; anything else (and any error but a
// missing file) is left to procfs' read, whose answer it then is. procfs
// opens the file through os.Open and builds a map per line: 84 µs a
// collection for the two files on the reference machine.
func readSockstat(path string, read func() (*procfs.NetSockstat, error)) (*procfs.NetSockstat, error) {
	var st *procfs.NetSockstat
	err := withFile(path, func(b []byte) error {
		st = parseSockstat(b)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil && st != nil {
		return st, nil
	}
	return read()
}

// parseSockstat parses lines "PROTO: key N key N ..." as the kernel prints
// them (sockstat_seq_show, sockstat6_seq_show: single spaces, decimal
// numbers without sign or leading zero), with procfs' reading of them: a
// "sockets" line gives Used (its "used", 0 without), every other line a
// protocol, a key given twice in a line counts its last value. It returns
// nil for anything else, and for a file longer than procfs reads
// (procfsReadLimit).
func parseSockstat(b []byte) *procfs.NetSockstat {
	if len(b) > procfsReadLimit {
		return nil
	}
	st := &procfs.NetSockstat{}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) > 4096 {
			return nil
		}
		proto, rest, _ := bytes.Cut(line, []byte(" "))
		name, colon := bytes.CutSuffix(proto, []byte(":"))
		if !colon || len(rest) == 0 || !printableASCII(name) {
			return nil
		}
		var p procfs.NetSockstatProtocol
		used := 0
		for len(rest) > 0 {
			var key, val []byte
			var more bool
			key, rest, _ = bytes.Cut(rest, []byte(" "))
			val, rest, more = bytes.Cut(rest, []byte(" "))
			if len(key) == 0 || !printableASCII(key) || !kernelDecimal(val) || more && len(rest) == 0 {
				return nil
			}
			v64, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return nil
			}
			v := int(v64)
			switch string(key) {
			case "used":
				used = v
			case "inuse":
				p.InUse = v
			case "orphan":
				p.Orphan = &v
			case "tw":
				p.TW = &v
			case "alloc":
				p.Alloc = &v
			case "mem":
				p.Mem = &v
			case "memory":
				p.Memory = &v
			}
		}
		if string(name) == "sockets" {
			st.Used = &used
			continue
		}
		p.Protocol = string(name)
		st.Protocols = append(st.Protocols, p)
	}
	return st
}

// printableASCII is whether s holds only printable ASCII other than the
// space.
func printableASCII(s []byte) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
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
