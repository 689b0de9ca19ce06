package hostmetrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

func fsGauge(name, help string) *desc {
	return newDesc("node_filesystem_"+name, help, prometheus.GaugeValue,
		"device", "mountpoint", "fstype", "device_error")
}

var (
	fsSizeDesc      = fsGauge("size_bytes", "Filesystem size in bytes.")
	fsFreeDesc      = fsGauge("free_bytes", "Filesystem free space in bytes.")
	fsAvailDesc     = fsGauge("avail_bytes", "Filesystem space available to non-root users in bytes.")
	fsFilesDesc     = fsGauge("files", "Filesystem total file nodes.")
	fsFilesFreeDesc = fsGauge("files_free", "Filesystem total free file nodes.")
	fsPurgeableDesc = fsGauge("purgeable_bytes", "Filesystem space available including purgeable space (MacOS specific).")
	fsReadonlyDesc  = fsGauge("readonly", "Filesystem read-only status.")
	fsDevErrorDesc  = fsGauge("device_error", "Whether an error occurred while getting statistics for the given device.")
	fsMountInfoDesc = newDesc("node_filesystem_mount_info", "Filesystem mount information.",
		prometheus.GaugeValue, "device", "major", "minor", "mountpoint")
)

// errMountTimeout is reported (as node_exporter does, in the device_error
// label) for a mount whose statfs did not return within the timeout.
var errMountTimeout = errors.New("mountpoint timeout")

// fsStat is what statfs(2) tells about one filesystem.
type fsStat struct {
	Blocks, Bfree, Bavail, Files, Ffree uint64
	Bsize                               int64
}

// statfsFunc is statfs(2); tests replace it to make a mount hang.
type statfsFunc func(path string) (fsStat, error)

// fsMount is one mount to report, labels as node_exporter sets them.
type fsMount struct {
	device, mountPoint, fsType string
	major, minor               string
	readOnly                   bool
}

// filesystemCollector reports free space of the host's real mounts, listed
// in <proc>/1/mountinfo (the host's mount namespace; <proc>/self/mountinfo
// if PID 1 is hidden) and measured by statfs under rootfs.
//
// Each statfs runs in its own goroutine and is waited for at most the
// configured timeout. A mount that times out is marked stuck: it is
// reported with device_error{device_error="mountpoint timeout"} and not
// statted again until its pending call returns. Collections that overlap
// share calls, so at most one goroutine per mount is ever outstanding.
type filesystemCollector struct {
	proc, rootfs         string
	mpExclude, fsExclude *regexp.Regexp
	timeout              time.Duration
	statfs               statfsFunc

	mu       sync.Mutex
	inflight map[string]*statCall // statfs calls not yet returned, by path
	stuck    map[string]struct{}  // paths whose call outlived a timeout
}

func newFilesystemCollector(cfg Config, sf statfsFunc) (*filesystemCollector, error) {
	mp, err := compileOptional(cfg.Filesystem.MountPointsExclude)
	if err != nil {
		return nil, fmt.Errorf("filesystem.mount_points_exclude: %w", err)
	}
	ft, err := compileOptional(cfg.Filesystem.FSTypesExclude)
	if err != nil {
		return nil, fmt.Errorf("filesystem.fs_types_exclude: %w", err)
	}
	return &filesystemCollector{
		proc: cfg.Proc, rootfs: cfg.RootFS,
		mpExclude: mp, fsExclude: ft,
		timeout:  cfg.Filesystem.StatfsTimeout,
		statfs:   sf,
		inflight: make(map[string]*statCall),
		stuck:    make(map[string]struct{}),
	}, nil
}

func (c *filesystemCollector) collect(e *emitter) error {
	pfs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	mounts, err := pfs.GetProcMounts(1)
	if errors.Is(err, fs.ErrNotExist) {
		mounts, err = pfs.GetMounts() // PID 1 hidden (hidepid): our own namespace
	}
	if err != nil {
		return err
	}
	ms := fsMounts(mounts, c.rootfs, c.mpExclude, c.fsExclude)
	emitFilesystems(e, ms, c.statAll(ms))
	return nil
}

// fsResult is the outcome of statfs on one mount.
type fsResult struct {
	st  fsStat
	err error
}

// statCall is one statfs in flight, shared by every collection that wants
// the same path meanwhile (a scrape overlapping a snapshot).
type statCall struct {
	done chan struct{} // closed when res is set
	res  fsResult
}

// statAll statfs's every mount concurrently and waits for all of them at
// most the timeout in total. There is never more than one call in flight
// per path: a collection that needs a path already being statted waits
// for that call, and a path whose call outlived a timeout is not waited
// for at all until the call returns.
func (c *filesystemCollector) statAll(ms []fsMount) []fsResult {
	res := make([]fsResult, len(ms))
	calls := make([]*statCall, len(ms))
	paths := make([]string, len(ms))
	c.mu.Lock()
	for i, m := range ms {
		paths[i] = filepath.Join(c.rootfs, m.mountPoint)
		if _, stuck := c.stuck[paths[i]]; stuck {
			res[i].err = errMountTimeout
			continue
		}
		call := c.inflight[paths[i]]
		if call == nil {
			call = &statCall{done: make(chan struct{})}
			c.inflight[paths[i]] = call
			go c.run(paths[i], call)
		}
		calls[i] = call
	}
	c.mu.Unlock()

	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	expired := false
	for i, call := range calls {
		if call == nil {
			continue
		}
		if !expired {
			select {
			case <-call.done:
				res[i] = call.res
				continue
			case <-deadline.C:
				expired = true
			}
		}
		// Past the deadline: take an answer that is already there, else
		// mark the path stuck. run closes done before it takes the lock to
		// clear the mark, so checking done under the lock cannot leave a
		// mark behind a call that has returned.
		c.mu.Lock()
		select {
		case <-call.done:
			res[i] = call.res
		default:
			c.stuck[paths[i]] = struct{}{}
			res[i].err = errMountTimeout
		}
		c.mu.Unlock()
	}
	return res
}

// run makes one statfs call and publishes its result.
func (c *filesystemCollector) run(path string, call *statCall) {
	st, err := c.statfs(path)
	call.res = fsResult{st, err}
	close(call.done)
	c.mu.Lock()
	delete(c.inflight, path)
	delete(c.stuck, path) // it answered: stat it again next time
	c.mu.Unlock()
}

// fsMounts turns mountinfo entries into the mounts to report: mount points
// unescaped and made relative to rootfs, excluded ones left out.
func fsMounts(mounts []*procfs.MountInfo, rootfs string, mpExclude, fsExclude *regexp.Regexp) []fsMount {
	out := make([]fsMount, 0, len(mounts))
	for _, m := range mounts {
		mp := rootfsStrip(rootfs, unescapeMount(m.MountPoint))
		if mpExclude != nil && mpExclude.MatchString(mp) {
			continue
		}
		if fsExclude != nil && fsExclude.MatchString(m.FSType) {
			continue
		}
		major, minor, _ := strings.Cut(m.MajorMinorVer, ":")
		_, ro := m.Options["ro"]
		if _, sro := m.SuperOptions["ro"]; sro {
			ro = true
		}
		out = append(out, fsMount{
			device: unescapeMount(m.Source), mountPoint: mp, fsType: m.FSType,
			major: major, minor: minor, readOnly: ro,
		})
	}
	return out
}

// emitFilesystems reports each mount as node_exporter does: device_error
// and readonly always, sizes and mount_info only when statfs worked.
func emitFilesystems(e *emitter, ms []fsMount, res []fsResult) {
	for i, m := range ms {
		r := res[i]
		errLabel, errVal := "", 0.0
		if r.err != nil {
			errLabel, errVal = r.err.Error(), 1
		}
		ro := 0.0
		if m.readOnly {
			ro = 1
		}
		e.emit(fsDevErrorDesc, errVal, m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsReadonlyDesc, ro, m.device, m.mountPoint, m.fsType, errLabel)
		if r.err != nil {
			continue
		}
		bs := float64(r.st.Bsize)
		e.emit(fsSizeDesc, float64(r.st.Blocks)*bs, m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsFreeDesc, float64(r.st.Bfree)*bs, m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsAvailDesc, float64(r.st.Bavail)*bs, m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsFilesDesc, float64(r.st.Files), m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsFilesFreeDesc, float64(r.st.Ffree), m.device, m.mountPoint, m.fsType, errLabel)
		e.emit(fsMountInfoDesc, 1, m.device, m.major, m.minor, m.mountPoint)
		// Purgeable space is a macOS notion; node_exporter 1.12 reports
		// it as 0 for every Linux mount, and dashboards may sum it.
		e.emit(fsPurgeableDesc, 0, m.device, m.mountPoint, m.fsType, errLabel)
	}
}

// rootfsStrip makes a host mount point relative to where the host's root
// is mounted in this container, as node_exporter's --path.rootfs does.
func rootfsStrip(rootfs, mp string) string {
	r := strings.TrimRight(rootfs, "/")
	if r == "" {
		return mp
	}
	if mp == r {
		return "/"
	}
	if rest, ok := strings.CutPrefix(mp, r); ok && strings.HasPrefix(rest, "/") {
		return rest
	}
	return mp
}

// unescapeMount undoes the kernel's octal escapes in mountinfo (\040 for a
// space, \011 tab, \012 newline, \134 backslash).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
