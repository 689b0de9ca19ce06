package tail

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMoveState(t *testing.T) {
	from, to := t.TempDir(), filepath.Join(t.TempDir(), "new")
	entries := []stateEntry{{Dev: 1, Ino: 2, FingerprintLen: 3, Fingerprint: fpHash([]byte("abc")), Path: "/var/log/pods/a/b/0.log", Offset: 42, AckedTo: 42}}
	if err := writeState(from, entries); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := writeSince(from, since); err != nil {
		t.Fatal(err)
	}
	if err := MoveState(from, to); err != nil {
		t.Fatal(err)
	}
	m, ok, invalid, err := loadState(to)
	if err != nil || !ok || len(invalid) > 0 || len(m) != 1 || m[0].key() != (fileKey{1, 2}) || m[0].Offset != 42 {
		t.Errorf("moved checkpoint: %v ok=%v invalid=%v err=%v", m, ok, invalid, err)
	}
	if got := loadSince(to); !got.Equal(since) {
		t.Errorf("moved since %v, want %v", got, since)
	}
	if HasState(from) {
		t.Error("the old directory still holds a checkpoint")
	}
	// Back again, and refused onto a directory with a checkpoint.
	if err := writeState(from, nil); err != nil {
		t.Fatal(err)
	}
	if err := MoveState(to, from); !errors.Is(err, ErrStateExists) {
		t.Errorf("move onto a checkpoint: %v, want ErrStateExists", err)
	}
	if _, ok, _, _ := loadState(to); !ok {
		t.Error("a refused move removed the checkpoint")
	}
	// Nothing to move: nothing happens.
	empty, dst := t.TempDir(), t.TempDir()
	if err := MoveState(empty, dst); err != nil || HasState(dst) {
		t.Errorf("move of no checkpoint: %v, state in destination %v", err, HasState(dst))
	}
	if _, err := os.Stat(filepath.Join(to, stateName+".tmp")); err == nil {
		t.Error("temporary file left behind")
	}
}
