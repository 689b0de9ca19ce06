package tail

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// This file holds what happens to a path's rotated siblings across a
// restart: kubelet renames 0.log to 0.log.<timestamp>, starts a new 0.log,
// gzips the older rotated files (0.log.<timestamp>.gz) and deletes the
// oldest, whether or not an agent runs.

// sibling is a rotated copy of a log found beside its path.
type sibling struct {
	path  string
	order string // the name after "<base>.", without ".gz": kubelet's timestamps sort by it
	gz    bool
	mtime time.Time
	size  int64 // of the file as listed (compressed size for a .gz)
}

// siblingsListed, when set (by tests), runs between listSiblings' listing
// of the directory and its stat of each file: where kubelet's compression
// can come.
var siblingsListed func()

// siblingsStated, when set (by tests), runs as listSiblings returns: a
// sibling compressed then was listed plain.
var siblingsStated func()

// compressedSince reports whether s, a plain file that err says is not
// there, was compressed since it was listed; if so, s names the .gz now.
// kubelet writes the .gz whole (a temporary file renamed) before it
// removes the plain file, so the .gz holds the same bytes.
func (s *sibling) compressedSince(err error) bool {
	if err == nil || s.gz || !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if _, gerr := os.Stat(s.path + ".gz"); gerr != nil {
		return false
	}
	s.path, s.gz = s.path+".gz", true
	return true
}

// siblingsMatched, when set (by tests), runs in resumePath once the
// checkpoint's entries were matched to the siblings: a sibling compressed
// then was matched plain.
var siblingsMatched func()

// siblingsStarted, when set (by tests), runs in resumePath once the
// plain siblings' identities and first bytes were read, before the
// checkpoint's entries are matched to them: a sibling compressed then was
// read plain.
var siblingsStarted func()

// startNow is siblingStart of s, looked at as its .gz if it was
// compressed since it was listed (s names the .gz then): kubelet and
// logrotate compress a rotated file at any time, and a plain file gone
// since the listing is rarely deleted.
func (s *sibling) startNow(buf []byte) (fileKey, int, error) {
	k, n, err := siblingStart(*s, buf)
	if s.compressedSince(err) {
		k, n, err = siblingStart(*s, buf)
	}
	return k, n, err
}

// recheck looks again at s, a sibling listed plain: compressed since, s
// names its .gz now.
func (s *sibling) recheck() {
	if !s.gz {
		_, err := os.Lstat(s.path)
		s.compressedSince(err)
	}
}

// statSibling fills in s's last write and size. Without compressedSince,
// a plain file compressed since it was listed had no last write, and was
// taken for one written before the checkpoint and not read (test/model
// -seeds, seed 62083: 89 lines never delivered).
func statSibling(s *sibling) {
	fi, err := os.Stat(s.path)
	if s.compressedSince(err) {
		fi, err = os.Stat(s.path)
	}
	if err == nil {
		s.mtime, s.size = fi.ModTime(), fi.Size()
	}
}

// kubeletStamp reports whether a rotated name's suffix starts with
// kubelet's timestamp (20060102-150405).
func kubeletStamp(s string) bool {
	if len(s) < 15 || s[8] != '-' {
		return false
	}
	for i, c := range s[:15] {
		if i != 8 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// rotatedName reports whether name is a rotated copy of base the way
// kubelet names them (base.<digits...>, optionally .gz), or logrotate
// (base.<n>, or base-<date> with dateext), and its order key.
func rotatedName(base, name string) (order string, gz, ok bool) {
	rest, found := strings.CutPrefix(name, base+".")
	if !found {
		rest, found = strings.CutPrefix(name, base+"-")
	}
	if !found || rest == "" || rest[0] < '0' || rest[0] > '9' {
		return "", false, false
	}
	if r, isGz := strings.CutSuffix(rest, ".gz"); isGz {
		return r, true, true
	}
	for _, c := range rest {
		if (c < '0' || c > '9') && c != '-' && c != '.' {
			return "", false, false // a temporary file (0.log.<ts>.gz.tmp) or another compression
		}
	}
	return rest, false, true
}

// LivePath is the path of the file a rotated copy named path was rotated
// from (0.log for 0.log.20261204-101500, 0.log.20261204-101500.gz or
// logrotate's dateext 0.log-20261204), when
// path is named like one: the tailer reads such copies of the files it
// follows.
func LivePath(path string) (string, bool) {
	dir, name := filepath.Split(path)
	for i := range len(name) {
		if (name[i] != '.' && name[i] != '-') || i == 0 {
			continue
		}
		if _, _, ok := rotatedName(name[:i], name); ok {
			return dir + name[:i], true
		}
	}
	return "", false
}

// listSiblings lists the rotated copies of path, oldest first. When a file
// exists both plain and compressed (kubelet removes the plain one after the
// compressed one is complete), the plain one is taken.
func listSiblings(path string) []sibling {
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	byOrder := make(map[string]sibling)
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		order, gz, ok := rotatedName(base, de.Name())
		if !ok {
			continue
		}
		if prev, dup := byOrder[order]; dup && !prev.gz {
			continue
		}
		byOrder[order] = sibling{path: filepath.Join(dir, de.Name()), order: order, gz: gz}
	}
	out := make([]sibling, 0, len(byOrder))
	for _, s := range byOrder {
		out = append(out, s)
	}
	if siblingsListed != nil {
		siblingsListed()
	}
	kubelet := true
	for i := range out {
		kubelet = kubelet && kubeletStamp(out[i].order)
		statSibling(&out[i])
	}
	sort.Slice(out, func(i, j int) bool {
		if kubelet {
			return out[i].order < out[j].order
		}
		if out[i].mtime.Equal(out[j].mtime) {
			return orderBefore(out[i].order, out[j].order)
		}
		// Other rotators (logrotate's 0.log.1 is newer than 0.log.2):
		// by last write.
		return out[i].mtime.Before(out[j].mtime)
	})
	if siblingsStated != nil {
		siblingsStated()
	}
	return out
}

// orderBefore says whether the rotated name order a is older than b, of
// two last written in the same tick of the file system's clock (coarse:
// 1 s on ext4 with small inodes; logrotate's compress keeps the last
// write of the file it compresses). logrotate's numbered names count up
// with age (0.log.2 is older than 0.log.1, and 0.log.10 than 0.log.9):
// compared by name, an older generation passed for a newer one, read
// again as a copy made after the one a truncation found (discovery.go
// laterCopies), and the newer one was lost. Other names (dates) count
// up with time.
func orderBefore(a, b string) bool {
	if na, ok := rotationCount(a); ok {
		if nb, ok := rotationCount(b); ok {
			return na > nb
		}
	}
	return a < b
}

// rotationCount is the number of a logrotate numbered name's order (its
// digits alone, fewer than a date's eight).
func rotationCount(order string) (int, bool) {
	if order == "" || len(order) >= 8 {
		return 0, false
	}
	n := 0
	for _, c := range order {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// siblingStart reads the first bytes of a sibling (decompressed if it is
// compressed) and, for a plain file, its identity.
func siblingStart(s sibling, buf []byte) (fileKey, int, error) {
	k, n, _, err := siblingStartOf(s, buf, false)
	return k, n, err
}

// siblingStartBorn is siblingStart with, for a plain file, its birth
// time (zero when the file system keeps none), read from the descriptor
// its identity was: that file's, whatever is at its name by the time the
// birth is asked for (kubelet compresses a rotated file, and removes it,
// at any time).
func siblingStartBorn(s sibling, buf []byte) (fileKey, int, time.Time, error) {
	return siblingStartOf(s, buf, true)
}

// siblingStartOf is siblingStartBorn, the birth asked for only withBorn
// (one statx less for the callers that need none).
func siblingStartOf(s sibling, buf []byte, withBorn bool) (fileKey, int, time.Time, error) {
	fh, err := openRegular(s.path)
	if err != nil {
		return fileKey{}, 0, time.Time{}, err
	}
	defer fh.Close()
	if !s.gz {
		fi, err := fh.Stat()
		if err != nil {
			return fileKey{}, 0, time.Time{}, err
		}
		key, _ := keyOf(fi)
		var b time.Time
		if withBorn {
			b, _ = bornOf(fh)
		}
		return key, readFP(fh, buf), b, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(fh))
	if err != nil {
		return fileKey{}, 0, time.Time{}, fmt.Errorf("gunzip %s: %w", s.path, err)
	}
	n, err := io.ReadFull(zr, buf[:fpSize])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fileKey{}, n, time.Time{}, fmt.Errorf("gunzip %s: %w", s.path, err)
	}
	return fileKey{}, n, time.Time{}, nil
}

// gzipEndsAt says whether the gzip file path decompresses to exactly off
// bytes, by its trailer's size field (RFC 1952 ISIZE: the size modulo
// 2^32, of the last member; kubelet writes one). It answers false when it
// cannot tell.
func gzipEndsAt(path string, off int64) bool {
	if off >= 1<<32 {
		return false
	}
	size, ok := gzipSize(path)
	return ok && size == uint32(off)
}

// gzipLongerThan says whether the gzip file path decompresses to more than
// n bytes, by its trailer's size field (gzipEndsAt); false when it cannot
// tell.
func gzipLongerThan(path string, n int64) bool {
	if n >= 1<<32 {
		return false
	}
	size, ok := gzipSize(path)
	return ok && int64(size) > n
}

// gzipStartOf says whether the gzip file path decompresses to the first
// bytes of f, no more than max of them, by its trailer (RFC 1952 CRC32 and
// ISIZE, of the last member; kubelet writes one), and to how many: those
// bytes of f are read, so only for a file that starts as path does. A
// generation that starts with the same banner holds other bytes. It
// answers false when it cannot tell.
func gzipStartOf(path string, f *os.File, max int64) (int64, bool) {
	if max >= 1<<32 {
		return 0, false
	}
	sum, size, ok := gzipTrailer(path)
	n := int64(size)
	if !ok || n > max {
		return 0, false
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return 0, false
	}
	return n, h.Sum32() == sum
}

// gzipSize is the size field of the gzip file path's trailer (RFC 1952
// ISIZE: the decompressed size modulo 2^32, of the last member).
func gzipSize(path string) (uint32, bool) {
	_, size, ok := gzipTrailer(path)
	return size, ok
}

// gzipTrailer reads the gzip file path's trailer (RFC 1952: the CRC-32 and
// the decompressed size modulo 2^32, of the last member).
func gzipTrailer(path string) (crc, size uint32, ok bool) {
	fh, err := openRegular(path)
	if err != nil {
		return 0, 0, false
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil || fi.Size() < 18 { // the smallest gzip file
		return 0, 0, false
	}
	var b [8]byte
	if _, err := fh.ReadAt(b[:], fi.Size()-8); err != nil {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(b[:4]), binary.LittleEndian.Uint32(b[4:]), true
}

// inflate decompresses the gzip file path into an unlinked temporary file
// in dir, at the same offsets as the original: the first fpSize bytes (for
// the fingerprint) and everything from from-1 on (the newline before the
// resume point, which the truncation check reads). What lies between is a
// hole that takes no space and is never read. A file damaged after the
// resume point (truncated, corrupt: damagedGzip) gives both the copy, cut
// after its last complete line, and the error.
func inflate(path, dir string, from int64) (*os.File, error) {
	src, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(src, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".tail-inflate-*")
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", path, err)
	}
	_ = os.Remove(tmp.Name()) // the descriptor keeps it; a crash leaves nothing behind
	w := bufio.NewWriterSize(tmp, 64<<10)
	damaged := false
	err = func() error {
		head := int64(fpSize)
		if n, err := io.CopyN(w, zr, head); err != nil {
			if errors.Is(err, io.EOF) && n < head {
				return nil
			}
			return err
		}
		if skip := from - 1 - head; skip > 0 {
			if err := w.Flush(); err != nil {
				return err
			}
			if _, err := io.CopyN(io.Discard, zr, skip); err != nil {
				return err
			}
			if _, err := tmp.Seek(from-1, io.SeekStart); err != nil {
				return err
			}
			w.Reset(tmp)
		}
		_, err := io.Copy(w, zr)
		damaged = err != nil && damagedGzip(err)
		return err
	}()
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil && damaged {
		if cerr := cutAfterLastLine(tmp, max(from-1, 0)); cerr == nil {
			return tmp, fmt.Errorf("gunzip %s: %w", path, err)
		}
	}
	if err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("gunzip %s: %w", path, err)
	}
	return tmp, nil
}

// damagedGzip says whether err is a gzip file's own fault (cut short,
// corrupt), not the system's.
func damagedGzip(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce)
}

// cutAfterLastLine truncates f after its last newline at or after from
// (to from if there is none).
func cutAfterLastLine(f *os.File, from int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	buf := make([]byte, 64<<10)
	for end > from {
		n := min(int64(len(buf)), end-from)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return f.Truncate(end - n + int64(i) + 1)
		}
		end -= n
	}
	return f.Truncate(from)
}

// resumeRotated runs once at startup, after the first scan opened the
// current files. Per path it finds the files of the checkpoint among the
// path and its rotated siblings (by device, inode and fingerprint for plain
// files, by fingerprint for compressed ones), and reads, in the order
// kubelet rotated them, the oldest one found from its committed offset and
// every newer sibling from 0, before the current file. A checkpointed file
// found nowhere was deleted while no agent ran: it is counted as lost, and
// then every sibling is newer than it (kubelet deletes the oldest first).
// A path with no checkpoint entry (it appeared while no agent ran) has all
// its siblings read.
func (t *Tailer) resumeRotated(now time.Time, saved []stateEntry) {
	if t.fresh && t.cfg.StartAt == "end" {
		return
	}
	// A fresh agent (no state) has no entries: for each path its scan
	// found, the rotated files last written since it started (less
	// mtimeSlack; a compressed one's time is its compression's, so it may
	// hold older lines, read as well) are read too. Those were renamed while it started: the
	// scan listed the path, kubelet rotated it, and the open by path got
	// the new file, so the lines of the renamed one were never read (and
	// no counter said so).
	paths := make(map[string][]stateEntry)
	for _, e := range saved {
		paths[e.Path] = append(paths[e.Path], e)
	}
	for p := range t.byPath {
		if _, ok := paths[p]; !ok {
			paths[p] = nil
		}
	}
	for path, es := range paths {
		t.progress() // health.go
		if t.byPath[path] == nil && ((!t.included(path) && !t.linkFileGone(path)) || (t.opts.Excluder != nil && t.opts.Excluder.Excluded(path))) {
			// Excluded now (or no longer matched): its checkpoint entry
			// is kept while the file is there (kept.go), but nothing of
			// it is read, its rotated copies neither.
			t.seenPaths[path] = true
			continue
		}
		t.resumePath(path, es, now)
		t.seenPaths[path] = true
	}
}

func (t *Tailer) resumePath(path string, es []stateEntry, now time.Time) {
	cur := t.byPath[path]
	matched := make([]bool, len(es))
	anyMatched := false
	curMatched := false // an entry is the file at the path now
	sibs := listSiblings(path)
	// A file rotated after the checkpoint was written means the file the
	// checkpoint had at the path is no longer current. That tells apart an
	// entry written while its file was empty (no first bytes to compare)
	// from a new file that reuses its inode.
	rotatedSince := false
	for _, s := range sibs {
		rotatedSince = rotatedSince || (!s.gz && s.mtime.After(t.stateTime))
	}
	var buf [fpSize]byte
	if fi, err := os.Stat(path); err == nil {
		key, _ := keyOf(fi)
		// Its birth, if it is still that file (renamed away since the
		// stat, another file's birth said nothing of it).
		b, bornKnown := bornAs(path, key)
		reborn := bornKnown && !t.stateTime.IsZero() && b.After(t.stateTime)
		// The current file's first bytes: of the scan's follower, or, not
		// opened yet (waiting for a descriptor), read here. They tell its
		// entry from one of a file deleted since whose inode it reuses
		// (compressed: found below among the siblings).
		var head []byte
		known := false
		if cur != nil && cur.key == key {
			head, known = cur.fp[:cur.fpLen], true
		} else if cur == nil {
			if k, n, err := siblingStart(sibling{path: path}, buf[:]); err == nil && k == key {
				head, known = buf[:n], true
			}
		}
		for i, e := range es {
			// An empty anchor (a rotated file finished empty) is not taken
			// for the file at the path: with no first bytes, a new empty
			// 0.log that got its inode number matches it, and the files
			// rotated since would be taken for older than it.
			// An entry without first bytes is the file at the path when
			// that file was born before the checkpoint (its inode not
			// reused since); without birth times, only if nothing was
			// rotated since (it may be a new file that reuses the inode).
			// Copytruncated while no agent ran, it is still there: not
			// counted as vanished.
			emptyAnchor := e.Done && e.FingerprintLen == 0
			if e.key() != key || reborn || (e.FingerprintLen == 0 && rotatedSince && !bornKnown) || emptyAnchor {
				continue
			}
			// The current file resumed by the scan, or not opened yet:
			// a later scan resumes it (by inode alone if its first bytes
			// could not be read).
			if (cur == nil && !known) || (known && e.fpMatches(head)) {
				matched[i], anyMatched, curMatched = true, true, true
			}
		}
	}
	atPath := slices.Clone(matched) // the entries of the file at the path
	entryOf := make([]int, len(sibs))
	start := -1
	// The plain siblings' inodes and first bytes: an entry whose file is
	// among them (its inode, still starting as it did) is matched by inode
	// only (a rename rotation); one whose file is not is also matched by
	// its fingerprint alone, in a plain file that holds at least what was
	// read of it: a copy that copytruncate made while no agent ran (the
	// original, truncated in place, no longer starts so, whether it is
	// still at the path or was renamed since, by a rotation).
	// Read once, here, for the loop below too.
	type sibStart struct {
		key  fileKey
		head []byte
		born time.Time // of the file key is (zero: not kept)
		err  error
	}
	starts := make([]sibStart, len(sibs))
	plainOf := make(map[fileKey]int, len(sibs)) // key -> index in sibs
	for j, s := range sibs {
		if s.gz {
			continue
		}
		k, n, b, err := siblingStartBorn(s, buf[:])
		starts[j] = sibStart{k, slices.Clone(buf[:n]), b, err}
		if err == nil {
			plainOf[k] = j
		}
	}
	if siblingsStarted != nil {
		siblingsStarted()
	}
	held := func(e stateEntry) bool {
		j, ok := plainOf[e.key()]
		return ok && e.fpMatches(starts[j].head)
	}
	// heldNow is held, the plain file looked at again: kubelet may have
	// compressed it since, and its .gz is then the entry's file, not a
	// copy of it.
	heldNow := func(e stateEntry) bool {
		if !held(e) {
			return false
		}
		k, err := statKey(sibs[plainOf[e.key()]].path)
		return err == nil && k == e.key()
	}
	for j, s := range sibs {
		entryOf[j] = -1
		st := starts[j]
		if s.gz {
			k, n, err := siblingStart(s, buf[:])
			st = sibStart{key: k, head: buf[:n], err: err}
		} else if s.compressedSince(st.err) {
			sibs[j] = s
			k, n, err := siblingStart(s, buf[:])
			st = sibStart{key: k, head: buf[:n], err: err}
		}
		key, head, err := st.key, st.head, st.err
		if err != nil {
			t.log.Debug("cannot read rotated file", "path", s.path, "err", err)
			continue
		}
		for i, e := range es {
			// An entry without fingerprint (its file was empty) is not
			// looked for in compressed files: any would match it, an
			// empty one too (another file rotated while still empty).
			if matched[i] || (s.gz && e.FingerprintLen == 0) || !e.fpMatches(head) {
				continue
			}
			if !s.gz && key != e.key() && (held(e) || e.FingerprintLen == 0 || s.size < e.Offset) {
				continue
			}
			if s.gz && heldNow(e) {
				// A compressed copy of the entry's file (logrotate's copy,
				// compressed), which is still plain beside it: matched by
				// its inode. Taken for the entry's file, the file itself
				// (renamed by a rotation since) was read from 0 as a newer
				// one: what the checkpoint had read came twice
				// (TestHostile61CompressedCopyAndRenamedOriginal). Looked
				// at again: the entry's own file compressed since the
				// listing is its .gz (randomized seed 304).
				continue
			}
			if !s.gz && key == e.key() && (t.bornSince(st.born) || reusedEmpty(e, s.size)) {
				// A new file that reuses the inode. Its birth is the one
				// read with its identity: asked by its name here, a file
				// compressed (removed) since had none, and was taken for
				// the entry's, whose file was deleted unread while no agent
				// ran: the loss was not counted
				// (TestEmptyEntryInodeReusedCompressedAtStart).
				continue
			}
			if k := entryOf[j]; k >= 0 {
				// A second entry of the file (state.go resumesBefore),
				// not one of another: found too, and the one that loses
				// nothing is read from.
				if es[k].key() == e.key() {
					matched[i] = true
					if e.resumesBefore(es[k]) {
						entryOf[j] = i
					}
				} else if o := es[k]; (e.FingerprintLen > o.FingerprintLen || (e.FingerprintLen == o.FingerprintLen && e.Offset > o.Offset)) &&
					(s.gz || key != o.key()) {
					// Another file's entry that knows more of its first
					// bytes, the sibling not the first's by its inode:
					// this sibling is its file (a copy of the
					// other's, made once that had grown), not the other
					// one grown. Taken for a finished file grown, what
					// the copy's entry read came twice, and the copy was
					// counted vanished
					// (TestHostile61CopyOfFinishedFileCompressed). Of two
					// that know all of fpSize, the same bytes (a copy
					// and its file), the one read further: what lies
					// before its offset was read. The other is looked
					// for further on.
					matched[k], entryOf[j], matched[i] = false, i, true
				}
				continue
			}
			entryOf[j], matched[i], anyMatched = i, true, true
			if start < 0 {
				start = j
			}
		}
	}
	if siblingsMatched != nil {
		siblingsMatched()
	}
	for i, e := range es {
		if matched[i] && !atPath[i] {
			t.resumedAside(e)
		}
	}
	newer := emptyIsNewer(es, matched, curMatched, sibs, entryOf)
	for i, e := range es {
		switch {
		case matched[i], e.Done:
			continue // found, or finished before the stop: nothing lost
		case newer && e.FingerprintLen == 0 && e.Offset == 0:
			// Empty when checkpointed, and not found: rotated and
			// compressed since, so it has no first bytes to be known
			// by; it is newer than a file found, so it was not deleted
			// (kubelet deletes the oldest first) and is among the files
			// after that one, read from 0.
			continue
		}
		t.m.lostFiles.WithLabelValues(lostVanished).Inc()
		t.log.Warn("file in the checkpoint vanished while stopped; lines not read before the stop, if any, are lost",
			"path", e.Path, "offset", e.Offset)
	}
	sinceCheckpoint, copiesOnly := false, false
	switch {
	case start >= 0:
		start = t.copiesBefore(es, entryOf, sibs, start)
	case curMatched && nothingReadAt(es, atPath):
		// The checkpoint's file is still current, nothing of it read:
		// the siblings written since (after the newest one the
		// checkpoint names) are copies that copytruncate made of it
		// while no agent ran, none of them read, compressed or not
		// (logrotate compresses a copy at its next rotation).
		start, sinceCheckpoint, copiesOnly = 0, true, true
		for j := range sibs {
			if entryOf[j] >= 0 {
				start = j + 1
			}
		}
	case anyMatched:
		return // the checkpoint's file is still current: nothing rotated since
	default:
		// Every sibling is newer than what the checkpoint knew. For a
		// path it names (whose files vanished), those last written since
		// it was written: older ones were read before it, or are newer
		// than the vanished file only if kubelet kept an older one, which
		// it does not. For a path it does not name, those last written
		// since the agents began to follow the node: older ones were
		// there before any agent, newer ones no agent saw.
		start, sinceCheckpoint = 0, true
	}
	since := t.since
	if len(es) > 0 && t.stateTime.After(since) {
		since = t.stateTime
	}
	var prev *follower
	live := cur
	if live == nil {
		// Waiting for a descriptor (openlimit.go): what holds looks at
		// is read from the file at the path, opened for the look.
		var done func()
		live, done = liveAt(path)
		defer done()
	}
	var later heldLater
	lastDone := -1 // the newest sibling, when finished before the stop
	for j := start; j < len(sibs); j++ {
		if sinceCheckpoint && sibs[j].mtime.Before(since.Add(-mtimeSlack)) {
			continue
		}
		if copiesOnly && entryOf[j] >= 0 {
			continue
		}
		var e *stateEntry
		if entryOf[j] >= 0 {
			e = &es[entryOf[j]]
			if e.Done {
				// Compressed since it was matched plain: its growth
				// is looked at in its .gz. Its stat failing, it was
				// taken for not grown, and the lines written after
				// the finish were lost uncounted
				// (TestHostile72FinishedGrewCompressedAtStart).
				sibs[j].recheck()
			}
			if e.Done && !grownSince(sibs[j], e.key(), e.Offset) && !copyGrown(sibs[j], e.key(), e.Offset) {
				// Finished before the stop: not read again, and still
				// the path's anchor until a newer file is finished.
				t.setAnchor(*e) // anchors.go
				if j == len(sibs)-1 && !sibs[j].gz {
					lastDone = j
				}
				continue
			}
			if e.Done {
				// Finished as rotated, then renamed back to the path (a
				// rotation undone just before the stop), written, and
				// rotated (or copytruncated) again while no agent ran:
				// read on from where it was finished (discovery.go
				// grownSince, copyGrown).
				d := *e
				d.Done = false
				e = &d
			}
		}
		if e == nil && later.left(t, live, sibs[j]) { // discovery.go
			continue // held by the file at the path
		}
		if e == nil && copyOfResumed(sibs[j], sibs, es, entryOf) {
			// logrotate's copy of a checkpoint's file made while no
			// agent ran, the file rotated by its name since (kubelet):
			// the file, resumed at its entry's offset, holds its lines.
			// Read from 0 too, what the checkpoint had read of the
			// file came twice, and the rest twice once the file was read
			// (TestCopyOfResumedFileRenamedWhileStopped).
			continue
		}
		if t.followedAsGz(path, cur, sibs[j]) || followedPlain(cur, sibs[j]) { // discovery.go
			// The scan's file, renamed (and compressed) since: its
			// entry, if any, is the one the scan resumed it from, and
			// the files after it are newer than it. They are read
			// after it once the path's next file is found (discover:
			// rotatedAfter). Read here, before it, their lines came
			// before its own, and, closed by then, twice.
			break
		}
		f := t.openSibling(path, sibs[j], e, now)
		if i := entryOf[j]; f == nil && i >= 0 && !sibs[j].gz && starts[j].err == nil && starts[j].key == es[i].key() {
			// The entry's own file (by its inode), gone from its name
			// since the listing: kubelet undid its rotation (renamed it
			// back to the path, below), and may have rotated it again
			// under another name, where it is read. Taken for deleted,
			// it was counted vanished, and the discovery that found it
			// at the path again read it from 0: what the checkpoint
			// read came twice (TestHostile72CheckpointedFileMovedBeforeItsOpen,
			// TestHostile61MixedRotationsAcrossRestarts seed 10026).
			if s, ok := movedSibling(path, sibs[j], es[i].key()); ok {
				sibs[j] = s
				f = t.openSibling(path, s, e, now)
			}
		}
		if f == nil {
			if i := entryOf[j]; i >= 0 && !sibs[j].gz && atPathNow(path, es[i].key()) {
				// Gone from its rotated name since the listing: renamed
				// back to the path (kubelet undid its rotation), its
				// entry is the file's again, for the discovery that
				// finds it there (discover resumes it). Taken aside
				// (resumedAside) and not put back, the file was read
				// from 0 there: what the checkpoint read came twice
				// (randomized seed 65334).
				t.resumeAt(es[i])
			}
			continue
		}
		f.pred = prev
		prev = f
		if cur != nil {
			cur.readBefore(f) // copy.go
		}
	}
	if cur != nil && cur.pred == nil && prev != nil {
		cur.pred = prev
	}
	if cur == nil && prev != nil {
		t.lastOpened(path, prev, now)
	}
	if cur == nil && prev == nil && lastDone >= 0 {
		t.lastFinished(path, sibs[lastDone], es[entryOf[lastDone]])
	}
}

// copyOfResumed says whether s, a sibling no checkpoint entry matched,
// is a copy of a plain sibling resumed from its entry (not finished): it
// decompresses to that file's first bytes, or is no longer than it,
// starts as it does and ends as it holds at the same offset. A copy
// copytruncate made is not: the file was truncated, and no longer holds
// it. A generation that starts with the same banner holds other bytes.
func copyOfResumed(s sibling, sibs []sibling, es []stateEntry, entryOf []int) bool {
	for k, o := range sibs {
		i := entryOf[k]
		if i < 0 || es[i].Done || o.gz || o.path == s.path {
			continue
		}
		if heldBy(s, o.path, es[i].key()) {
			return true
		}
	}
	return false
}

// heldBy says whether the file at p, while it is the file key, holds s
// (copyOfResumed).
func heldBy(s sibling, p string, key fileKey) bool {
	fh, err := openRegular(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false
	}
	if k, _ := keyOf(fi); k != key {
		return false
	}
	if s.gz {
		n, ok := gzipStartOf(s.path, fh, fi.Size())
		return ok && n > 0
	}
	var a [fpSize]byte
	_, n, err := siblingStart(s, a[:])
	return err == nil && holdsFile(fh, fi.Size(), s.path, a[:n]) // discovery.go
}

// lastFinished notes s, the newest rotated sibling of path and a file the
// checkpoint has as finished (entry e), as the path's last rotated file,
// when the start found no file at the path and opened no sibling: kubelet
// renamed the file away (a rotation) and has not made the next one, or
// renamed it away once more after undoing a rotation just before the stop.
// Renamed back, it is then the rotation undone (discover: undoneBy), read
// on from where it was finished; without the note it was a new file at the
// path, read from 0, and the lines read before the stop came twice
// (TestDoneFileAwayAtStartThenBack; TestHostile61MixedRotationsAcrossRestarts
// seed 8082). A next file at the path reads the siblings rotated after s
// first, as after any file closed as rotated.
func (t *Tailer) lastFinished(path string, s sibling, e stateEntry) {
	if _, ok := t.lastRotated[path]; ok {
		return
	}
	fh, err := t.open(s.path)
	if err != nil {
		return
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return
	}
	r := rotated{fi: fi, off: e.Offset, born: bornOr(fh)}
	r.key, _ = keyOf(fi)
	r.fpLen = readFP(fh, r.fp[:])
	if r.key != e.key() || r.fpLen != e.FingerprintLen || fpHash(r.fp[:r.fpLen]) != e.Fingerprint || fi.Size() != e.Offset {
		return // not the finished file any more (grown, or another one at its name)
	}
	t.lastRotated[path] = r
}

// resumeAt puts e back among the entries to resume: its file, found among
// the siblings, is at its path again, for the discovery that finds it
// there.
func (t *Tailer) resumeAt(e stateEntry) {
	if t.resume == nil {
		t.resume = make(map[fileKey][]stateEntry)
	}
	k := e.key()
	t.resume[k] = append(t.resume[k], e)
}

// movedSibling is the plain sibling of path that is the file key now,
// another name than s, the name it was listed by: kubelet renamed it back
// to the path (a rotation undone) and rotated it again since the listing.
func movedSibling(path string, s sibling, key fileKey) (sibling, bool) {
	for _, o := range listSiblings(path) {
		if k, err := statKey(o.path); err == nil && !o.gz && o.path != s.path && k == key {
			return o, true
		}
	}
	return s, false
}

// movedNow says whether the file of e, plain and gone from a sibling's
// name, is at path or a plain sibling of it now, starting as e says: a
// rotation undone since the listing (and perhaps done again), not a
// deletion. A copy of e's file gone is not: the file no longer starts as
// it did (copytruncate truncated it).
func movedNow(path string, e stateEntry) bool {
	var buf [fpSize]byte
	for _, o := range append([]sibling{{path: path}}, listSiblings(path)...) {
		if o.gz {
			continue
		}
		if k, n, err := siblingStart(o, buf[:]); err == nil && k == e.key() && e.fpMatches(buf[:n]) {
			return true
		}
	}
	return false
}

// backHome makes f, a plain rotated sibling the start opened away from its
// path (f.home) whose file is back at that path now, the path's follower,
// as its truncation is handled: kubelet renamed the file back (a rotation
// undone: the runtime could not reopen its log) after the start found it
// under its rotated name, and logrotate copytruncated it there. Its copy
// lies beside the path; looked for beside the rotated name, it was not
// found, the lines the file held past the checkpoint were counted lost
// although the copy held them, and the next agent read the copy from 0
// again (TestResumedAwayThenBackAndCopytruncated, test/model TAIL_MIX seed
// 60276).
//
// A follower of the path, or a file that waits on f (its successor, read
// after it: the file the start found at the path), is not at the path any
// more: f's file is, renamed over it. Its next check finds it moved (or
// deleted), and a successor no longer waits on f, which does not end
// while followed. Refused for them, f was left a rotated file, finished
// and closed as one, and the discovery that found it at the path read its
// copy again whole (TestResumedAwayBackOverNewFile).
func (t *Tailer) backHome(f *follower, now time.Time) {
	if f.home == "" || f.st != stDraining || f.f == nil || f.inflated || !atPathNow(f.home, f.key) {
		return
	}
	if !f.fire(evMovedBack, now) {
		return
	}
	if s := t.successor(f); s != nil {
		s.pred = f.pred
	}
	f.path, f.home = f.home, ""
	t.byPath[f.path] = f
	f.renameNoticed = false
	t.log.Debug("rotated file back at its path (a rotation undone); followed there", "path", f.path, "offset", f.consumed)
}

// atPathNow says whether the file at path is the file key.
func atPathNow(path string, key fileKey) bool {
	k, err := statKey(path)
	return err == nil && k == key
}

// nothingReadAt says whether the entries of the file at the path (atPath)
// say nothing of it was read: offset 0, no first bytes, not finished.
func nothingReadAt(es []stateEntry, atPath []bool) bool {
	for i, e := range es {
		if atPath[i] && (e.Offset != 0 || e.FingerprintLen != 0 || e.Done) {
			return false
		}
	}
	return true
}

// lastOpened notes f, the newest rotated sibling of path opened at the
// start, as the path's last rotated file, when the scan found no file at
// the path (kubelet had renamed 0.log and not yet created the next one).
// The path's next file, found later, then reads the siblings rotated after
// f first (discover: rotatedAfter). Without it, a file created, written
// and rotated in turn before the tailer looked had nothing to be placed
// after, and its lines were lost uncounted (test/model seed 610029).
// f's close notes it again, where it was read to. Ending with the first
// fragments of a CRI line, f is kept open for the next file (awaitsNext)
// until rotatedLinger after now.
func (t *Tailer) lastOpened(path string, f *follower, now time.Time) {
	if _, ok := t.lastRotated[path]; ok {
		return
	}
	if f.since.IsZero() {
		f.since = now
	}
	var fi os.FileInfo
	var err error
	if f.f != nil {
		fi, err = f.f.Stat()
	} else {
		fi, err = os.Stat(f.gz) // compressed: found by its first bytes
	}
	if err != nil {
		return
	}
	t.lastRotated[path] = rotated{fi: fi, key: f.key, off: f.off, fp: f.fp, fpLen: f.fpLen, born: bornOr(f.f)}
}

// copiesBefore returns where to start reading the siblings when the first
// one found is sibs[start]: before it too, when its entry says nothing of
// it was read (offset 0, no first bytes: followed while empty), at the
// siblings no entry matched that were written since the checkpoint, back
// to the newest one an entry matched. Those are copies of it that
// copytruncate made while no agent ran (a copy is named when it is made,
// before the file's own later rotation; name order is not content order):
// nothing of them was read. A sibling of the checkpoint (an anchor, a file
// not finished) lies before them.
//
// Not before a finished one (an empty anchor: a rotated file finished
// empty): nothing copies a rotated file, and the files before it were read
// before it. One compressed just before the checkpoint was written is
// within mtimeSlack of it; read again from 0, its lines came twice (test/model
// seed 1230068; TestEmptyAnchorHasNoCopiesBefore).
func (t *Tailer) copiesBefore(es []stateEntry, entryOf []int, sibs []sibling, start int) int {
	if i := entryOf[start]; i < 0 || es[i].Offset != 0 || es[i].FingerprintLen != 0 || es[i].Done {
		return start
	}
	for j := start - 1; j >= 0 && entryOf[j] < 0 && !sibs[j].mtime.Before(t.stateTime.Add(-mtimeSlack)); j-- {
		start = j
	}
	return start
}

// bornSince says whether a file born at b (zero: unknown) was created
// after the checkpoint resumed from was written.
func (t *Tailer) bornSince(b time.Time) bool {
	return !b.IsZero() && !t.stateTime.IsZero() && b.After(t.stateTime)
}

// reusedEmpty says whether a file of size bytes with e's device and inode
// is another file than e, an entry done while its file was empty (a
// path's empty anchor, anchors.go): it has no first bytes to compare, and
// a file finished empty that has lines now is one that got its inode
// number after kubelet deleted it, created before the checkpoint was
// written (so its birth time does not tell). It is read, not skipped as
// finished.
func reusedEmpty(e stateEntry, size int64) bool {
	return e.Done && e.FingerprintLen == 0 && size > e.Offset
}

// resumedAside drops e, found among its path's rotated siblings, from the
// entries not resumed yet: it is read from there (or is an anchor), and
// the file at its path, if one has its inode, is another one that reuses
// it, not to be kept under e (kept.go) nor resumed from it.
func (t *Tailer) resumedAside(e stateEntry) {
	k := e.key()
	if es := slices.DeleteFunc(t.resume[k], func(o stateEntry) bool { return o.id() == e.id() }); len(es) > 0 {
		t.resume[k] = es
	} else {
		delete(t.resume, k)
	}
}

// emptyIsNewer says whether an entry written while its file was empty,
// not found, is newer than a file of the checkpoint that was found, so
// that its file (rotated and compressed since) is among the siblings read
// from 0 after that one. That holds when an anchor (a done file) was found:
// the anchor is older than every file not finished. Without one, it holds
// when the empty file was the current one: no entry is the file at the
// path now, and every compressed sibling no entry matched (the empty
// file's among them, if it was compressed) lies after the newest sibling
// matched. A file rotated while empty is not empty for good: the runtime
// may still write to it for a moment, and it lies before its successor.
// The empty file, compressed before the newest file found, or deleted
// (kubelet deletes the oldest first), is counted lost if it is not newer.
func emptyIsNewer(es []stateEntry, matched []bool, curMatched bool, sibs []sibling, entryOf []int) bool {
	for i, e := range es {
		if matched[i] && e.Done {
			return true
		}
	}
	if curMatched {
		return false
	}
	newest := -1
	for j := range sibs {
		if entryOf[j] >= 0 {
			newest = j
		}
	}
	if newest < 0 {
		return false
	}
	after := false
	for j, s := range sibs {
		if entryOf[j] >= 0 || !s.gz {
			continue
		}
		if j < newest {
			return false
		}
		after = true
	}
	return after
}

// openSibling opens a rotated sibling of path to be read to its end and
// closed: from the entry's offset if it has one, else from 0. A compressed
// sibling is inflated only when its turn to be read comes (inflateTurn):
// at most maxInflated at once, so a restart after a long stop does not
// take the decompressed size of every compressed file from the disk.
func (t *Tailer) openSibling(path string, s sibling, e *stateEntry, now time.Time) *follower {
	var off, acked int64
	if e != nil {
		off, acked = e.Offset, e.AckedTo
	}
	var (
		fh  *os.File
		err error
	)
	if !s.gz {
		fh, err = t.open(s.path)
		if s.compressedSince(err) {
			err = nil
		}
	}
	var fp [fpSize]byte
	fpLen := 0
	if s.gz {
		_, fpLen, err = siblingStart(s, fp[:])
		if err == nil && e != nil && off > 0 && gzipEndsAt(s.path, off) {
			// Read to its end before the stop: nothing to inflate. It
			// is the path's anchor now (the files after it are newer),
			// and kubelet may delete it at any time without a loss.
			d := *e
			d.Offset, d.AckedTo = off, off
			t.setAnchor(d) // anchors.go
			return nil
		}
		if err == nil && fpLen == 0 {
			// Empty (rotated before anything was written to it):
			// nothing to read. Followed until its turn, it would be in
			// a checkpoint written meanwhile with no first bytes, and
			// the next agent, unable to find it, would count it lost.
			return nil
		}
	}
	if err != nil {
		if e != nil && errors.Is(err, fs.ErrNotExist) {
			if !s.gz && movedNow(path, *e) {
				return nil // renamed, not deleted: the caller finds it (resumePath)
			}
			// Deleted between the listing and the open, not compressed:
			// what the checkpoint had not read of it is lost.
			t.m.lostFiles.WithLabelValues(lostVanished).Inc()
			t.log.Warn("rotated file in the checkpoint was deleted before it could be read", "path", s.path, "offset", off)
			return nil
		}
		t.openErr(s.path, "cannot read rotated log file", err)
		return nil
	}
	var f *follower
	if s.gz {
		// Known by a key of its own until inflated: the inflated copy is
		// an unlinked file whose identity means nothing after a restart
		// (a compressed file is found again by its first bytes). The
		// numbers start above those of the checkpoint (checkpoint.go
		// loadState): an anchor keeps its key across restarts.
		t.lazyKeys++
		key := fileKey{dev: ^uint64(0), ino: t.lazyKeys}
		f = &follower{path: s.path, gz: s.path, key: key, dirty: true, st: stDraining, since: now, inflated: true, fp: fp, fpLen: fpLen}
	} else {
		fi, err := fh.Stat()
		if err != nil {
			_ = fh.Close()
			return nil
		}
		key, _ := keyOf(fi)
		if t.files[key] != nil {
			_ = fh.Close()
			return nil
		}
		f = &follower{path: s.path, f: fh, key: key, size: fi.Size(), dirty: true, st: stDraining, since: now, home: path}
		f.fpLen = readFP(fh, f.fp[:])
		if off > f.size {
			t.m.truncations.Inc()
			off, acked = 0, 0
		}
	}
	f.dec.maxLine, f.dec.path = t.cfg.MaxLineBytes, path
	f.off, f.consumed, f.suppressTo = off, off, acked
	f.tr = t.newTracker(f.key, path, off, acked, f.fp[:f.fpLen])
	if e != nil && e.Offset == off {
		t.resumeCont(f, e.Cont)
	}
	t.add(f)
	t.log.Debug("reading rotated file never opened", "path", s.path, "offset", off, "compressed", s.gz)
	return f
}

// maxInflated is how many compressed files are inflated (decompressed into
// an unlinked file in state_dir) at once.
const maxInflated = 2

// inflateTurn inflates f's compressed file when its turn to be read came;
// false if it must wait (maxInflated are inflated) or could not be read (it
// is then closed, and if it vanished its unread lines are counted lost).
func (t *Tailer) inflateTurn(f *follower) bool {
	if t.inflatedNow >= maxInflated {
		return false
	}
	dir := t.cfg.StateDir
	if dir == "" {
		dir = os.TempDir()
	}
	// From the end of the last whole line: a copy taken over with a carry
	// (findCopy) is checked at the newline before it (rewritten).
	fh, err := inflate(f.gz, dir, f.consumed)
	if err != nil {
		switch {
		case damagedGzip(err):
			// Its end is missing or corrupt: what could be decompressed
			// (if anything: fh) is read, the rest is lost.
			t.m.lostFiles.WithLabelValues(lostCorrupt).Inc()
			t.log.Warn("compressed rotated file damaged; lines after the damage are lost", "path", f.gz, "err", err)
		case errors.Is(err, fs.ErrNotExist):
			t.m.lostFiles.WithLabelValues(lostVanished).Inc()
			t.log.Warn("compressed rotated file deleted before its turn to be read; its lines not read are lost", "path", f.gz, "offset", f.off)
		default:
			t.openErr(f.gz, "cannot read rotated log file", err)
		}
		if fh == nil {
			f.gz = ""
			t.closeFollower(f, evEnd)
			return false
		}
	}
	fi, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		f.gz = ""
		t.closeFollower(f, evEnd)
		return false
	}
	f.f, f.gz, f.size = fh, "", fi.Size()
	t.inflatedNow++
	if f.off > f.size {
		// Shorter than the checkpoint's offset: not the same content.
		t.m.truncations.Inc()
		t.closeTracker(f.tr, true)
		f.off, f.consumed, f.suppressTo = 0, 0, 0
		f.tr = t.newTracker(f.key, f.dec.path, 0, 0, f.fp[:f.fpLen])
	}
	return true
}

// liveAt is the file at path, not followed yet (it waits for a
// descriptor), as holds looks at it: its size and first bytes, and a
// descriptor that done closes. Nil if it cannot be opened.
func liveAt(path string) (live *follower, done func()) {
	fh, err := openRegular(path)
	if err != nil {
		return nil, func() {}
	}
	fi, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		return nil, func() {}
	}
	live = &follower{path: path, f: fh, size: fi.Size()}
	live.fpLen = readFP(fh, live.fp[:])
	return live, func() { _ = fh.Close() }
}
