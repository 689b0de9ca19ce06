package tail

import (
	"os"
	"path/filepath"
	"slices"
)

// glob is filepath.Glob, calling beat before each directory it reads: the
// include globs of a node read thousands of pod directories, which on a
// slow disk takes long enough for the liveness heartbeat (health.go) to go
// stale if only the files found beat it. With a cache (nil: none), the
// listings it holds are used instead of reading the directories.
func glob(pattern string, beat func(), c *dirCache) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	if !hasMeta(pattern) {
		if _, err := os.Lstat(pattern); err != nil {
			return nil, nil
		}
		return []string{pattern}, nil
	}
	dir, file := filepath.Split(pattern)
	switch {
	case dir == "":
		dir = "."
	case dir != string(filepath.Separator):
		dir = dir[:len(dir)-1] // the trailing separator
	}
	if !hasMeta(dir) {
		return globDir(dir, file, nil, beat, c)
	}
	if dir == pattern {
		return nil, filepath.ErrBadPattern
	}
	dirs, err := glob(dir, beat, c)
	if err != nil {
		return nil, err
	}
	var m []string
	for _, d := range dirs {
		if m, err = globDir(d, file, m, beat, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// globDir appends to m the names in dir that match pattern, in order.
func globDir(dir, pattern string, m []string, beat func(), c *dirCache) ([]string, error) {
	names, ok := c.get(dir)
	if !ok {
		beat()
		cacheable := c.watched(dir) // before the read: nothing created after it is missed
		d, err := os.Open(dir)
		if err != nil {
			return m, nil // not there, or not a directory: no match, as filepath.Glob
		}
		names, _ = d.Readdirnames(-1)
		d.Close()
		slices.Sort(names)
		if cacheable {
			c.put(dir, names)
		}
	}
	for _, n := range names {
		ok, err := filepath.Match(pattern, n)
		if err != nil {
			return m, err
		}
		if ok {
			m = append(m, filepath.Join(dir, n))
		}
	}
	return m, nil
}

// dirCache keeps, between rescans, the listings of the directories the
// include globs read, for the directories that were watched when they were
// read: a watched directory reports every entry created, moved or deleted
// in it (handleEvent drops its listing then), so reading it again finds
// nothing new. On a node with thousands of pods that reading was nearly all
// of an idle agent's CPU (bench/README.md, "Idle on many files"). Events
// lost (the kernel's queue overflowed) drop every listing, and every
// fullEvery-th rescan reads every directory anyway, in case a file system
// does not report what it should.
type dirCache struct {
	names    map[string][]string
	watching func(dir string) bool
	rescans  int
}

// fullEvery is how many rescans use the cached listings before one reads
// every directory again.
const fullEvery = 12

func newDirCache(watching func(string) bool) *dirCache {
	return &dirCache{names: make(map[string][]string), watching: watching}
}

func (c *dirCache) get(dir string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	n, ok := c.names[dir]
	if ok && !c.watching(dir) { // its watch is gone: events no longer come
		delete(c.names, dir)
		return nil, false
	}
	return n, ok
}

func (c *dirCache) watched(dir string) bool { return c != nil && c.watching(dir) }

func (c *dirCache) put(dir string, names []string) { c.names[dir] = names }

// changed drops the listings that an event about path makes stale: its
// directory's, and its own if it is a directory.
func (c *dirCache) changed(path string) {
	if c == nil {
		return
	}
	delete(c.names, filepath.Dir(path))
	delete(c.names, path)
}

// clear drops every listing.
func (c *dirCache) clear() {
	if c != nil {
		clear(c.names)
	}
}

// rescan is called before each rescan; every fullEvery-th reads every
// directory again (and says so).
func (c *dirCache) rescan() bool {
	if c == nil {
		return false
	}
	if c.rescans++; c.rescans%fullEvery == 0 {
		clear(c.names)
		return true
	}
	return false
}
