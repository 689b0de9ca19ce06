package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the name of the lock in state_dir.
const lockFile = "lock"

// errStateDirInUse is returned when another process holds state_dir.
var errStateDirInUse = errors.New("state_dir is in use by another ferry agent")

// lockStateDir takes an exclusive flock(2) on state_dir/lock for the life
// of the agent: two agents on one state_dir would both ship every line and
// overwrite each other's offsets. The lock is the kernel's, so it is gone
// with the process however it ends (SIGKILL included); the pid written in
// the file only helps the operator find the holder. An empty dir (nothing
// persisted) takes no lock.
func lockStateDir(dir string) (release func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock state_dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state_dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "unknown pid"
			if b, rerr := os.ReadFile(path); rerr == nil && len(b) > 0 {
				holder = "pid " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("%w (%s holds %s); stop it or give this agent its own state_dir", errStateDirInUse, holder, path)
		}
		return nil, fmt.Errorf("lock state_dir: flock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		// Closing the descriptor releases the lock; the file stays, as a
		// stale file holds no lock.
		return f.Close()
	}, nil
}
