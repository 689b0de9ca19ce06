package tail

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFreshAgentReadsFileRotatedAsItStarts: kubelet rotated a container's
// log just as a fresh agent (no state) started: its scan found the path,
// the open by path got the new file, and the lines of the renamed one
// were never read, with no counter saying so (the model's seed 18 under
// load). A fresh agent now also reads the plain rotated files of the
// paths it found that were last written since it started (less a slack
// of 2 s); an older rotated file is history it does not owe.
func TestFreshAgentReadsFileRotatedAsItStarts(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	line := func(i int) string { return criLine("stdout", "F", "seq="+strconv.Itoa(i)+" rotated-at-start") }
	old := path + ".20261204-000000"
	appendFile(t, old, criLine("stdout", "F", "seq=999 history"))
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendFile(t, path, line(i))
	}
	if err := os.Rename(path, path+".20261205-000001"); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 15; i++ {
		appendFile(t, path, line(i))
	}
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.pollOnly = true })
	var seqs []int
	read := func() []int {
		seqs = seqs[:0]
		for _, rc := range r.snapshot() {
			if s, ok := seqOf(rc.body); ok {
				seqs = append(seqs, s)
			}
		}
		return seqs
	}
	waitFor(t, 20*time.Second, "the rotated file's and the new file's lines", func() bool { return len(read()) >= 15 })
	r.stop()
	read()
	slices.Sort(seqs)
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	if !slices.Equal(seqs, want) {
		t.Errorf("lines read %v, want %v (the rotated file's, the new file's, not the hour-old history)", seqs, want)
	}
}
