package tail

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrStateExists is returned by MoveState when the destination already
// holds a checkpoint: which of the two is right is for the operator to say.
var ErrStateExists = errors.New("state directory already holds a checkpoint")

// stateFiles are the files of the tailer in its state directory.
var stateFiles = []string{stateName, sinceName}

// HasState says whether dir holds a checkpoint of the tailer.
func HasState(dir string) bool {
	for _, n := range stateFiles {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// MoveState moves the tailer's checkpoint from the state directory from to
// the state directory to, so that a tailer started on to resumes where one
// on from stopped. Call it with no tailer running on either. Each file is
// written to to (temporary file, fsync, rename, fsync of the directory)
// before it is removed from from, so a crash in between leaves a
// checkpoint in both, never in neither. It refuses (ErrStateExists) when
// to holds a checkpoint already, and does nothing when from holds none.
func MoveState(from, to string) error {
	if filepath.Clean(from) == filepath.Clean(to) {
		return nil
	}
	if HasState(to) {
		return fmt.Errorf("move state to %s: %w", to, ErrStateExists)
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return fmt.Errorf("move state: %w", err)
	}
	var moved []string
	for _, n := range stateFiles {
		data, err := os.ReadFile(filepath.Join(from, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("move state: %w", err)
		}
		if err := writeAtomic(filepath.Join(to, n), data); err != nil {
			return fmt.Errorf("move state: %w", err)
		}
		moved = append(moved, n)
	}
	for _, n := range moved {
		if err := os.Remove(filepath.Join(from, n)); err != nil {
			return fmt.Errorf("move state: remove the old copy: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
