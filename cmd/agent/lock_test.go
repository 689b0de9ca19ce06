package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockStateDir: a second lock on the same state_dir fails with the
// holder's pid; after release it is taken again. flock locks belong to
// the open file, so two opens in one process conflict like two processes.
func TestLockStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	release, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockStateDir(dir)
	if !errors.Is(err, errStateDirInUse) {
		t.Fatalf("second lock: %v, want errStateDirInUse", err)
	}
	if want := fmt.Sprintf("pid %d holds %s", os.Getpid(), filepath.Join(dir, "lock")); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	release2, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

// TestLockStateDirRefusesSymlink: the lock file is not followed through a
// symlink planted in state_dir.
func TestLockStateDirRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, lockFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := lockStateDir(dir); err == nil {
		t.Fatal("locked through a symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
}
