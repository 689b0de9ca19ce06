package hostmetrics

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
)

// TestHostile6PSIDisabledIsNoData: a kernel built with PSI disabled by
// default (CONFIG_PSI_DEFAULT_DISABLED, RHEL's) has the files under
// <proc>/pressure, and reading them fails with EOPNOTSUPP. node_exporter
// takes that for no data (debug only); ferry warned that the collector
// failed on every such node. The read returns the error as procfs wraps
// the kernel's.
func TestHostile6PSIDisabledIsNoData(t *testing.T) {
	c := &pressureCollector{read: func(res string) (procfs.PSIStats, error) {
		return procfs.PSIStats{}, fmt.Errorf("%w: psi_stats: unavailable for %q: %w", procfs.ErrFileRead, res,
			&fs.PathError{Op: "read", Path: "/proc/pressure/" + res, Err: syscall.EOPNOTSUPP})
	}}
	err := c.collect(&emitter{dyn: &descCache{}})
	var nd noDataError
	if !errors.As(err, &nd) {
		t.Fatalf("PSI disabled: %v, want no data", err)
	}
}
