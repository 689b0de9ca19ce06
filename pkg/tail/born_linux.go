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

// fsNow is the time by the file system's clock: the kernel's coarse
// clock (CLOCK_REALTIME_COARSE), which stamps a file's birth. It lags the
// clock time.Now reads by up to a tick (4 ms at 250 Hz): a file created
// just after time.Now is often born before it. A file created after fsNow
// returns is born at or after what it returned; one created before it,
// in the tick before, is born before; one created in the same tick may
// be born after it (copy.go bornSince). (File systems that keep birth
// times keep nanoseconds.)
func fsNow() time.Time {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &ts) != nil {
		return time.Now()
	}
	return time.Unix(ts.Unix())
}

// born is the birth time of the file at path (statx); false when the file
// system does not keep one.
func born(path string) (time.Time, bool) {
	return statxBorn(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW)
}

// bornAs is born for the file at path while it is the file key (one
// statx gives its inode with its birth); false when the file at path is
// another one by then (kubelet renamed it away), or the file system keeps
// no birth time.
func bornAs(path string, key fileKey) (time.Time, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME|unix.STATX_INO, &stx); err != nil ||
		stx.Mask&unix.STATX_BTIME == 0 || stx.Ino != key.ino {
		return time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), true
}

// bornOf is the birth time of the open file fh (statx on its descriptor):
// that of the file itself, whatever is at its path now.
func bornOf(fh *os.File) (time.Time, bool) {
	return statxBorn(int(fh.Fd()), "", unix.AT_EMPTY_PATH)
}

// changedOf is the last status change of the open file fh (its ctime: a
// write, a truncation, a rename), by the file system's clock.
func changedOf(fh *os.File) (time.Time, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Unix()), true
}

func statxBorn(dirfd int, path string, flags int) (time.Time, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, flags, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), true
}

// bornSinceState says whether the file fh was created after the
// checkpoint loaded at the start was written: it is none of its entries'
// files (a new file that reuses an inode). False without birth times.
func (t *Tailer) bornSinceState(fh *os.File) bool {
	if t.stateTime.IsZero() {
		return false
	}
	b, ok := bornOf(fh)
	return ok && b.After(t.stateTime)
}
