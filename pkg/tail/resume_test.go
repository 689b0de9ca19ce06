package tail

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRotatedWhileStopped: the tailer stops with part of 0.log unread;
// while no agent runs, kubelet renames it to 0.log.<timestamp> and the
// container starts a new 0.log. The next tailer finishes the rotated file
// from its checkpoint (through the identity in the state, not the path,
// which now names the new file) and reads the new file from 0.
func TestRotatedWhileStopped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newFile bool // a new 0.log exists when the tailer starts again
	}{
		{name: "new file at the old path", newFile: true},
		{name: "no new file yet", newFile: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 50))
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 50 })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			// Written after the checkpoint, then rotated away while stopped.
			appendFile(t, path, lines(50, 80))
			if err := os.Rename(path, path+".20261126-035509"); err != nil {
				t.Fatal(err)
			}
			want := upto(50, 80)
			if tc.newFile {
				appendFile(t, path, lines(1000, 1010))
				want = append(want, upto(1000, 1010)...)
			}
			r2 := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "the rest", func() bool { return len(r2.snapshot()) >= len(want) })
			r2.settle() // nothing more may come
			r2.stop()
			got := seqs(r2.snapshot())
			// The two files are read concurrently: compare per file.
			var rotated, fresh []int
			for _, s := range got {
				if s >= 1000 {
					fresh = append(fresh, s)
				} else {
					rotated = append(rotated, s)
				}
			}
			if diff := cmp.Diff(upto(50, 80), rotated); diff != "" {
				t.Errorf("rotated file (-want +got):\n%s", diff)
			}
			var wantFresh []int
			if tc.newFile {
				wantFresh = upto(1000, 1010)
			}
			if diff := cmp.Diff(wantFresh, fresh); diff != "" {
				t.Errorf("new file (-want +got):\n%s", diff)
			}
		})
	}
}
