//go:build linux

package hostmetrics

import (
	"sync"

	"github.com/prometheus/procfs/sysfs"
)

// sysFSs are the sysfs.FS values of fscache.go (procfs' sysfs package is
// Linux-only, as are its collectors here).
var sysFSs sync.Map // path -> sysfs.FS

func newSysFS(path string) (sysfs.FS, error) {
	return kept(&sysFSs, path, func() (sysfs.FS, error) { return sysfs.NewFS(path) })
}
