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
