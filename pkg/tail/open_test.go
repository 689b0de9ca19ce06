package tail

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// hostileTree lays out root/pods/ns_pod_uid/app/ with a regular log, a
// secret outside the root, and the hostile entries of the issue.
func hostileTree(t *testing.T) (root, secret string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "pods")
	app := filepath.Join(root, "ns_pod_uid", "app")
	must(t, os.MkdirAll(app, 0o755))
	must(t, os.WriteFile(filepath.Join(app, "0.log"), []byte("line\n"), 0o644))
	secretDir := filepath.Join(base, "secret")
	must(t, os.MkdirAll(filepath.Join(secretDir, "app"), 0o700))
	secret = filepath.Join(secretDir, "shadow")
	must(t, os.WriteFile(secret, []byte("root:x\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(secretDir, "app", "0.log"), []byte("root:x\n"), 0o600))

	must(t, os.Symlink(secret, filepath.Join(app, "1.log")))                                        // file link out
	must(t, os.Symlink(filepath.Join(secretDir, "app"), filepath.Join(root, "ns_pod_uid", "evil"))) // dir link out
	must(t, os.Symlink(secretDir, filepath.Join(root, "ns_evil_uid")))                              // pod dir link out
	must(t, os.Symlink("0.log", filepath.Join(app, "2.log")))                                       // link inside
	must(t, unix.Mkfifo(filepath.Join(app, "3.log"), 0o644))
	must(t, os.Mkdir(filepath.Join(app, "4.log"), 0o755))
	return root, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withDeadline fails the test if f does not return within d: an open that
// blocks (a FIFO without O_NONBLOCK) would hang the tailer forever.
func withDeadline[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("blocked for %s", d)
		panic("unreachable")
	}
}

type openResult struct {
	f   *os.File
	err error
}

func TestOpenBeneath(t *testing.T) {
	root, _ := hostileTree(t)
	app := filepath.Join(root, "ns_pod_uid", "app")
	for _, tc := range []struct {
		name, path string
		reason     string // "" = opened
	}{
		{"regular file", filepath.Join(app, "0.log"), ""},
		{"symlink to a root-only file", filepath.Join(app, "1.log"), skipSymlink},
		{"symlink inside the root too", filepath.Join(app, "2.log"), skipSymlink},
		{"FIFO", filepath.Join(app, "3.log"), skipNotRegular},
		{"directory", filepath.Join(app, "4.log"), skipNotRegular},
		{"symlinked container directory", filepath.Join(root, "ns_pod_uid", "evil", "0.log"), skipSymlink},
		{"symlinked pod directory", filepath.Join(root, "ns_evil_uid", "app", "0.log"), skipSymlink},
		{"outside the root", filepath.Join(root, "..", "secret", "shadow"), skipOutside},
		{"dot-dot inside the path", filepath.Join(root, "ns_pod_uid", "..", "..", "secret", "shadow"), skipOutside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := withDeadline(t, 5*time.Second, func() openResult {
				f, err := openBeneath(root, tc.path)
				return openResult{f, err}
			})
			if tc.reason == "" {
				if r.err != nil {
					t.Fatal(r.err)
				}
				defer r.f.Close()
				b, err := io.ReadAll(r.f)
				if err != nil || string(b) != "line\n" {
					t.Errorf("read %q, %v", b, err)
				}
				if fl, _ := unix.FcntlInt(r.f.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
					t.Error("the descriptor stayed non-blocking")
				}
				return
			}
			var se *skipError
			if !errors.As(r.err, &se) || se.reason != tc.reason {
				if r.f != nil {
					r.f.Close()
				}
				t.Fatalf("error %v, want a skip for %s", r.err, tc.reason)
			}
		})
	}
}

// TestOpenBeneathDirectorySwapped: a directory replaced by a symlink after
// the glob saw it (the race of the issue) is refused at open.
func TestOpenBeneathDirectorySwapped(t *testing.T) {
	root, _ := hostileTree(t)
	pod := filepath.Join(root, "ns_pod_uid")
	path := filepath.Join(pod, "app", "0.log")
	ms, _ := filepath.Glob(filepath.Join(root, "*", "*", "0.log"))
	if len(ms) == 0 {
		t.Fatal("glob found nothing")
	}
	// Between the glob and the open: the container directory becomes a
	// link to the secret one.
	must(t, os.Rename(filepath.Join(pod, "app"), filepath.Join(pod, "app.old")))
	must(t, os.Symlink(filepath.Join(root, "..", "secret", "app"), filepath.Join(pod, "app")))
	f, err := openBeneath(root, path)
	if err == nil {
		b, _ := io.ReadAll(f)
		f.Close()
		t.Fatalf("opened through the swapped directory: %q", b)
	}
	var se *skipError
	if !errors.As(err, &se) || se.reason != skipSymlink {
		t.Errorf("error %v, want a symlink skip", err)
	}
}

// TestOpenRegular: the last component is never followed, a FIFO does not
// block and is refused.
func TestOpenRegular(t *testing.T) {
	root, _ := hostileTree(t)
	app := filepath.Join(root, "ns_pod_uid", "app")
	for name, reason := range map[string]string{"0.log": "", "1.log": skipSymlink, "3.log": skipNotRegular, "4.log": skipNotRegular} {
		r := withDeadline(t, 5*time.Second, func() openResult {
			f, err := openRegular(filepath.Join(app, name))
			return openResult{f, err}
		})
		if r.f != nil {
			r.f.Close()
		}
		var se *skipError
		switch {
		case reason == "" && r.err != nil:
			t.Errorf("%s: %v", name, r.err)
		case reason != "" && (!errors.As(r.err, &se) || se.reason != reason):
			t.Errorf("%s: %v, want a skip for %s", name, r.err, reason)
		}
	}
}

// TestOpenLink: kubelet-style /var/log/containers links are followed only
// into the pods root.
func TestOpenLink(t *testing.T) {
	root, secret := hostileTree(t)
	links := filepath.Join(filepath.Dir(root), "containers")
	must(t, os.MkdirAll(links, 0o755))
	good := filepath.Join(links, "pod_ns_app-0123.log")
	must(t, os.Symlink(filepath.Join(root, "ns_pod_uid", "app", "0.log"), good))
	out := filepath.Join(links, "evil_ns_app-0123.log")
	must(t, os.Symlink(secret, out))
	rel := filepath.Join(links, "rel_ns_app-0123.log")
	must(t, os.Symlink("../secret/shadow", rel))
	through := filepath.Join(links, "through_ns_app-0123.log")
	must(t, os.Symlink(filepath.Join(root, "ns_pod_uid", "evil", "0.log"), through))
	fifo := filepath.Join(links, "fifo_ns_app-0123.log")
	must(t, os.Symlink(filepath.Join(root, "ns_pod_uid", "app", "3.log"), fifo))
	plain := filepath.Join(links, "plain.log")
	must(t, os.WriteFile(plain, nil, 0o644))

	f, err := openLink(good, root)
	if err != nil {
		t.Fatalf("kubelet link: %v", err)
	}
	f.Close()
	for path, reason := range map[string]string{out: skipOutside, rel: skipOutside, through: skipSymlink, fifo: skipNotRegular, plain: skipNotRegular} {
		r := withDeadline(t, 5*time.Second, func() openResult {
			f, err := openLink(path, root)
			return openResult{f, err}
		})
		if r.f != nil {
			r.f.Close()
		}
		var se *skipError
		if !errors.As(r.err, &se) || se.reason != reason {
			t.Errorf("%s: %v, want a skip for %s", filepath.Base(path), r.err, reason)
		} else if se.path != path {
			t.Errorf("%s: skip names %s, want the link", filepath.Base(path), se.path)
		}
	}
}

func TestIncludeRoot(t *testing.T) {
	for in, want := range map[string]string{
		"/var/log/pods/*/*/*.log":   "/var/log/pods",
		"/var/log/containers/*.log": "/var/log/containers",
		"/data/app.log":             "/data",
		"/logs/[ab]*/x/*.log":       "/logs",
		"/*.log":                    "/",
	} {
		if got := includeRoot(in); got != want {
			t.Errorf("includeRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSkipsCountOncePerPath: a file refused at every rescan is counted and
// warned once; other errors are not skips.
func TestSkipsCountOncePerPath(t *testing.T) {
	var logs strings.Builder
	s := newSkips(newMetrics(func() float64 { return 0 }).skipped, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 3 {
		if !s.skip(skipErr(skipSymlink, "/p/a", "a symlink")) {
			t.Fatal("a skip was not recognised")
		}
	}
	s.skip(skipErr(skipNotRegular, "/p/b", "a FIFO"))
	if s.skip(&os.PathError{Op: "open", Path: "/p/c", Err: unix.EMFILE}) {
		t.Error("EMFILE taken for a skip")
	}
	for reason, want := range map[string]float64{skipSymlink: 1, skipNotRegular: 1, skipOutside: 0} {
		if got := testutil.ToFloat64(s.total.WithLabelValues(reason)); got != want {
			t.Errorf("skipped{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	if n := strings.Count(logs.String(), "log file skipped"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs.String())
	}
}
