//go:build linux

package hostmetrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// netHeld keeps the sysfs attribute files netclass reads open from one
// collection to the next, and reads each again with one pread(2) at
// offset 0. sysfs makes a new reading of the attribute for every read at
// offset 0 (kernfs' seq_file starts over there), so what is held is the
// file, never a value: every collection still asks the kernel for every
// value. That saves the open(2) and close(2) of each file: about 2 µs a
// file instead of 7 on the reference machine (see README.md, "Cost").
//
// A device is known by the inode of its entry in <sys>/class/net (the
// link sysfs makes when the device is registered), from the directory
// listing, which costs nothing more. Why a held file cannot show another
// device's values, or a value of the past:
//   - An open sysfs file belongs to one attribute of one device for good
//     (the kernel object it was opened on). Once that device is
//     unregistered, or the attribute removed, reading it fails with
//     ENODEV (kernfs refuses reads of a removed node). It holds no
//     reference to the device: it delays no unregistration.
//   - A renamed device keeps its entry (the link is renamed, not made
//     anew), so its held files follow it under its new name. A device made
//     under an old name has a new entry, with an inode no entry that
//     exists at the same time has (sysfs numbers its nodes with an IDR):
//     no held files yet. An inode can only come back once the entry that
//     had it is gone, that is, once its device is unregistered, whose
//     held files then answer ENODEV.
//   - A device that leaves the namespace is not listed any more: its files
//     are closed at the end of that collection. One that comes back is
//     the same device, with the same files.
//   - A file that answers ENODEV closes every file of its device, which
//     is read by its path for that collection, as without held files.
//
// Only sysfs' own files are held (checked once with statfs(2)): a copy of
// sysfs on another file system (the fixtures) is read by path every time,
// since a file replaced there would leave the held one stale.
//
// At most maxHeldNetFiles files are held, for the devices listed first;
// the others are read by path. Each held file costs the process a
// descriptor and the kernel a page for its reading (charged to the
// agent's memory cgroup): some 4.6 KiB each, 1.2 MiB at most. Files a
// collection did not read (the attributes the link dump gave) are closed
// at its end.
//
// One collection at a time uses the held files: another one, at the same
// moment (a scrape during a snapshot), reads by path.
type netHeld struct {
	mu    sync.Mutex
	gen   uint64 // collections, to find the devices one did not list
	devs  map[uint64]*heldDev
	files int // held descriptors
	buf   [4096]byte
}

// maxHeldNetFiles is how many attribute files netclass keeps open at most:
// 22 for each of 11 devices read from sysfs alone, 3 to 6 for each of 40
// to 85 devices whose other attributes come from the link dump.
const maxHeldNetFiles = 256

// sysfsMagic is SYSFS_MAGIC, statfs(2)'s f_type of sysfs.
const sysfsMagic = 0x62656572

// heldDev is the held files of one device.
type heldDev struct {
	fd   [numNetclassAttrs]int32 // -1: not held
	used uint32                  // the attributes read in this collection, a bit each
	gen  uint64                  // the collection that listed it last
}

// newNetHeld is the held files of the devices under dir, <sys>/class/net,
// or nil if dir is not on sysfs (or cannot be looked at).
func newNetHeld(dir string) *netHeld {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != sysfsMagic {
		return nil
	}
	return &netHeld{devs: map[uint64]*heldDev{}}
}

// acquire starts a collection's use of the held files; false if another
// collection is using them.
func (h *netHeld) acquire() bool {
	if !h.mu.TryLock() {
		return false
	}
	h.gen++
	return true
}

// device is the held files of the device whose entry has inode ino, made
// if there is none yet.
func (h *netHeld) device(ino uint64) *heldDev {
	d := h.devs[ino]
	if d == nil {
		d = &heldDev{}
		for k := range d.fd {
			d.fd[k] = -1
		}
		h.devs[ino] = d
	}
	d.gen, d.used = h.gen, 0
	return d
}

// release ends a collection's use: it closes the files of devices it did
// not list and the files it did not read.
func (h *netHeld) release() {
	for ino, d := range h.devs {
		if d.gen != h.gen {
			d.used = 0
		}
		for k, fd := range d.fd {
			if fd >= 0 && d.used&(1<<k) == 0 {
				unix.Close(int(fd))
				d.fd[k] = -1
				h.files--
			}
		}
		if d.gen != h.gen {
			delete(h.devs, ino)
		}
	}
	h.mu.Unlock()
}

// forget closes every held file of d, which stays known but empty.
func (h *netHeld) forget(d *heldDev) {
	for k, fd := range d.fd {
		if fd >= 0 {
			unix.Close(int(fd))
			d.fd[k] = -1
			h.files--
		}
	}
}

// closeAll closes every held file, when the collector is gone.
func (h *netHeld) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ino, d := range h.devs {
		h.forget(d)
		delete(h.devs, ino)
	}
}

// devReader reads the attributes of one device: through its held files
// (h and dev set) where there are, else through its directory, opened on
// the first need.
type devReader struct {
	path string
	dir  *attrDir
	h    *netHeld
	dev  *heldDev
}

// read returns attribute k (an index of netclassAttrs) as attrDir.read
// does. A directory that cannot be opened is a netDirError.
func (r *devReader) read(k int) (string, error) {
	if r.dev != nil {
		if fd := r.dev.fd[k]; fd >= 0 {
			n, err := preadRetry(int(fd), r.h.buf[:sysAttrReadLen])
			if err == nil {
				r.dev.used |= 1 << k
				return string(bytes.TrimSpace(r.h.buf[:n])), nil
			}
			if err != unix.ENODEV {
				r.dev.used |= 1 << k
				return "", err
			}
			// The device is gone, or the attribute was made anew: read
			// the device by its path, holding nothing for it.
			r.h.forget(r.dev)
			r.dev = nil
		}
	}
	if r.dir == nil {
		d, err := openAttrDir(r.path)
		if err != nil {
			return "", netDirError{err}
		}
		r.dir = d
	}
	if r.dev == nil || r.h.files >= maxHeldNetFiles {
		return r.dir.read(netclassAttrs[k])
	}
	fd, err := unix.Openat(r.dir.fd, netclassAttrs[k], unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	r.dev.fd[k] = int32(fd)
	r.dev.used |= 1 << k
	r.h.files++
	n, err := preadRetry(fd, r.h.buf[:sysAttrReadLen])
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(r.h.buf[:n])), nil
}

func (r *devReader) close() {
	if r.dir != nil {
		r.dir.close()
		r.dir = nil
	}
}

func preadRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Pread(fd, b, 0)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// netDevEnt is an entry of <sys>/class/net.
type netDevEnt struct {
	name    string
	ino     uint64
	typ     uint8 // d_type: DT_REG, DT_LNK, DT_DIR, ... (DT_UNKNOWN only in parseDirents' result)
	regular bool  // a regular file (bonding_masters), not a device
}

// listNetDevices lists dir with getdents64(2), which gives each entry's
// inode (os.ReadDir keeps it to itself), sorted by name.
func listNetDevices(dir string) ([]netDevEnt, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := (*bp)[:cap(*bp)]
	var out []netDevEnt
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n == 0 {
			break
		}
		if out, err = parseDirents(buf[:n], out); err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: err}
		}
	}
	for k := range out {
		e := &out[k]
		if e.typ == unix.DT_UNKNOWN { // a file system without d_type: ask
			var st unix.Stat_t
			if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				e.typ = unix.DT_REG
			} // else gone since: reading it will say so
		}
		e.regular = e.typ == unix.DT_REG
	}
	slices.SortFunc(out, func(a, b netDevEnt) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// direntHdrLen is struct linux_dirent64 up to d_name: d_ino, d_off,
// d_reclen, d_type.
const direntHdrLen = 19

var errBadDirent = errors.New("malformed directory entry")

// parseDirents appends the entries of getdents64(2)'s buffer b to out,
// leaving out "." and ".." (as the standard library does; it keeps
// entries of inode 0 on Linux, which some file systems give, and so does
// this). A record that does not fit b, or a name that is empty,
// holds a slash or lacks its terminating NUL, is an error.
func parseDirents(b []byte, out []netDevEnt) ([]netDevEnt, error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < direntHdrLen {
			return out, errBadDirent
		}
		reclen := int(ne.Uint16(b[16:]))
		if reclen <= direntHdrLen || reclen > len(b) {
			return out, fmt.Errorf("%w: length %d of %d bytes", errBadDirent, reclen, len(b))
		}
		ino, typ := ne.Uint64(b[0:]), b[18]
		name := b[direntHdrLen:reclen]
		end := bytes.IndexByte(name, 0)
		if end < 0 {
			return out, fmt.Errorf("%w: name without its end", errBadDirent)
		}
		name = name[:end]
		b = b[reclen:]
		if string(name) == "." || string(name) == ".." {
			continue
		}
		if len(name) == 0 || bytes.IndexByte(name, '/') >= 0 {
			return out, fmt.Errorf("%w: name %q", errBadDirent, name)
		}
		out = append(out, netDevEnt{name: string(name), ino: ino, typ: typ})
	}
	return out, nil
}
