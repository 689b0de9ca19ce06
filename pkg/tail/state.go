package tail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	stateName    = "tail.json"
	sinceName    = "tail.since"
	stateVersion = 1
	fpSize       = 1024 // bytes of a file's start that identify it with dev+inode
)

// stateFile is the on-disk checkpoint format. Version 1:
//
//	{"version":1,"files":[{"dev":..,"ino":..,"fingerprint_len":..,"fingerprint":"<fnv64a hex>",
//	  "path":"..","offset":..,"acked_to":..,"done":true,"cont":1}]}
type stateFile struct {
	Version int          `json:"version"`
	Files   []stateEntry `json:"files"`
}

// stateEntry is the committed offset of one file, known by device, inode and
// the first bytes it had (up to fpSize) when the entry was written.
type stateEntry struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// FingerprintLen and Fingerprint identify the file's first bytes: how
	// many there were (up to 1 KiB) and their FNV-1a 64 hash, in hex.
	FingerprintLen int    `json:"fingerprint_len"`
	Fingerprint    string `json:"fingerprint"`
	// Path is the path the file was followed under; a rotated file keeps
	// it and is found again by inode in the same directory.
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	// AckedTo is the end of the last acknowledged line of the prefix. It is
	// above Offset when a line of one stream was acknowledged while a
	// partial line of the other stream was still being merged: on resume,
	// lines ending at or below it are read (to merge) but not emitted again.
	AckedTo int64 `json:"acked_to,omitempty"`
	// Done marks an anchor: a rotated file read to its end with every line
	// acknowledged, kept (the newest one per path) so that the next agent
	// knows where the files it must read begin (anchors.go). Its offset is
	// its end; a done file that vanished lost nothing.
	Done bool `json:"done,omitempty"`
	// Cont is set on a file when a line begun in the rotated file before
	// it at its path was carried into it (follower.go carryOver), or cut
	// at that file's end (docker json-file, a rotated file deleted before
	// its end was read), until that line's end here is acknowledged: bit 1
	// for stdout, 2 for stderr, the streams whose first line from Offset
	// on is that line's end. If the rotated file is gone at the next start
	// (its fragments cannot be merged again), or its line was cut, that
	// first line is flagged Truncated, not shipped as a whole line. (The
	// other stream's lines may be acknowledged before it: Offset is then
	// past the file's start.)
	Cont int `json:"cont,omitempty"`
}

// contBits packs per-stream flags (event.Stdout, event.Stderr) into
// stateEntry.Cont.
func contBits(c [2]bool) int {
	n := 0
	for s, on := range c {
		if on {
			n |= 1 << s
		}
	}
	return n
}

func (e stateEntry) key() fileKey { return fileKey{e.Dev, e.Ino} }

// entryID is what tells one file's entry from another's. Two entries may
// share a device and inode: a file kubelet deleted (compressed, or the
// oldest rotated one) whose lines were not all acknowledged yet, and the
// file that got its inode number since. The checkpoint keeps both; the
// same file twice (same inode, path and first bytes) is one too many.
type entryID struct {
	key   fileKey
	path  string
	fpLen int
	fp    string
}

func (e stateEntry) id() entryID { return entryID{e.key(), e.Path, e.FingerprintLen, e.Fingerprint} }

// fpMatches says whether a file whose first bytes are now is the file the
// entry was written for.
func (e stateEntry) fpMatches(now []byte) bool {
	return e.FingerprintLen <= len(now) && fpHash(now[:e.FingerprintLen]) == e.Fingerprint
}

// entryFor returns, of the entries sharing a file's key, the one written
// for that file: its first bytes match (the path it is followed under
// decides between two that do). Of two entries of one file at its path
// (resumesBefore), the one that loses nothing.
func entryFor(es []stateEntry, path string, fp []byte) (stateEntry, bool) {
	var found stateEntry
	ok := false
	for _, e := range es {
		if !e.fpMatches(fp) {
			continue
		}
		atPath, foundAtPath := e.Path == path, found.Path == path
		if !ok || (atPath && !foundAtPath) || (atPath == foundAtPath && e.resumesBefore(found)) {
			found, ok = e, true
		}
	}
	return found, ok
}

// resumesBefore says whether e, of two entries of one file (same inode and
// path, first bytes that both match it), is the one to resume from. One
// file has two when two followers of it were checkpointed at once (a
// rotation undone while the first still waited for acknowledgements: the
// second knows more of its first bytes, so the two differ). A file still
// to read comes before a finished one (an anchor), then the lower offset:
// what lies between is read again, not lost.
func (e stateEntry) resumesBefore(o stateEntry) bool {
	switch {
	case e.Done != o.Done:
		return !e.Done
	case e.Offset != o.Offset:
		return e.Offset < o.Offset
	}
	return e.AckedTo < o.AckedTo
}

// stateFileRaw is stateFile with its entries still undecoded, so that each
// is checked on its own.
type stateFileRaw struct {
	Version int               `json:"version"`
	Files   []json.RawMessage `json:"files"`
}

// parseEntry decodes and checks one entry of the state file.
func parseEntry(raw []byte) (stateEntry, error) {
	var e stateEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, err
	}
	_, hexErr := strconv.ParseUint(e.Fingerprint, 16, 64)
	switch {
	case e.Offset < 0, e.AckedTo < 0, e.AckedTo != 0 && e.AckedTo < e.Offset:
		return e, fmt.Errorf("offsets %d, %d", e.Offset, e.AckedTo)
	case e.FingerprintLen < 0 || e.FingerprintLen > fpSize:
		return e, fmt.Errorf("fingerprint length %d", e.FingerprintLen)
	case hexErr != nil:
		return e, fmt.Errorf("fingerprint %q", e.Fingerprint)
	case !filepath.IsAbs(e.Path):
		return e, fmt.Errorf("path %q", e.Path)
	case e.Cont < 0 || e.Cont > 3:
		return e, fmt.Errorf("cont %d", e.Cont)
	}
	return e, nil
}

// loadState reads the state file in dir. A missing file gives no entries
// and no error. A file that cannot be read or decoded as a whole (not JSON,
// another version) is renamed aside (to tail.json.corrupt) and reported as
// an error; the caller warns and starts fresh. Within a readable file, each
// entry stands alone: an invalid one (or a second one for the same file,
// entryID) is skipped and counted in invalid, the others are returned in
// the file's order. Entries of different files may share a key.
func loadState(dir string) (entries []stateEntry, ok bool, invalid []error, err error) {
	path := filepath.Join(dir, stateName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil, nil
	}
	if err == nil {
		var st stateFileRaw
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&st); err == nil {
			switch {
			case st.Version != stateVersion:
				err = fmt.Errorf("unsupported version %d", st.Version)
			case dec.More():
				err = errors.New("trailing data")
			}
		}
		if err == nil {
			seen := make(map[entryID]int, len(st.Files))
			entries = make([]stateEntry, 0, len(st.Files))
			for i, raw := range st.Files {
				e, perr := parseEntry(raw)
				if j, dup := seen[e.id()]; perr == nil && dup {
					// Written by an agent that named a file twice (two
					// trackers of one file): the lower offset loses
					// nothing.
					perr = fmt.Errorf("second entry for device %d inode %d at %s; the lower offset is used", e.Dev, e.Ino, e.Path)
					if e.resumesBefore(entries[j]) {
						entries[j] = e
					}
				}
				if perr != nil {
					invalid = append(invalid, fmt.Errorf("files[%d]: %w", i, perr))
					continue
				}
				seen[e.id()] = len(entries)
				entries = append(entries, e)
			}
			return entries, true, invalid, nil
		}
	}
	aside := path + ".corrupt"
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, false, nil, fmt.Errorf("read state %s: %w (and setting it aside failed: %v)", path, err, rerr)
	}
	return nil, false, nil, fmt.Errorf("read state %s: %w; set aside as %s", path, err, aside)
}

// writeState replaces the state file atomically: temporary file, fsync,
// rename, fsync of the directory.
func writeState(dir string, entries []stateEntry) error {
	data, err := json.Marshal(stateFile{Version: stateVersion, Files: entries})
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	path := filepath.Join(dir, stateName)
	if err := writeAtomic(path, data); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}

// The file sinceName beside the checkpoint holds, as one RFC 3339 time,
// when the agents that kept the checkpoint began to follow the node: the
// start of the first one that had no state. A rotated file of a path the
// checkpoint does not name that was last written after it was never seen
// by any of them, and is read. It is a file of its own so that the
// checkpoint's format stays what earlier versions read.

// loadSince reads sinceName in dir; zero if it is missing or unreadable.
func loadSince(dir string) time.Time {
	b, err := os.ReadFile(filepath.Join(dir, sinceName))
	if err != nil {
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}
	}
	return ts
}

// writeSince replaces sinceName in dir (temporary file, rename) unless it
// already holds since.
func writeSince(dir string, since time.Time) error {
	if loadSince(dir).Equal(since) {
		return nil
	}
	return writeAtomic(filepath.Join(dir, sinceName), []byte(since.UTC().Format(time.RFC3339Nano)+"\n"))
}
