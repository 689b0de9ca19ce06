package tail

import "testing"

// TestRotatedNames: the names of rotated copies the tailer knows, by
// kubelet and by logrotate (numbered, and dateext joined by '-'), and the
// names it does not take for one.
func TestRotatedNames(t *testing.T) {
	for _, c := range []struct {
		name, live string
		gz, ok     bool
	}{
		{"/p/0.log.20261204-101500", "/p/0.log", false, true},
		{"/p/0.log.20261204-101500.gz", "/p/0.log", true, true},
		{"/p/0.log.1", "/p/0.log", false, true},
		{"/p/0.log.2.gz", "/p/0.log", true, true},
		{"/p/0.log-20261206", "/p/0.log", false, true},
		{"/p/0.log-20261206-1796515200.gz", "/p/0.log", true, true},
		{"/p/0.log.20261204-101500.gz.tmp", "", false, false},
		{"/p/0.log.old", "", false, false},
		{"/p/0.log-old", "", false, false},
		{"/p/0.log", "", false, false},
	} {
		live, ok := LivePath(c.name)
		if ok != c.ok || live != c.live {
			t.Errorf("LivePath(%q) = %q, %v; want %q, %v", c.name, live, ok, c.live, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if _, gz, ok := rotatedName("0.log", c.name[len("/p/"):]); !ok || gz != c.gz {
			t.Errorf("rotatedName(%q): gz %v, ok %v; want gz %v", c.name, gz, ok, c.gz)
		}
	}
}
