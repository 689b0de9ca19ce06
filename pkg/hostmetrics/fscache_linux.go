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
	if v, ok := sysFSs.Load(path); ok {
		return v.(sysfs.FS), nil
	}
	fs, err := sysfs.NewFS(path)
	if err == nil {
		sysFSs.Store(path, fs)
	}
	return fs, err
}
