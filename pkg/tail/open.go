package tail

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Opening a log file safely. The log directories are written by the
// workloads the agent serves (a container's log directory is the
// container runtime's, but a pod with a hostPath, or a compromised
// runtime, can plant anything there), and the agent may see the host's
// root filesystem: a symlink must never make it ship a file it was not
// asked to read, and a FIFO must never block it.
//
//   - No symlink is followed below an include root (the part of an include
//     glob before its first wildcard): every directory below the root and
//     the file itself are opened with openat(O_NOFOLLOW), one component at
//     a time, so a directory swapped for a symlink between the glob and
//     the open is refused too. Above the root, paths resolve as usual.
//   - The one exception is a link directory such as the kubelet's
//     /var/log/containers, whose entries are symlinks into /var/log/pods:
//     a link there is read with readlink, and its target must lie under
//     the configured target root; the target is then opened as above.
//   - The file is opened O_NONBLOCK (opening a FIFO for reading does not
//     wait for a writer), and fstat on the descriptor, not a stat of the
//     path, decides: anything but a regular file is closed and skipped.
//   - A file with more than one hard link is skipped: kubelet's and the
//     runtimes' log files (and the copies a rotation makes) have one, and a
//     second link inside the log tree is how a file from elsewhere (a
//     secret) would be made to look like a log without any symlink.
//
// Every refusal is a *skipError naming a reason; skips counts it in
// ferry_tail_skipped_files_total{reason} and warns, once per path (a file
// refused at every rescan counts once).

// Reasons a file is skipped, the values of the reason label.
const (
	skipSymlink    = "symlink"      // a symlink (file or directory) where none may be followed
	skipOutside    = "outside_root" // a path or link target outside the roots it must stay under
	skipNotRegular = "not_regular"  // a FIFO, socket, device or directory
	skipHardLink   = "hard_link"    // a regular file with more than one link
)

// skipError is a file refused for a reason, not an I/O failure: callers
// count it and move on (errors.As).
type skipError struct {
	reason string
	path   string
	detail string
}

func (e *skipError) Error() string {
	return fmt.Sprintf("skip %s: %s (%s)", e.path, e.detail, e.reason)
}

func skipErr(reason, path, format string, args ...any) error {
	return &skipError{reason: reason, path: path, detail: fmt.Sprintf(format, args...)}
}

// openRegular opens path for reading without following a symlink at its
// last component and without blocking, and keeps it only if fstat on the
// descriptor says it is a regular file. Directories above it are resolved
// as usual: use openBeneath to refuse symlinks in them too.
func openRegular(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	return regularFile(fd, path)
}

// openBeneath opens path, which must lie under root, for reading: each
// directory below root and the file itself are opened with openat and
// O_NOFOLLOW from the descriptor of the one before, so no symlink below
// root is followed, whenever it appeared. The file must be regular (fstat
// on its descriptor); it is opened O_NONBLOCK, so a FIFO never blocks.
func openBeneath(root, path string) (*os.File, error) {
	root, path = filepath.Clean(root), filepath.Clean(path)
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, skipErr(skipOutside, path, "not under %s", root)
	}
	dfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	parts := strings.Split(rel, "/")
	dir := root
	for _, name := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, name)
		nfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			err = openAtError(dfd, name, dir, path, err)
			unix.Close(dfd)
			return nil, err
		}
		unix.Close(dfd)
		dfd = nfd
	}
	name := parts[len(parts)-1]
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		err = openAtError(dfd, name, path, path, err)
		unix.Close(dfd)
		return nil, err
	}
	unix.Close(dfd)
	return regularFile(fd, path)
}

// openLink opens the target of the symlink link (a kubelet
// /var/log/containers entry), which must lie under targetRoot, as
// openBeneath(targetRoot, target) does. A link whose target is relative is
// resolved from the link's directory; the link's own directories are
// resolved as usual (the link directory is configuration, not input).
func openLink(link, targetRoot string) (*os.File, error) {
	target, err := linkBeneath(link, targetRoot)
	if err != nil {
		return nil, err
	}
	f, err := openBeneath(filepath.Clean(targetRoot), target)
	var se *skipError
	if errors.As(err, &se) {
		se.path = link
		se.detail = "target " + target + ": " + se.detail
	}
	return f, err
}

// linkBeneath reads the symlink link and returns its target (resolved
// from the link's directory when relative, cleaned), which must lie under
// targetRoot: refused (skipOutside) otherwise, and refused as
// skipNotRegular when link is not a symlink.
func linkBeneath(link, targetRoot string) (string, error) {
	target, err := os.Readlink(link)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && errors.Is(pe.Err, unix.EINVAL) {
			return "", skipErr(skipNotRegular, link, "not a symlink in a link directory")
		}
		return "", err
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	target = filepath.Clean(target)
	root := filepath.Clean(targetRoot)
	if !strings.HasPrefix(target, root+"/") {
		return "", skipErr(skipOutside, link, "links to %s, outside %s", target, root)
	}
	return target, nil
}

// podsBeside is the pods directory beside a link directory root (the
// kubelet's /var/log/pods beside /var/log/containers), where its links'
// targets must lie.
func podsBeside(root string) string { return filepath.Join(filepath.Dir(root), "pods") }

// includeRoot is the directory of an include glob before its first
// wildcard: /var/log/pods for /var/log/pods/*/*/*.log.
func includeRoot(pattern string) string {
	dir := filepath.Dir(filepath.Clean(pattern))
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// regularFile keeps fd if it is a regular file (fstat on the descriptor)
// and makes it blocking again (reads of a regular file never block; the
// flag only mattered for opening).
func regularFile(fd int, path string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, skipErr(skipNotRegular, path, "%s, not a regular file", fileType(st.Mode))
	}
	if st.Nlink > 1 {
		unix.Close(fd)
		return nil, skipErr(skipHardLink, path, "%d hard links (a log file has one)", st.Nlink)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openError turns the error of an O_NOFOLLOW open of path into a skip
// when the path is a symlink.
func openError(path string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		return skipErr(skipSymlink, path, "a symlink")
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}

// openAtError is openError for openat(dfd, name): O_NOFOLLOW gives ELOOP
// on a symlinked file, O_DIRECTORY|O_NOFOLLOW gives ENOTDIR on a symlinked
// directory, so lstat tells which.
func openAtError(dfd int, name, at, path string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if at == path {
				return skipErr(skipSymlink, path, "a symlink")
			}
			return skipErr(skipSymlink, path, "%s is a symlink", at)
		}
		if errors.Is(err, unix.ENOTDIR) {
			return skipErr(skipNotRegular, path, "%s is not a directory", at)
		}
	}
	return &os.PathError{Op: "open", Path: at, Err: err}
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	}
	return "an unknown file type"
}

// maxWarnedSkips bounds the paths remembered as already warned about; past
// it the memory is cleared, so a path may be warned about again.
const maxWarnedSkips = 4096

// skips counts skipped files by reason and warns, once per path.
type skips struct {
	total *prometheus.CounterVec
	log   *slog.Logger

	mu     sync.Mutex
	warned map[string]struct{}
}

// newSkips counts refusals in total (ferry_tail_skipped_files_total, by
// reason) and warns about them to log.
func newSkips(total *prometheus.CounterVec, log *slog.Logger) *skips {
	return &skips{total: total, log: log, warned: map[string]struct{}{}}
}

// skip counts err and warns about its path, once per path, when err is a
// *skipError; it reports whether it was one.
func (s *skips) skip(err error) bool {
	var se *skipError
	if !errors.As(err, &se) {
		return false
	}
	s.mu.Lock()
	_, seen := s.warned[se.path]
	if !seen {
		if len(s.warned) >= maxWarnedSkips {
			clear(s.warned)
		}
		s.warned[se.path] = struct{}{}
	}
	s.mu.Unlock()
	if !seen {
		s.total.WithLabelValues(se.reason).Inc()
		s.log.Warn("log file skipped", "path", se.path, "reason", se.reason, "detail", se.detail)
	}
	return true
}

// open opens a log file the agent found under its include globs (or a
// rotated sibling or copy beside one) by the rules above: beneath the
// include root of the first glob that matches it, never through a
// symlink, except for an entry of a link directory - a symlink directly
// in an include root whose directory has a "pods" sibling (the kubelet's
// /var/log/containers next to /var/log/pods, also under a host prefix
// such as /host/var/log) - whose target must lie in that "pods"
// directory. A path no glob matches is opened with openRegular.
func (t *Tailer) open(path string) (*os.File, error) {
	f, err := t.openFile(path)
	t.opened(path, err) // openlimit.go: descriptors running out
	return f, err
}

// openFile is open's rules; tests replace it (openFault) to inject errors.
func (t *Tailer) openFile(path string) (*os.File, error) {
	if t.openFault != nil {
		if err := t.openFault(path); err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
	root := t.rootOf(path)
	if root == "" {
		return openRegular(path)
	}
	if filepath.Dir(path) == root {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return openLink(path, podsBeside(root))
		}
	}
	return openBeneath(root, path)
}

// rootOf is the include root of the first include glob that matches path,
// or of the first that matches its directory's log file (a rotated sibling
// 0.log.<ts> or a copy beside 0.log has the same directory); "" if none.
func (t *Tailer) rootOf(path string) string {
	for _, p := range t.cfg.Include {
		if ok, _ := filepath.Match(p, path); ok {
			return includeRoot(p)
		}
	}
	dir := filepath.Dir(path)
	for _, p := range t.cfg.Include {
		if ok, _ := filepath.Match(filepath.Dir(p), dir); ok {
			return includeRoot(p)
		}
	}
	return t.linkRootOf(path) // a link's target, or a file beside one (links.go)
}

// openErr reports a failed open of path: a refusal is counted and warned
// about once (skips), any other error is warned about once with msg.
func (t *Tailer) openErr(path, msg string, err error) {
	if t.skips.skip(err) {
		return
	}
	t.warnOnce("open:"+path, msg, "path", path, "err", err)
}
