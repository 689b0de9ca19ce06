package tail

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Busy directories are polled, not watched.
//
// fsnotify watches a directory for every change it knows (create, write,
// remove, rename, chmod); its option to leave writes out is not exported.
// So each write(2) to a followed file queues an inotify event, and inotify
// wakes whoever waits on its descriptor for each event it queues: the Go
// runtime's network poller, which holds that descriptor in its epoll set
// and blocks in epoll_pwait whenever the agent has nothing to run, wakes
// once per write, even while the tailer leaves the events queued
// (notify_linux.go) and even though fsnotify's goroutine is not waiting on
// the descriptor then. At 10,000 lines a second over 50 containers that
// was 1,900 of the agent's 2,200 wakeups a second, and the largest part of
// its steady CPU (bench/README.md).
//
// A file that grows at every poll is read every read_interval anyway: its
// write notifications change nothing but cost a wakeup each. So the
// directory of such files stops being watched:
//
//   - A directory is busy at a poll when every followed file at a path in
//     it (not rotated, draining or deleted) was read further since the
//     previous poll, and no watched directory is below it (a new
//     subdirectory would go unseen until a rescan). After busyPolls busy
//     polls in a row its watch is removed (ferry_tail_polled_dirs).
//   - Its followed files are then marked for a read every read_interval,
//     without a notification (readFile), and everything else a
//     notification would have told is seen as without notifications: a
//     rotation, deletion or truncation by the poll (every poll_interval),
//     a new file by the rescan (every rescan_interval; the directory's
//     listing is not kept, glob.go dirCache), which comes at the next poll
//     when the directory's modification time moved (an entry created,
//     renamed or deleted there). A rotation is thus noticed
//     within poll_interval instead of at once; nothing is lost by it,
//     since the rotated file is finished through its descriptor.
//   - At the first poll at which it is not busy (a file read nothing new,
//     or was truncated), it is watched again; its files are read once and
//     a rescan comes at once, for what happened while it was not watched.
//   - A new file followed there (found by a rescan) watches it again at
//     once, in the same way (newFileIn).
//
// A file reached through a symlink (an entry of a link directory, the
// kubelet's /var/log/containers) is followed under its target's path
// (links.go), and its directory is watched (watch) and polled when busy as
// any other; the link directory itself holds no followed file, so it is
// never busy and never misses the notification of a new link.
//
// A file read nothing of since it was opened is never busy: the copy of a
// copytruncate made before its first read is found by a creation
// notification (copy.go), which a polled directory would not get. That is
// also why a new file watches its directory again when it is found, not
// at the next poll: found empty, written and copytruncated before that
// poll, its copy's lines were lost without a count. (A copy made before
// it was found is among the rotated siblings of a path first seen, read
// first: discovery.go rotatedSince.)
const busyPolls = 3

// busyDir is the polls' record of one directory with followed files.
type busyDir struct {
	streak int       // busy polls in a row
	polled bool      // its watch was removed: polled, not watched
	files  int       // followed files at a path in it, this poll
	grew   int       // of them, read further since the last poll
	mtime  time.Time // its modification time when last looked at, while polled
}

// heat counts, at each poll, the directories whose every followed file was
// read further, and stops or starts watching them (see above); true asks
// for a rescan (a directory is watched again).
func (t *Tailer) heat(now time.Time) (rescan bool) {
	if t.watcher == nil {
		return false
	}
	// Which files were read further; a directory is looked at only if
	// one of its files was, or it is polled.
	for _, f := range t.order {
		if f.st != stFollowing || f.f == nil {
			f.grew, f.readSince, f.cutSince = false, 0, false
			continue
		}
		f.grew = f.readSince > 0 && f.off > 0 && !f.cutSince && len(f.copied) == 0
		f.readSince, f.cutSince = 0, false
		if f.grew && t.busy[filepath.Dir(f.path)] == nil {
			t.busy[filepath.Dir(f.path)] = &busyDir{}
		}
	}
	if len(t.busy) == 0 {
		return false
	}
	for _, f := range t.order {
		if f.st != stFollowing || f.f == nil {
			continue
		}
		if h := t.busy[filepath.Dir(f.path)]; h != nil {
			h.files++
			if f.grew {
				h.grew++
			}
		}
	}
	var again map[string]bool
	changed := false
	for d, h := range t.busy {
		busy := h.files > 0 && h.grew == h.files
		h.files, h.grew = 0, 0
		switch {
		case busy:
			h.streak++
			if !h.polled && h.streak >= busyPolls && t.watcher.Watching(d) && !t.watchesBelow(d) {
				t.watcher.Remove(d) // its kept listing goes with the watch (dirCache.get)
				h.polled = true
				h.mtime = dirMtime(d)
				t.m.polledDirs.Inc()
			} else if h.polled {
				// An entry created, renamed or deleted there since the
				// last poll: rescan now, not at rescan_interval.
				if m := dirMtime(d); !m.Equal(h.mtime) {
					h.mtime = m
					changed = true
				}
			}
		case h.polled:
			if !t.unpoll(d) {
				continue
			}
			if again == nil {
				again = make(map[string]bool)
			}
			again[d] = true
		default:
			delete(t.busy, d)
		}
	}
	// Mark the files of polled directories, and read those of the
	// directories watched again once, for what was written between their
	// last read and the watch.
	for _, f := range t.order {
		if f.st == stClosed {
			continue
		}
		d := filepath.Dir(f.path)
		h := t.busy[d]
		f.polled = h != nil && h.polled
		f.wasPolled = f.wasPolled || f.polled // copy.go copyOfAway
		if again[d] {
			f.dirty = true
			t.wantRead(now)
		}
	}
	return len(again) > 0 || changed
}

// dirMtime is d's modification time (zero if it cannot be read).
func dirMtime(d string) time.Time {
	fi, err := os.Stat(d)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// unpoll watches the polled directory d again.
//
// If the watch cannot be added (the watch limit reached: ENOSPC; a
// directory gone is no failure), d stays polled, its files read every
// read_interval: unwatched and no longer polled, they would be read only
// at polls. It reports whether d is watched again.
func (t *Tailer) unpoll(d string) bool {
	if err := t.watcher.Add(d); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		t.warnOnce("watch-again", "cannot watch a directory again; its files are read every read_interval without notifications", "dir", d, "err", err)
		return false
	}
	t.m.polledDirs.Dec()
	delete(t.busy, d)
	return true
}

// newFileIn watches d again if it is polled: a file was just followed
// there (see above). Its files are read once, as at a poll, and a rescan
// is due (rescanDue) for what was created there between its listing and
// the watch.
func (t *Tailer) newFileIn(d string, now time.Time) {
	if !t.isPolled(d) {
		return
	}
	t.rescanDue = true
	if !t.unpoll(d) {
		return
	}
	for _, f := range t.order {
		if f.st != stClosed && filepath.Dir(f.path) == d {
			f.polled = false
			f.dirty = true
			t.wantRead(now)
		}
	}
}

// watchesBelow reports whether a watched directory is below d.
func (t *Tailer) watchesBelow(d string) bool {
	prefix := d + string(filepath.Separator)
	for w := range t.watcher.dirs {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

// isPolled reports whether d is polled instead of watched (watch leaves it
// unwatched).
func (t *Tailer) isPolled(d string) bool {
	h := t.busy[d]
	return h != nil && h.polled
}
