package hostmetrics

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

func ctGauge(name, help string) *desc {
	return newDesc("node_nf_conntrack_"+name, help, prometheus.GaugeValue)
}

// node_exporter's conntrack families; it reports the cumulative stat_*
// values as gauges, and so do we.
var (
	ctEntriesDesc       = ctGauge("entries", "Number of currently allocated flow entries for connection tracking.")
	ctLimitDesc         = ctGauge("entries_limit", "Maximum size of connection tracking table.")
	ctFoundDesc         = ctGauge("stat_found", "Number of searched entries which were successful.")
	ctInvalidDesc       = ctGauge("stat_invalid", "Number of packets seen which can not be tracked.")
	ctIgnoreDesc        = ctGauge("stat_ignore", "Number of packets seen which are already connected to a conntrack entry.")
	ctInsertDesc        = ctGauge("stat_insert", "Number of entries inserted into the list.")
	ctInsertFailedDesc  = ctGauge("stat_insert_failed", "Number of entries for which list insertion was attempted but failed.")
	ctDropDesc          = ctGauge("stat_drop", "Number of packets dropped due to conntrack failure.")
	ctEarlyDropDesc     = ctGauge("stat_early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.")
	ctSearchRestartDesc = ctGauge("stat_search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes.")
)

// conntrackCollector reports netfilter connection tracking of the host's
// network namespace: the table size and per-CPU statistics from
// <proc>/1/net/stat/nf_conntrack (node_exporter reads the count from
// <proc>/sys/net/netfilter, which shows the reader's namespace, a pod's
// own without hostNetwork), and the limit from
// <proc>/sys/net/netfilter/nf_conntrack_max, which is global. Without the
// nf_conntrack module the files do not exist and the collector has no data
// (success 0, logged at debug level only).
type conntrackCollector struct{ proc string }

func (c *conntrackCollector) collect(e *emitter) error {
	pfs, err := newProcFS(filepath.Join(c.proc, "1"))
	if err != nil {
		return err
	}
	st, err := pfs.ConntrackStat()
	if errors.Is(err, fs.ErrNotExist) {
		return noData("conntrack is not loaded")
	}
	if err != nil {
		return err
	}
	limit, err := readUint(filepath.Join(c.proc, "sys", "net", "netfilter", "nf_conntrack_max"))
	if err != nil {
		return err
	}
	emitConntrack(e, st, limit)
	return nil
}

// emitConntrack sums the per-CPU statistics; the entries column holds the
// same table-wide count on every line.
func emitConntrack(e *emitter, st []procfs.ConntrackStatEntry, limit uint64) {
	var sum procfs.ConntrackStatEntry
	for i, s := range st {
		if i == 0 {
			sum.Entries = s.Entries
		}
		sum.Found += s.Found
		sum.Invalid += s.Invalid
		sum.Ignore += s.Ignore
		sum.Insert += s.Insert
		sum.InsertFailed += s.InsertFailed
		sum.Drop += s.Drop
		sum.EarlyDrop += s.EarlyDrop
		sum.SearchRestart += s.SearchRestart
	}
	e.emit(ctEntriesDesc, float64(sum.Entries))
	e.emit(ctLimitDesc, float64(limit))
	e.emit(ctFoundDesc, float64(sum.Found))
	e.emit(ctInvalidDesc, float64(sum.Invalid))
	e.emit(ctIgnoreDesc, float64(sum.Ignore))
	e.emit(ctInsertDesc, float64(sum.Insert))
	e.emit(ctInsertFailedDesc, float64(sum.InsertFailed))
	e.emit(ctDropDesc, float64(sum.Drop))
	e.emit(ctEarlyDropDesc, float64(sum.EarlyDrop))
	e.emit(ctSearchRestartDesc, float64(sum.SearchRestart))
}
