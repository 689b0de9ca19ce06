//go:build linux

package hostmetrics

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// direntRec is one struct linux_dirent64 as the kernel lays it out: the
// record 8-byte aligned, the name NUL-terminated.
func direntRec(ino uint64, typ uint8, name string) []byte {
	n := (direntHdrLen + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	ne := binary.NativeEndian
	ne.PutUint64(b, ino)
	ne.PutUint64(b[8:], uint64(n))
	ne.PutUint16(b[16:], uint16(n))
	b[18] = typ
	copy(b[direntHdrLen:], name)
	return b
}

// TestParseDirentsKernel: getdents64(2) of /sys/class/net on the reference
// machine (sysfs: four links) and of a directory on ext4 (a link with a
// space, a regular file, a directory), in the kernel's order.
func TestParseDirentsKernel(t *testing.T) {
	if !littleEndian() {
		t.Skip("the captures are little-endian")
	}
	for _, tc := range []struct {
		file string
		want []netDevEnt
	}{
		{"sys-class-net", []netDevEnt{{"ifb0", 7926, unix.DT_LNK, false}, {"ifb1", 8009, unix.DT_LNK, false},
			{"lo", 4992, unix.DT_LNK, false}, {"eth0", 8138, unix.DT_LNK, false}}},
		{"ext4", []netDevEnt{{"with space", 10275108, unix.DT_LNK, false},
			{"bonding_masters", 10275104, unix.DT_REG, false}, {"lo", 10275106, unix.DT_LNK, false},
			{"eth0", 10283323, unix.DT_DIR, false}}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "dirents", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseDirents(b, nil)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.file, got, err, tc.want)
		}
		// Split where a read of a smaller buffer would end: the same.
		for cut := 0; cut < len(b); {
			n := int(binary.NativeEndian.Uint16(b[cut+16:]))
			first, err1 := parseDirents(b[:cut+n], nil)
			all, err2 := parseDirents(b[cut+n:], first)
			if err1 != nil || err2 != nil || !slices.Equal(all, tc.want) {
				t.Errorf("%s cut after %d bytes: %v (%v, %v)", tc.file, cut+n, all, err1, err2)
			}
			cut += n
		}
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// badDirents are records parseDirents must refuse.
func badDirents() map[string][]byte {
	good := direntRec(7, unix.DT_LNK, "eth0")
	short := direntRec(7, unix.DT_LNK, "eth0")
	binary.NativeEndian.PutUint16(short[16:], direntHdrLen)
	long := direntRec(7, unix.DT_LNK, "eth0")
	binary.NativeEndian.PutUint16(long[16:], uint16(len(long)+8))
	noNUL := direntRec(7, unix.DT_LNK, "eth0")
	for k := direntHdrLen; k < len(noNUL); k++ {
		noNUL[k] = 'x'
	}
	return map[string][]byte{
		"header-cut":     good[:direntHdrLen-1],
		"record-cut":     good[:len(good)-1],
		"length-zero":    append(slices.Clone(good), make([]byte, direntHdrLen)...),
		"length-header":  short,
		"length-too-big": long,
		"name-no-nul":    noNUL,
		"name-empty":     direntRec(7, unix.DT_LNK, ""),
		"name-slash":     direntRec(7, unix.DT_LNK, "../etc"),
	}
}

func TestParseDirentsRefuses(t *testing.T) {
	for name, b := range badDirents() {
		if got, err := parseDirents(b, nil); err == nil {
			t.Errorf("%s: accepted as %v", name, got)
		}
	}
	// The directory's own entries are left out; one of inode 0 is kept,
	// as the standard library keeps it on Linux.
	b := slices.Concat(direntRec(1, unix.DT_DIR, "."), direntRec(2, unix.DT_DIR, ".."),
		direntRec(0, unix.DT_LNK, "zero"), direntRec(9, unix.DT_UNKNOWN, "x"))
	got, err := parseDirents(b, nil)
	if want := []netDevEnt{{"zero", 0, unix.DT_LNK, false}, {"x", 9, unix.DT_UNKNOWN, false}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

// direntCorpus is FuzzParseDirents' seeds: the kernel's buffers and the
// refused records.
func direntCorpus(t *testing.T) map[string][]byte {
	seeds := badDirents()
	for _, name := range []string{"sys-class-net", "ext4"} {
		b, err := os.ReadFile(filepath.Join("testdata", "dirents", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}
	return seeds
}

func TestDirentCorpusCurrent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseDirents")
	for name, b := range direntCorpus(t) {
		seedCurrent(t, filepath.Join(dir, name), b)
	}
}

// FuzzParseDirents: what parseDirents accepts, the standard library's
// parser reads as the same names, and every name is one a directory can
// hold.
func FuzzParseDirents(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseDirents(b, nil)
		if err != nil {
			return
		}
		_, _, names := syscall.ParseDirent(b, -1, nil)
		if len(names) != len(got) {
			t.Fatalf("%d entries, the standard library %d", len(got), len(names))
		}
		for k, e := range got {
			if e.name != names[k] || e.name == "" || strings.ContainsAny(e.name, "/\x00") ||
				e.name == "." || e.name == ".." {
				t.Errorf("entry %d: %q (inode %d), the standard library %q", k, e.name, e.ino, names[k])
			}
		}
	})
}

// TestListNetDevices: a directory's entries sorted by name, with their
// inodes, regular files marked.
func TestListNetDevices(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"veth1", "eth0", "lo"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("eth0", filepath.Join(dir, "br0")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bonding_masters"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := listNetDevices(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, e.name), &st); err != nil || st.Ino != e.ino {
			t.Errorf("%s: inode %d, lstat %d (%v)", e.name, e.ino, st.Ino, err)
		}
		if e.regular != (e.name == "bonding_masters") {
			t.Errorf("%s: regular %v", e.name, e.regular)
		}
		names = append(names, e.name)
	}
	if want := []string{"bonding_masters", "br0", "eth0", "lo", "veth1"}; !slices.Equal(names, want) {
		t.Errorf("listed %v, want %v", names, want)
	}
	if _, err := listNetDevices(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Errorf("a missing directory: %v", err)
	}
}

// noHold makes c read every attribute by its path.
func noHold(c *netclassCollector) *netclassCollector {
	c.heldOnce.Do(func() {})
	return c
}

// attrFiles is how many of netclass's attribute files the devices under
// dir have: what a collection that reads them all holds.
func attrFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := listNetDevices(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		for _, a := range netclassAttrs {
			if _, err := os.Stat(filepath.Join(dir, e.name, a)); err == nil {
				n++
			}
		}
	}
	return n
}

// entryIno is the inode of dir's entry name.
func entryIno(t *testing.T, dir, name string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, name), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestNetclassHeldFilesLive: in a network namespace of its own with its
// own sysfs, the held files follow what the devices do between
// collections: a new MTU is read through the same descriptor, a device
// brought up gains carrier, a renamed device keeps its files under its new
// name while a new device takes the old one, a device deleted and made
// again under its name is read anew, a deleted one is forgotten. After
// each step the collection equals one that reads every file by its path,
// and holds exactly the devices' files. It needs CAP_SYS_ADMIN and
// CAP_NET_ADMIN, and bridges; without them, it is skipped.
func TestNetclassHeldFilesLive(t *testing.T) {
	sys, rtnl := ownNetSysfs(t)
	dir := filepath.Join(sys, "class", "net")
	kind := ifinfo(0, 0, 0, attrStr(unix.IFLA_INFO_KIND, "bridge"))[ifinfomsgLen:]
	add := func(name string, attrs ...nlAttr) error {
		attrs = append([]nlAttr{attrStr(iflaIfname, name), attrRaw(unix.IFLA_LINKINFO, kind)}, attrs...)
		return rtnl(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(0, 0, 0, attrs...))
	}
	index := func(name string) int32 {
		b, err := os.ReadFile(filepath.Join(dir, name, "ifindex"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return int32(n)
	}
	// set changes the device now called name: its flags under change, and
	// attributes (IFLA_IFNAME renames it).
	set := func(name string, flags, change uint32, attrs ...nlAttr) {
		t.Helper()
		p := ifinfo(0, index(name), flags, attrs...)
		binary.NativeEndian.PutUint32(p[12:], change)
		if err := rtnl(unix.RTM_NEWLINK, 0, p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	del := func(name string) {
		t.Helper()
		if err := rtnl(unix.RTM_DELLINK, 0, ifinfo(0, index(name), 0)); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := add("hA"); err != nil {
		t.Skipf("cannot make a bridge: %v", err)
	}
	must(add("hB"))

	c := &netclassCollector{sys: sys}
	var got string
	check := func(step string) {
		t.Helper()
		want := collectText(t, noHold(&netclassCollector{sys: sys}))
		if got = collectText(t, c); got != want {
			t.Fatalf("%s: the lines that differ from reading by path:\n%s", step, lineDiff([]byte(want), []byte(got)))
		}
		if c.held == nil {
			t.Fatalf("%s: nothing held on sysfs", step)
		}
		if n, want := c.held.files, attrFiles(t, dir); n != want {
			t.Errorf("%s: %d files held, want %d", step, n, want)
		}
		if n := len(c.held.devs); n != len(strings.Split(strings.TrimSpace(textOf(got, "node_network_up")), "\n")) {
			t.Errorf("%s: %d devices known", step, n)
		}
	}
	has := func(step, line string) {
		t.Helper()
		if !strings.Contains(got, line+"\n") {
			t.Errorf("%s: no %s in\n%s", step, line, got)
		}
	}

	check("made")
	inoA := entryIno(t, dir, "hA")
	mtuFD := c.held.devs[inoA].fd[attrMTU]
	set("hA", 0, 0, attrU32(iflaMTU, 1400))
	check("mtu")
	has("mtu", `node_network_mtu_bytes["hA"] 1400`)
	if fd := c.held.devs[inoA].fd[attrMTU]; fd != mtuFD || fd < 0 {
		t.Errorf("the MTU was read through descriptor %d, held %d", fd, mtuFD)
	}

	if textOf(got, `node_network_carrier["hA"]`) != "" {
		t.Fatal("a device that is down has carrier")
	}
	set("hA", iffUp, iffUp)
	check("up")
	if textOf(got, `node_network_carrier["hA"]`) == "" || textOf(got, `node_network_speed_bytes["hA"]`) == "" {
		t.Errorf("up: no carrier or speed of hA in\n%s", got)
	}

	set("hA", 0, iffUp)
	set("hA", 0, 0, attrStr(iflaIfname, "hC"))
	must(add("hA"))
	check("renamed")
	if ino := entryIno(t, dir, "hC"); ino != inoA {
		t.Errorf("the renamed device's entry has inode %d, %d before", ino, inoA)
	}
	has("renamed", `node_network_mtu_bytes["hC"] 1400`)
	has("renamed", `node_network_mtu_bytes["hA"] 1500`)

	oldB := textOf(got, `node_network_iface_id["hB"]`)
	del("hB")
	must(add("hB"))
	check("made anew")
	if now := textOf(got, `node_network_iface_id["hB"]`); now == oldB {
		t.Errorf("hB made anew has the old index: %s", now)
	}

	del("hC")
	check("deleted")
}

// textOf is the lines of text that start with prefix.
func textOf(text, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestNetclassHeldFileOfGoneDevice: a held file whose device is deleted
// answers ENODEV, never a value; the reader then forgets the device's
// files and reads the device now at the path (made anew between the
// listing and the read). It needs what TestNetclassHeldFilesLive needs.
func TestNetclassHeldFileOfGoneDevice(t *testing.T) {
	sys, rtnl := ownNetSysfs(t)
	dir := filepath.Join(sys, "class", "net")
	kind := ifinfo(0, 0, 0, attrStr(unix.IFLA_INFO_KIND, "bridge"))[ifinfomsgLen:]
	add := func(mtu uint32) error {
		return rtnl(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL,
			ifinfo(0, 0, 0, attrStr(iflaIfname, "hX"), attrRaw(unix.IFLA_LINKINFO, kind), attrU32(iflaMTU, mtu)))
	}
	if err := add(1400); err != nil {
		t.Skipf("cannot make a bridge: %v", err)
	}
	c := &netclassCollector{sys: sys}
	collectText(t, c)
	ino := entryIno(t, dir, "hX")
	h := c.heldFiles(dir)
	if h == nil {
		t.Fatal("nothing held on sysfs")
	}
	defer h.release()
	d := h.device(ino)
	fd := d.fd[attrMTU]
	if fd < 0 {
		t.Fatal("the MTU is not held")
	}
	b, err := os.ReadFile(filepath.Join(dir, "hX", "ifindex"))
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := rtnl(unix.RTM_DELLINK, 0, ifinfo(0, int32(idx), 0)); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Pread(int(fd), make([]byte, 64), 0); err != unix.ENODEV {
		t.Fatalf("the held MTU of a deleted device: %d bytes, %v; want ENODEV", n, err)
	}
	if err := add(1300); err != nil {
		t.Fatal(err)
	}
	before, ofX := h.files, 0
	for _, fd := range d.fd {
		if fd >= 0 {
			ofX++
		}
	}
	r := devReader{path: filepath.Join(dir, "hX"), h: h, dev: d}
	v, err := r.read(attrMTU)
	r.close()
	if err != nil || v != "1300" {
		t.Errorf("read %q, %v; want the new device's 1300", v, err)
	}
	for k, fd := range d.fd {
		if fd >= 0 {
			t.Errorf("%s of the deleted device still held", netclassAttrs[k])
		}
	}
	if h.files != before-ofX {
		t.Errorf("%d files held, %d before, of which %d of the deleted device", h.files, before, ofX)
	}
}

// TestNetclassHeldConcurrentLive: collections at once on one collector
// of this machine's /sys (a scrape during a snapshot) each report what
// reading by path reports: one uses the held files, the others read by
// path. Run with -race.
func TestNetclassHeldConcurrentLive(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	byPath := func() string { return collectText(t, noHold(&netclassCollector{sys: "/sys"})) }
	want := byPath()
	c := &netclassCollector{sys: "/sys"}
	collectText(t, c)
	if c.held == nil {
		t.Skip("/sys is not sysfs here")
	}
	errs := make(chan error, 80)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for r := range 20 {
				var e emitter
				if err := c.collect(&e); err != nil {
					errs <- err
					return
				}
				var b strings.Builder
				for _, s := range e.samples {
					fmt.Fprintf(&b, "%s%q %v\n", s.d.name, s.lv, s.v)
				}
				// A counter of the machine may move meanwhile: then it
				// is compared with a reading by path after it.
				if got := b.String(); got != want {
					if now := byPath(); got != now {
						errs <- fmt.Errorf("worker %d round %d:\n%s", w, r, lineDiff([]byte(now), []byte(got)))
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNetclassHeldClosedWithCollector: the files a collector holds are
// closed once it is garbage collected.
func TestNetclassHeldClosedWithCollector(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	held := map[int32]string{} // descriptor: the file it is
	func() {
		c := &netclassCollector{sys: "/sys"}
		collectText(t, c)
		if c.held == nil {
			t.Skip("/sys is not sysfs here")
		}
		for _, d := range c.held.devs {
			for _, fd := range d.fd {
				if fd >= 0 {
					target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
					if err != nil {
						t.Fatal(err)
					}
					held[fd] = target
				}
			}
		}
	}()
	if len(held) == 0 {
		t.Fatal("nothing held")
	}
	open := func() int {
		n := 0
		for fd, target := range held {
			if now, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && now == target {
				n++
			}
		}
		return n
	}
	// The cleanup runs on its own goroutine after a collection cycle.
	for k := 0; k < 1000 && open() > 0; k++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := open(); n > 0 {
		t.Errorf("%d of %d held files still open after the collector was collected", n, len(held))
	}
}

// heldFD is one descriptor a collector holds: the inode of its device's
// entry in <sys>/class/net and the attribute (an index of netclassAttrs).
type heldFD struct {
	ino  uint64
	attr int
}

// heldFDs is the descriptors h holds, and the inodes of the devices it
// knows, taken from h itself. It fails the test if a collection is using
// them: the caller makes sure none runs.
func (h *netHeld) heldFDs(t *testing.T) (map[int]heldFD, []uint64) {
	t.Helper()
	if !h.mu.TryLock() {
		t.Fatal("a collection is using the held files")
	}
	defer h.mu.Unlock()
	m := map[int]heldFD{}
	var known []uint64
	for ino, d := range h.devs {
		known = append(known, ino)
		for k, fd := range d.fd {
			if fd >= 0 {
				if _, dup := m[int(fd)]; dup {
					t.Errorf("descriptor %d held twice", fd)
				}
				m[int(fd)] = heldFD{ino, k}
			}
		}
	}
	if len(m) != h.files {
		t.Errorf("%d descriptors held, counted %d", len(m), h.files)
	}
	return m, known
}

// openFile is an open descriptor of the process: what readlink(2) of its
// /proc/self/fd entry says, and the device and inode of the file.
type openFile struct {
	link     string
	dev, ino uint64
}

// filesOn is the process's descriptors open on the file system of dev
// mounted at root, from /proc/self/fd: those whose link reads as a path
// under root (only these are looked at further), of a file on dev. An
// entry closed between the listing and its readlink or stat (by the
// runtime, or the listing's own descriptor) is left out; the listing is
// taken again until two in a row agree, at most 10 times.
func filesOn(t *testing.T, root string, dev uint64) map[int]openFile {
	t.Helper()
	list := func() map[int]openFile {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		m := map[int]openFile{}
		for _, e := range ents {
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				t.Fatalf("/proc/self/fd/%s", e.Name())
			}
			p := filepath.Join("/proc/self/fd", e.Name())
			link, err := os.Readlink(p)
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(link, root+"/") {
				continue
			}
			var st unix.Stat_t
			if err := unix.Stat(p, &st); err == unix.ENOENT {
				continue
			} else if err != nil {
				t.Fatalf("stat %s (%s): %v", p, link, err)
			}
			if st.Dev == dev {
				m[fd] = openFile{link, st.Dev, st.Ino}
			}
		}
		return m
	}
	last := list()
	for range 9 {
		m := list()
		if maps.Equal(m, last) {
			return m
		}
		last = m
	}
	t.Fatalf("10 listings of /proc/self/fd, no two in a row alike; the last: %v", last)
	return nil
}
