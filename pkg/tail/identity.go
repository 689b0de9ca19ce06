package tail

import (
	"hash/fnv"
	"os"
	"strconv"
	"syscall"
)

func keyOf(fi os.FileInfo) (fileKey, uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{dev: uint64(st.Dev), ino: st.Ino}, uint64(st.Nlink)
	}
	return fileKey{}, 1
}

// fstatKey is f's identity, link count and size, from fstat without an
// os.FileInfo: the poll of an idle file costs its system calls, not
// allocations.
func fstatKey(f *os.File) (key fileKey, nlink uint64, size int64, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileKey{}, 0, 0, err
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino}, uint64(st.Nlink), st.Size, nil
}

// statKey is the identity of the file path names (following symlinks, as
// os.Stat does).
func statKey(path string) (fileKey, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileKey{}, err
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// readFP reads up to fpSize bytes from the start of f.
func readFP(f *os.File, buf []byte) int {
	n, _ := f.ReadAt(buf[:fpSize], 0)
	return n
}

type fileKey struct{ dev, ino uint64 }

func fpHash(b []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}
