package hostmetrics

import (
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var arpEntriesDesc = newDesc("node_arp_entries", "ARP entries by device", prometheus.GaugeValue, "device")

// arpCollector counts the IPv4 neighbour entries of each device in
// <proc>/1/net/arp (the host's network namespace). node_exporter asks
// netlink for the same entries (the neighbours without NUD_NOARP, which
// is what the kernel lists in that file).
type arpCollector struct{ proc string }

func (c *arpCollector) collect(e *emitter) error {
	fs, err := newProcFS(filepath.Join(c.proc, "1"))
	if err != nil {
		return err
	}
	entries, err := fs.GatherARPEntries()
	if err != nil {
		return err
	}
	emitARP(e, entries)
	return nil
}

func emitARP(e *emitter, entries []procfs.ARPEntry) {
	count := map[string]int{}
	for _, a := range entries {
		count[a.Device]++
	}
	devs := make([]string, 0, len(count))
	for d := range count {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	for _, d := range devs {
		e.emit(arpEntriesDesc, float64(count[d]), d)
	}
}
