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
		got, err := glob(p, func() { beats++ })
		if !slices.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("glob(%s) = %v, %v; filepath.Glob: %v, %v", pat, got, err, want, wantErr)
		}
		if pat == "*/*/*.log" && beats != 1+4+4 { // the root, its 4 entries, the 4 container directories
			t.Errorf("glob(%s) beat %d times, want once per directory read", pat, beats)
		}
	}
}
