package hostmetrics

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"

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
	nd, err := pfs.NetDev()
	if err != nil {
		return err
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
