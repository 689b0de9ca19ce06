//go:build !linux

package hostmetrics

import (
	"os"
	"path/filepath"
	"strings"
)

// attrDir reads the small attribute files of one directory.
type attrDir struct{ path string }

func openAttrDir(path string) (*attrDir, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &attrDir{path: path}, nil
}

func (d *attrDir) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(d.path, name))
	return strings.TrimSpace(string(b[:min(len(b), sysAttrReadLen)])), err
}

// sysAttrReadLen is how much of an attribute file procfs reads (one
// read(2) of 128 bytes, parsers.SysReadFile).
const sysAttrReadLen = 128

func (d *attrDir) close() {}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func withFile(path string, fn func([]byte) error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return fn(b)
}
