package hostmetrics

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

func netCounter(key string) *desc {
	return newDesc("node_network_"+key+"_total", "Network device statistic "+key+".",
		prometheus.CounterValue, "device")
}

// The /proc/net/dev columns under node_exporter's (legacy, default) names.
var (
	netRxBytes      = netCounter("receive_bytes")
	netRxPackets    = netCounter("receive_packets")
	netRxErrs       = netCounter("receive_errs")
	netRxDrop       = netCounter("receive_drop")
	netRxFifo       = netCounter("receive_fifo")
	netRxFrame      = netCounter("receive_frame")
	netRxCompressed = netCounter("receive_compressed")
	netRxMulticast  = netCounter("receive_multicast")
	netTxBytes      = netCounter("transmit_bytes")
	netTxPackets    = netCounter("transmit_packets")
	netTxErrs       = netCounter("transmit_errs")
	netTxDrop       = netCounter("transmit_drop")
	netTxFifo       = netCounter("transmit_fifo")
	netTxColls      = netCounter("transmit_colls")
	netTxCarrier    = netCounter("transmit_carrier")
	netTxCompressed = netCounter("transmit_compressed")
	netRxNoHandler  = netCounter("receive_nohandler")
)

// netdevCollector reports <proc>/1/net/dev: the network namespace of the
// host's PID 1, so a pod without hostNetwork still sees the node's devices
// (given the host's /proc, not its own).
//
// node_exporter reads the same counters over netlink, which adds
// rx_nohandler (packets no protocol took); /proc/net/dev lacks it, so it
// is read from <sys>/class/net/<device>/statistics/rx_nohandler, for the
// devices that sysfs shows (the host's, given the host's /sys).
type netdevCollector struct {
	root    string // <proc>/1
	sys     string
	exclude *regexp.Regexp
}

func newNetdevCollector(cfg Config) (*netdevCollector, error) {
	ex, err := compileOptional(cfg.Netdev.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("netdev.device_exclude: %w", err)
	}
	return &netdevCollector{root: filepath.Join(cfg.Proc, "1"), sys: cfg.Sys, exclude: ex}, nil
}

func (c *netdevCollector) collect(e *emitter) error {
	// A procfs.FS rooted at <proc>/1 reads <proc>/1/net/dev.
	pfs, err := newProcFS(c.root)
	if err != nil {
		return err
	}
	var nd procfs.NetDev
	ok := false
	if err := withFile(filepath.Join(c.root, "net", "dev"), func(b []byte) error {
		nd, ok = parseNetDev(b)
		return nil
	}); err != nil || !ok {
		// Anything but the kernel's lines is procfs' to read and judge.
		if nd, err = pfs.NetDev(); err != nil {
			return err
		}
	}
	emitNetdev(e, nd, c.exclude, func(dev string) (uint64, error) {
		if !filepath.IsLocal(dev) {
			return 0, fs.ErrNotExist
		}
		return readUint(filepath.Join(c.sys, "class", "net", dev, "statistics", "rx_nohandler"))
	})
	return nil
}

func emitNetdev(e *emitter, nd procfs.NetDev, exclude *regexp.Regexp, noHandler func(string) (uint64, error)) {
	names := make([]string, 0, len(nd))
	for name := range nd {
		if exclude == nil || !exclude.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		l := nd[name]
		e.emit(netRxBytes, float64(l.RxBytes), name)
		e.emit(netRxPackets, float64(l.RxPackets), name)
		e.emit(netRxErrs, float64(l.RxErrors), name)
		e.emit(netRxDrop, float64(l.RxDropped), name)
		e.emit(netRxFifo, float64(l.RxFIFO), name)
		e.emit(netRxFrame, float64(l.RxFrame), name)
		e.emit(netRxCompressed, float64(l.RxCompressed), name)
		e.emit(netRxMulticast, float64(l.RxMulticast), name)
		e.emit(netTxBytes, float64(l.TxBytes), name)
		e.emit(netTxPackets, float64(l.TxPackets), name)
		e.emit(netTxErrs, float64(l.TxErrors), name)
		e.emit(netTxDrop, float64(l.TxDropped), name)
		e.emit(netTxFifo, float64(l.TxFIFO), name)
		e.emit(netTxColls, float64(l.TxCollisions), name)
		e.emit(netTxCarrier, float64(l.TxCarrier), name)
		e.emit(netTxCompressed, float64(l.TxCompressed), name)
		if v, err := noHandler(name); err == nil {
			e.emit(netRxNoHandler, float64(v), name)
		}
	}
}

// parseNetDev reads <proc>/net/dev as procfs' NetDev does, for the
// kernel's form only (dev_seq_show: two header lines, then "name:" and
// sixteen decimal counters a line, printable ASCII but for the name, which
// may be UTF-8): ok is false for anything else. procfs opens the file through os.Open and reads it with
// bufio.Scanner and strings.Fields.
func parseNetDev(b []byte) (nd procfs.NetDev, ok bool) {
	nd = procfs.NetDev{}
	for k := 0; k < 2; k++ { // the headers
		var h []byte
		h, b, _ = bytes.Cut(b, []byte("\n"))
		if len(h) > 4096 {
			return nd, false
		}
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) > 4096 {
			return nd, false
		}
		i := bytes.LastIndexByte(line, ':')
		if i < 0 {
			return nd, false
		}
		// Names may be UTF-8 (wlän0); the rest is ASCII.
		for k, c := range line {
			if c < 0x20 || c == 0x7f || c > 0x7f && k > i {
				return nd, false
			}
		}
		name := bytes.Trim(line[:i], " ")
		if len(name) == 0 || strings.TrimSpace(string(name)) != string(name) {
			return nd, false
		}
		rest := line[i+1:]
		var v [16]uint64
		for k := 0; k <= len(v); k++ {
			rest = bytes.TrimLeft(rest, " ")
			if len(rest) == 0 {
				if k < len(v) {
					return nd, false
				}
				break
			}
			if k == len(v) { // more than sixteen
				return nd, false
			}
			n := bytes.IndexByte(rest, ' ')
			if n < 0 {
				n = len(rest)
			}
			if !digits(rest[:n]) {
				return nd, false
			}
			x, err := strconv.ParseUint(string(rest[:n]), 10, 64)
			if err != nil {
				return nd, false
			}
			v[k] = x
			rest = rest[n:]
		}
		nd[string(name)] = procfs.NetDevLine{Name: string(name),
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3], RxFIFO: v[4], RxFrame: v[5],
			RxCompressed: v[6], RxMulticast: v[7], TxBytes: v[8], TxPackets: v[9], TxErrors: v[10],
			TxDropped: v[11], TxFIFO: v[12], TxCollisions: v[13], TxCarrier: v[14], TxCompressed: v[15]}
	}
	return nd, true
}
