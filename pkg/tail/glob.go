package tail

import (
	"os"
	"path/filepath"
	"slices"
)

// glob is filepath.Glob, calling beat before each directory it reads: the
// include globs of a node read thousands of pod directories, which on a
// slow disk takes long enough for the liveness heartbeat (health.go) to go
// stale if only the files found beat it.
func glob(pattern string, beat func()) ([]string, error) {
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
		return globDir(dir, file, nil, beat)
	}
	if dir == pattern {
		return nil, filepath.ErrBadPattern
	}
	dirs, err := glob(dir, beat)
	if err != nil {
		return nil, err
	}
	var m []string
	for _, d := range dirs {
		if m, err = globDir(d, file, m, beat); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// globDir appends to m the names in dir that match pattern, in order.
func globDir(dir, pattern string, m []string, beat func()) ([]string, error) {
	beat()
	d, err := os.Open(dir)
	if err != nil {
		return m, nil // not there, or not a directory: no match, as filepath.Glob
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	slices.Sort(names)
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
