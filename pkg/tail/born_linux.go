package tail

import (
	"os"
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
	b, ok := born(path)
	return ok && b.After(t)
}

// born is the birth time of the file at path (statx); false when the file
// system does not keep one.
func born(path string) (time.Time, bool) {
	return statxBorn(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW)
}

// bornOf is the birth time of the open file fh (statx on its descriptor):
// that of the file itself, whatever is at its path now.
func bornOf(fh *os.File) (time.Time, bool) {
	return statxBorn(int(fh.Fd()), "", unix.AT_EMPTY_PATH)
}

func statxBorn(dirfd int, path string, flags int) (time.Time, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, flags, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), true
}
