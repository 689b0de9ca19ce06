package tail

import (
	"os"
	"slices"
	"sort"
)

// Checkpoint entries of files that are not followed.
//
// The checkpoint is written from the trackers, one per followed file. A
// file the checkpoint named that is not followed now (excluded by
// logs.exclude or the Excluder since the checkpoint was written, no longer
// matched by logs.include, or waiting for a descriptor) has no tracker;
// its entry would be dropped at the next commit, and the file read from 0
// (its lines shipped again) when it is followed again. So its entry, as
// loaded, is written again at every commit as long as a file with its
// device and inode is at its path; once followed, the file resumes from it
// as at a start (the fingerprint decides). When the file is gone (deleted,
// or another file at its path), the entry is dropped. Its rotated copies
// are not read at start either (resumeRotated): what the config excludes
// now is not read because a checkpoint of another config named it. An
// entry whose file the start found among its path's rotated siblings is
// not kept (rotated.go resumedAside): it is read there, and a file at its
// path with its inode is another one that got the freed inode number.

// refreshKept recomputes the entries of files not followed from the
// entries loaded and not yet resumed. Run's goroutine calls it after each
// scan.
func (t *Tailer) refreshKept() {
	var kept []stateEntry
	for key, es := range t.resume {
		if f := t.files[key]; f != nil && f.st != stClosed {
			continue
		}
		for _, e := range es {
			fi, err := os.Stat(e.Path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if k, _ := keyOf(fi); k != key {
				continue
			}
			kept = append(kept, e)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].Path != kept[j].Path {
			return kept[i].Path < kept[j].Path
		}
		return kept[i].Ino < kept[j].Ino
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Equal(kept, t.kept) {
		t.kept = kept
		t.changes++
	}
}

// keptEntries returns the entries of t.kept whose file has no tracker (at
// holds the key and path of each, entryID without first bytes), to be
// written with the trackers' entries. Call it with t.mu held.
func (t *Tailer) keptEntries(at map[entryID]bool) []stateEntry {
	var out []stateEntry
	for _, e := range t.kept {
		if !at[entryID{key: e.key(), path: e.Path}] {
			out = append(out, e)
		}
	}
	return out
}

// keepWaiting adds to t.kept an entry, at offset 0, for each file waiting
// for a descriptor that was never opened (openlimit.go): it is on disk
// but has no tracker, and a graceful stop's checkpoint must name it, or
// the next agent cannot count it lost if kubelet deletes it meanwhile.
// Run's goroutine calls it once, before the final checkpoint.
func (t *Tailer) keepWaiting() {
	var add []stateEntry
	for _, w := range t.lim.queue {
		if w.f != nil || w.key == (fileKey{}) {
			continue
		}
		if f := t.files[w.key]; f != nil && f.st != stClosed {
			continue
		}
		if slices.ContainsFunc(t.resume[w.key], func(e stateEntry) bool { return e.Path == w.path && !e.Done }) {
			continue // its loaded entry is kept already, if still there
		}
		// (An entry with its inode at another path is of another file, one
		// deleted whose inode number the file system gave this one; so is
		// an anchor's, at its path: a done file that vanished lost nothing,
		// so it could not count this one's loss.)
		add = append(add, stateEntry{Dev: w.key.dev, Ino: w.key.ino, Fingerprint: fpHash(nil), Path: w.path})
	}
	if len(add) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.kept = append(slices.Clip(t.kept), add...)
	t.changes++
}
