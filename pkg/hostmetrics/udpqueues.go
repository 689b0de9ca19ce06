package hostmetrics

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var udpQueuesDesc = newDesc("node_udp_queues",
	"Number of allocated memory in the kernel for UDP datagrams in bytes.", prometheus.GaugeValue, "queue", "ip")

// udpQueuesCollector sums the send and receive queues of every UDP socket
// in <proc>/1/net/udp and udp6 (the host's network namespace). A host
// without IPv6 reports v4 only.
type udpQueuesCollector struct{ proc string }

func (c *udpQueuesCollector) collect(e *emitter) error {
	pfs, err := newProcFS(filepath.Join(c.proc, "1"))
	if err != nil {
		return err
	}
	found := false
	for _, v := range []struct {
		ip   string
		read func() (*procfs.NetUDPSummary, error)
	}{{"v4", pfs.NetUDPSummary}, {"v6", pfs.NetUDP6Summary}} {
		s, err := v.read()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		found = true
		e.emit(udpQueuesDesc, float64(s.TxQueueLength), "tx", v.ip)
		e.emit(udpQueuesDesc, float64(s.RxQueueLength), "rx", v.ip)
	}
	if !found {
		return noData("no net/udp nor net/udp6")
	}
	return nil
}
