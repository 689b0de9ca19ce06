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

// TestCheckStateDirMove: a reload may move state_dir to an empty or new
// directory, not onto another checkpoint nor a directory another agent
// holds; moveStateDir carries the checkpoint over.
func TestCheckStateDirMove(t *testing.T) {
	base := t.TempDir()
	if err := checkStateDirMove(filepath.Join(base, "new")); err != nil {
		t.Errorf("a new directory: %v", err)
	}
	old := filepath.Join(base, "old")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "tail.json"), []byte(`{"version":1,"files":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkStateDirMove(old); err == nil || !strings.Contains(err.Error(), "already holds a checkpoint") {
		t.Errorf("a directory with a checkpoint: %v", err)
	}
	held := filepath.Join(base, "held")
	release, err := lockStateDir(held)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStateDirMove(held); !errors.Is(err, errStateDirInUse) {
		t.Errorf("a directory another agent holds: %v", err)
	}
	release()
	if err := moveStateDir(old, filepath.Join(base, "new")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "new", "tail.json")); err != nil {
		t.Errorf("checkpoint not moved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(old, "tail.json")); err == nil {
		t.Error("checkpoint left in the old directory")
	}
}
