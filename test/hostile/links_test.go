package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileHardLinkOutsideRoot: 0.log is a hard link to a file outside
// the log root (a secret only root may read), made by whoever can write
// in the log tree (a privileged pod with the host's /var/log mounted).
// No symlink is involved, so the rules of open.go do not see it; kubelet's
// log files never have a second link. The agent runs as root: does it ship
// the file's content? (TestSymlinkOutsideRoot is the same attack with a
// symlink, refused.)
func TestHostileHardLinkOutsideRoot(t *testing.T) {
	w := newWorld(t, worldOpt{})
	secret := filepath.Join(w.dir, "etc-shadow")
	must(t, os.WriteFile(secret, []byte("root:$6$SECRET-HASH:19000:0:99999:7:::\n"), 0o600))
	evil := filepath.Join(w.root, "ns_evil_uid", "app", "0.log")
	mkdirFor(t, evil)
	must(t, os.Link(secret, evil))
	w.lines(w.path, 0, 20)
	p := w.agent.Start()
	w.waitSeqs(0, 20, 30*time.Second)
	w.lines(w.path, 20, 21) // the sentinel, after one more scan
	w.waitSeqs(20, 21, 30*time.Second)
	for _, r := range w.records() {
		if strings.Contains(r.Message, "SECRET-HASH") {
			t.Errorf("a file outside the log root, reached by a hard link, was shipped: %q from %s", r.Message, r.File)
		}
	}
	stop(t, p)
}
