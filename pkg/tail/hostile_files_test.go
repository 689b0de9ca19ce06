package tail

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostileFilesSkipped runs a tailer over a log tree holding, beside a
// normal container log, a FIFO named like a log, a log that is a symlink to
// a file outside the tree, and a pod directory that is a symlink to
// another directory. The FIFO must not block the tailer (the normal log
// keeps flowing, and Run ends on cancel), nothing outside the tree is
// read, and each refusal is counted once by reason.
func TestHostileFilesSkipped(t *testing.T) {
	dir, state, outside := t.TempDir(), t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.log")
	must(t, os.WriteFile(secret, []byte(criLine("stdout", "F", "SECRET")), 0o600))
	must(t, os.MkdirAll(filepath.Join(outside, "c"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "c", "0.log"), []byte(criLine("stdout", "F", "SECRET-DIR")), 0o600))

	good := filepath.Join(dir, "ns_good_1", "c", "0.log")
	fifo := filepath.Join(dir, "ns_fifo_2", "c", "0.log")
	link := filepath.Join(dir, "ns_link_3", "c", "0.log")
	for _, p := range []string{good, fifo, link} {
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	}
	must(t, syscall.Mkfifo(fifo, 0o644))
	must(t, os.Symlink(secret, link))
	must(t, os.Symlink(outside, filepath.Join(dir, "ns_dirlink_4")))
	appendFile(t, good, criLine("stdout", "F", "seq=1 first"))

	cfg := testConfig(dir, state)
	cfg.StartAt = "beginning"
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the normal log's first line", func() bool { return len(r.snapshot()) >= 1 })
	waitFor(t, 10*time.Second, "three files skipped", func() bool {
		return testutil.ToFloat64(r.tl.skips.total.WithLabelValues(skipNotRegular)) == 1 &&
			testutil.ToFloat64(r.tl.skips.total.WithLabelValues(skipSymlink)) == 2
	})
	// The tailer is not blocked: a line written after the skips arrives.
	appendFile(t, good, criLine("stdout", "F", "seq=2 second"))
	waitFor(t, 10*time.Second, "the normal log's second line", func() bool { return len(r.snapshot()) >= 2 })
	r.stop()
	for _, rc := range r.snapshot() {
		if rc.path != good {
			t.Errorf("read %q from %s: only %s may be read", rc.body, rc.path, good)
		}
	}
	if got := testutil.ToFloat64(r.tl.skips.total.WithLabelValues(skipOutside)); got != 0 {
		t.Errorf("outside_root skips = %v, want 0", got)
	}
}

// TestContainersLinkDirectory includes the kubelet's /var/log/containers
// links: a link into the pods directory is read; a link out of it is
// refused and counted.
func TestContainersLinkDirectory(t *testing.T) {
	base, state, outside := t.TempDir(), t.TempDir(), t.TempDir()
	pods, containers := filepath.Join(base, "pods"), filepath.Join(base, "containers")
	target := filepath.Join(pods, "ns_p_1", "c", "0.log")
	must(t, os.MkdirAll(filepath.Dir(target), 0o755))
	must(t, os.MkdirAll(containers, 0o755))
	appendFile(t, target, criLine("stdout", "F", "seq=1 in pods"))
	secret := filepath.Join(outside, "x.log")
	must(t, os.WriteFile(secret, []byte(criLine("stdout", "F", "SECRET")), 0o600))
	must(t, os.Symlink(target, filepath.Join(containers, "p_ns_c-abc.log")))
	must(t, os.Symlink(secret, filepath.Join(containers, "evil_ns_c-def.log")))

	cfg := testConfig(base, state)
	cfg.Include = []string{filepath.Join(containers, "*.log")}
	cfg.StartAt = "beginning"
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the linked log's line", func() bool { return len(r.snapshot()) >= 1 })
	waitFor(t, 10*time.Second, "the outside link refused", func() bool {
		return testutil.ToFloat64(r.tl.skips.total.WithLabelValues(skipOutside)) == 1
	})
	r.stop()
	for _, rc := range r.snapshot() {
		if rc.body != "seq=1 in pods" {
			t.Errorf("read %q from %s", rc.body, rc.path)
		}
	}
}
