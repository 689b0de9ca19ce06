package hostmetrics

import (
	"sync"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
)

// procfs' NewFS functions check the mount point with stat(2) and, for
// /proc, statfs(2); collectors called them on every collection, 16 times
// a snapshot. The FS values they return are only the paths and that
// answer, so the first success for a path is kept and reused: a mount
// point that goes away later still fails the collection, at the open of
// its files. Failures are not kept.
var (
	procFSs  sync.Map // path -> procfs.FS
	blockFSs sync.Map // [2]string{proc, sys} -> blockdevice.FS
)

func newProcFS(path string) (procfs.FS, error) {
	if v, ok := procFSs.Load(path); ok {
		return v.(procfs.FS), nil
	}
	fs, err := procfs.NewFS(path)
	if err == nil {
		procFSs.Store(path, fs)
	}
	return fs, err
}

func newBlockFS(proc, sys string) (blockdevice.FS, error) {
	k := [2]string{proc, sys}
	if v, ok := blockFSs.Load(k); ok {
		return v.(blockdevice.FS), nil
	}
	fs, err := blockdevice.NewFS(proc, sys)
	if err == nil {
		blockFSs.Store(k, fs)
	}
	return fs, err
}
