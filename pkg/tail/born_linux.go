package tail

import (
	"time"

	"golang.org/x/sys/unix"
)

// bornAfter says whether the file at path was created after t, by its
// birth time (statx); false when the file system does not keep one. A file
// that has the inode of a checkpointed file but was born after the
// checkpoint was written is a new file that reuses the inode.
func bornAfter(path string, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &stx); err != nil {
		return false
	}
	if stx.Mask&unix.STATX_BTIME == 0 {
		return false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)).After(t)
}
