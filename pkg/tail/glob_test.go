package tail

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestGlob: glob finds what filepath.Glob finds, and beats once per
// directory it reads.
func TestGlob(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"ns_a_1/app/0.log", "ns_a_1/app/0.log.1", "ns_b_2/app/0.log", "ns_b_2/side/0.log", "x.log", "ns_c_3/app/notes.txt"} {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), nil, 0o644))
	}
	for _, pat := range []string{"*/*/*.log", "*.log", "ns_b_2/*/0.log", "*/app/0.log*", "ns_a_1/app/0.log", "missing/*/*.log", "*/*/[", "ns_[ab]_*/*/*"} {
		p := filepath.Join(root, pat)
		want, wantErr := filepath.Glob(p)
		beats := 0
		got, err := glob(p, func() { beats++ }, nil)
		if !slices.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("glob(%s) = %v, %v; filepath.Glob: %v, %v", pat, got, err, want, wantErr)
		}
		if pat == "*/*/*.log" && beats != 1+4+4 { // the root, its 4 entries, the 4 container directories
			t.Errorf("glob(%s) beat %d times, want once per directory read", pat, beats)
		}
	}
}

// TestGlobDirCache: the listing of a directory that was watched when it
// was read is used again until an event about an entry in it (changed),
// lost events (clear) or the fullEvery-th rescan; one that was not watched
// is read every time.
func TestGlobDirCache(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		t.Helper()
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), nil, 0o644))
	}
	mk("ns_a_1/app/0.log")
	watched := map[string]bool{root: true, filepath.Join(root, "ns_a_1"): true, filepath.Join(root, "ns_a_1", "app"): true}
	c := newDirCache(func(d string) bool { return watched[d] })
	pat := filepath.Join(root, "*", "*", "0.log*")
	found := func() int {
		t.Helper()
		reads := 0
		got, err := glob(pat, func() { reads++ }, c)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.Glob(pat)
		if len(got) > len(want) {
			t.Fatalf("glob found %v, more than is there (%v)", got, want)
		}
		return len(got)*100 + reads
	}
	if got := found(); got != 103 {
		t.Fatalf("first glob: %d files, %d directories read; want 1 and 3", got/100, got%100)
	}
	if got := found(); got != 100 {
		t.Errorf("second glob: %d files, %d directories read; want 1 and 0 (all cached)", got/100, got%100)
	}
	mk("ns_a_1/app/0.log.20261126-035509") // no event handed to the cache: not seen
	mk("ns_b_2/app/0.log")                 // ns_b_2 is not watched
	if got := found(); got != 100 {
		t.Errorf("without events: %d files, %d directories read; want 1 and 0", got/100, got%100)
	}
	c.changed(filepath.Join(root, "ns_a_1", "app", "0.log.20261126-035509"))
	c.changed(filepath.Join(root, "ns_b_2"))
	if got := found(); got != 304 {
		t.Errorf("after the events: %d files, %d directories read; want 3 and 4 (root, app, ns_b_2 and its app)", got/100, got%100)
	}
	if got := found(); got != 302 {
		t.Errorf("again: %d files, %d directories read; want 3 and 2 (ns_b_2 and its app are not watched)", got/100, got%100)
	}
	delete(watched, filepath.Join(root, "ns_a_1", "app")) // its watch removed
	if got := found(); got != 303 {
		t.Errorf("a directory no longer watched: %d files, %d directories read; want 3 and 3", got/100, got%100)
	}
	watched[filepath.Join(root, "ns_a_1", "app")] = true
	c.clear()
	if got := found(); got != 305 {
		t.Errorf("after lost events: %d files, %d directories read; want 3 and 5", got/100, got%100)
	}
	for range fullEvery - 1 {
		c.rescan()
	}
	if got := found(); got != 302 {
		t.Errorf("before the full rescan: %d directories read, want 2", got%100)
	}
	c.rescan()
	if got := found(); got != 305 {
		t.Errorf("full rescan: %d directories read, want 5", got%100)
	}
}
