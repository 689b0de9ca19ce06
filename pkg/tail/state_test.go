package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStateEntryByEntry: a state file with damaged entries is used for the
// entries that are valid; the others are skipped and counted, and their
// files are read from the start. The file is not set aside. Of two entries
// of one file (an earlier version wrote both trackers of a file whose
// rotation was undone), the lower offset is used: what lies between is
// read again, not lost.
func TestStateEntryByEntry(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	good := mkContainer(t, dir, "ns_good_uid")
	bad := mkContainer(t, dir, "ns_bad_uid")
	appendFile(t, good, lines(0, 10))
	appendFile(t, bad, lines(100, 105))
	third := len(lines(0, 3))
	entry := func(path string, fields string) string {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		data, _ := os.ReadFile(path)
		fp := data[:min(len(data), fpSize)]
		return fmt.Sprintf(`{"dev":%d,"ino":%d,"fingerprint_len":%d,"fingerprint":%q,"path":%q,%s}`,
			st.Dev, st.Ino, len(fp), fpHash(fp), path, fields)
	}
	file := `{"version":1,"files":[` +
		entry(good, fmt.Sprintf(`"offset":%d`, third)) + `,` +
		entry(bad, `"offset":-5`) + `,` + // invalid offset
		`{"dev":1,"ino":2,"offset":"x"},` + // wrong type
		`{"dev":1,"ino":3,"path":"/p","offset":1,"surprise":true},` + // unknown field
		entry(good, fmt.Sprintf(`"offset":%d`, len(lines(0, 1)))) + // a second entry for the same file, lower
		`]}`
	if err := os.WriteFile(filepath.Join(state, stateName), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) == 14 })
	r.stop()
	var g, b []int
	for _, x := range r.snapshot() {
		n, _ := seqOf(x.body)
		if x.path == good {
			g = append(g, n)
		} else {
			b = append(b, n)
		}
	}
	if diff := cmp.Diff(upto(1, 10), g); diff != "" {
		t.Errorf("the lower of the valid entries not used (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(upto(100, 105), b); diff != "" {
		t.Errorf("file of the invalid entry (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.stateInvalid); got != 4 {
		t.Errorf("invalid entries counted %v, want 4", got)
	}
	if _, err := os.Stat(filepath.Join(state, stateName+".corrupt")); err == nil {
		t.Errorf("state file set aside for bad entries")
	}
}

// FuzzLoadState: whatever the state file holds, loading it does not panic,
// and every entry it accepts is one the tailer can use.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":[{"dev":1,"ino":2,"fingerprint_len":3,"fingerprint":"af","path":"/a","offset":5,"acked_to":7}]}`))
	f.Add([]byte(`{"version":1,"files":[{"offset":-1},{"dev":1,"ino":2,"path":"/b","fingerprint":"0","offset":1},1,null,"x"]}`))
	f.Add([]byte(`{"version":2,"files":[]}`))
	f.Add([]byte(`{not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, stateName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, ok, invalid, err := loadState(dir)
		if err != nil && (ok || len(m) > 0 || len(invalid) > 0) {
			t.Fatalf("error %v with entries", err)
		}
		for _, e := range m {
			if e.Offset < 0 || (e.AckedTo != 0 && e.AckedTo < e.Offset) ||
				e.FingerprintLen < 0 || e.FingerprintLen > fpSize || !filepath.IsAbs(e.Path) {
				t.Fatalf("accepted an unusable entry %+v", e)
			}
		}
	})
}
