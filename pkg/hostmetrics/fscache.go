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

// kept is what m holds for k, or newFS's first success for it.
func kept[K comparable, V any](m *sync.Map, k K, newFS func() (V, error)) (V, error) {
	if v, ok := m.Load(k); ok {
		return v.(V), nil
	}
	fs, err := newFS()
	if err == nil {
		m.Store(k, fs)
	}
	return fs, err
}

func newProcFS(path string) (procfs.FS, error) {
	return kept(&procFSs, path, func() (procfs.FS, error) { return procfs.NewFS(path) })
}

func newBlockFS(proc, sys string) (blockdevice.FS, error) {
	return kept(&blockFSs, [2]string{proc, sys}, func() (blockdevice.FS, error) { return blockdevice.NewFS(proc, sys) })
}
