//go:build linux

package hostmetrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNetclassOtherNamespaceLive is a pod without hostNetwork given the
// host's /sys: this test's thread moves to a network namespace of its own
// (the dump then answers for it: lo alone), while /sys stays the mount of
// the namespace it came from. Every collection must report what sysfs
// alone reports, the dump must never be taken, and it must be given up
// after maxNetlinkChecks collections. It needs CAP_SYS_ADMIN; without it, it is skipped.
func TestNetclassOtherNamespaceLive(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	// The thread is left in the new namespace: locked and never unlocked,
	// it ends with this test's goroutine.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
			t.Skipf("cannot make a network namespace: %v", err)
		}
		t.Fatal(err)
	}
	own, err := dumpLinks()
	if err != nil {
		t.Fatalf("dump in the new namespace: %v", err)
	}
	if len(own) != 1 || own[0].name != "lo" {
		t.Fatalf("the new namespace's dump is %d devices, want lo alone", len(own))
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 2 {
		t.Skip("sysfs lists lo alone: it cannot be told from the new namespace")
	}

	c := &netclassCollector{sys: "/sys", dump: dumpLinks}
	sysfsOnly := &netclassCollector{sys: "/sys"}
	for k := 0; k < maxNetlinkChecks+2; k++ {
		got, want := collectText(t, c), collectText(t, sysfsOnly)
		if got != want {
			// A counter of the host may change between the two; once.
			if got, want = collectText(t, c), collectText(t, sysfsOnly); got != want {
				t.Fatalf("collection %d from another namespace:\n%s\nsysfs alone:\n%s", k, got, want)
			}
		}
	}
	if c.nl.verified.Load() {
		t.Fatal("the dump of another namespace was taken")
	}
	if n := c.nl.failed.Load(); n != maxNetlinkChecks {
		t.Errorf("%d checks, want %d and none after", n, maxNetlinkChecks)
	}
}

// TestNetclassManyDevicesLive: in a network namespace of its own, with a
// sysfs mounted from it, 200 bridges (a third of them up, with an alias;
// some promiscuous; the rest down; a bridge, unlike ifb or dummy, makes no
// device in the host's namespace when its module loads) make a dump of far more than
// the 32 KiB the kernel puts in one datagram. The collector must take
// the dump after one collection and report exactly what sysfs alone
// reports. It needs CAP_SYS_ADMIN and CAP_NET_ADMIN, and bridges;
// without them, it is skipped.
func TestNetclassManyDevicesLive(t *testing.T) {
	sys, rtnl := ownNetSysfs(t)
	do := func(flags uint16, p []byte) error { return rtnl(unix.RTM_NEWLINK, flags, p) }
	kind := ifinfo(0, 0, 0, attrStr(unix.IFLA_INFO_KIND, "bridge"))[ifinfomsgLen:]
	const devices = 200
	for k := range devices {
		name := fmt.Sprintf("hm%d", k)
		err := do(unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(0, 0, 0, attrStr(iflaIfname, name), attrRaw(unix.IFLA_LINKINFO, kind)))
		if err != nil {
			if k == 0 {
				t.Skipf("cannot make a bridge: %v", err)
			}
			t.Fatalf("%s: %v", name, err)
		}
		if k%3 != 0 {
			continue
		}
		var flags uint32 = iffUp
		if k%2 == 0 {
			flags |= iffPromisc
		}
		p := ifinfo(0, 0, flags, attrStr(iflaIfname, name), attrStr(iflaIfAlias, fmt.Sprintf(" alias of %s ", name)))
		binary.NativeEndian.PutUint32(p[12:], iffUp|iffPromisc) // ifi_change
		if err := do(0, p); err != nil {
			t.Fatalf("%s up: %v", name, err)
		}
	}
	links, err := dumpLinks()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != devices+1 { // and lo
		t.Fatalf("the dump holds %d devices, want %d", len(links), devices+1)
	}

	c := &netclassCollector{sys: sys, dump: dumpLinks}
	want := collectText(t, &netclassCollector{sys: sys})
	if got := collectText(t, c); got != want {
		t.Fatalf("first collection (sysfs, checked against the dump) differs from sysfs alone")
	}
	if !c.nl.verified.Load() {
		t.Fatalf("the dump of sysfs' own namespace was not taken (%d checks failed)", c.nl.failed.Load())
	}
	if got := collectText(t, c); got != want {
		t.Errorf("from the dump, the lines that differ from sysfs alone:\n%s", lineDiff([]byte(want), []byte(got)))
	}
	if !strings.Contains(want, `node_network_info["hm3" `) || !strings.Contains(want, "alias of hm3") {
		t.Errorf("hm3 or its alias is not reported:\n%.2000s", want)
	}
	// Files are held for the first devices only, up to the bound; the
	// others are read by their paths, with the same result.
	alone := &netclassCollector{sys: sys}
	for k := range 2 {
		if got := collectText(t, alone); got != want {
			t.Errorf("sysfs alone, collection %d, with held files:\n%s", k, lineDiff([]byte(want), []byte(got)))
		}
		if n := alone.held.files; n != maxHeldNetFiles {
			t.Errorf("collection %d holds %d files, want the bound, %d", k, n, maxHeldNetFiles)
		}
	}
}

// ownNetSysfs moves the test's thread to network and mount namespaces of
// its own (for good: the thread is locked and never unlocked, see
// TestNetclassOtherNamespaceLive) and mounts a sysfs of that network
// namespace. It returns the mount and a function that sends one rtnetlink
// request (RTM_NEWLINK, RTM_DELLINK, ...) and waits for its
// acknowledgement. Without CAP_SYS_ADMIN, the test is skipped.
func ownNetSysfs(t *testing.T) (sys string, rtnl func(typ, flags uint16, p []byte) error) {
	t.Helper()
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWNS); err != nil {
		t.Skipf("cannot make network and mount namespaces: %v", err)
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Skipf("cannot make mounts private: %v", err)
	}
	sys = t.TempDir()
	if err := unix.Mount("sysfs", sys, "sysfs", 0, ""); err != nil {
		t.Skipf("cannot mount sysfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sys, unix.MNT_DETACH) })

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	seq := uint32(0)
	buf := make([]byte, 8192)
	rtnl = func(typ, flags uint16, p []byte) error {
		seq++
		req := nlMsg(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, seq, p)
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		if n < nlmsgHdrLen+4 || binary.NativeEndian.Uint16(buf[4:]) != nlmsgError {
			return fmt.Errorf("reply of %d bytes is not an acknowledgement", n)
		}
		if e := int32(binary.NativeEndian.Uint32(buf[nlmsgHdrLen:])); e != 0 {
			return syscall.Errno(-e)
		}
		return nil
	}
	return sys, rtnl
}

// TestNetclassNoDescriptorLeak: collections that take the dump, and
// collections whose devices vanish or whose dump fails, close every
// descriptor they open (netlink sockets, attribute directories and files)
// but the attribute files held for the next collection.
func TestNetclassNoDescriptorLeak(t *testing.T) {
	if _, err := os.Stat("/sys/class/net"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	// fds is the open descriptors and what each is. Held files of
	// collectors of other tests may be closed meanwhile, by the garbage
	// collector: only descriptors that were not there before count.
	fds := func() map[string]string {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count descriptors: %v", err)
		}
		m := map[string]string{}
		for _, e := range ents {
			m[e.Name()], _ = os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		}
		return m
	}
	live := &netclassCollector{sys: "/sys", dump: dumpLinks}
	sys, links := netclassFixture(t)
	gone := append([]nlLink(nil), links...)
	gone[0].name = "vanished" // in the dump only
	fake := &fakeDump{links: gone}
	failing := &netclassCollector{sys: sys, dump: func() ([]nlLink, error) { return nil, syscall.EPERM }}
	collectText(t, live) // the first use of the pools and of the dump, checked against sysfs
	collectText(t, live) // the first to take the dump, which closes the files it did not read
	before := fds()
	for range 20 {
		collectText(t, live)
		collectText(t, &netclassCollector{sys: sys, dump: fake.dump})
		collectText(t, failing)
	}
	var held map[int32]bool
	if live.held != nil {
		held = map[int32]bool{}
		for _, d := range live.held.devs {
			for _, fd := range d.fd {
				held[fd] = fd >= 0
			}
		}
	}
	for fd, what := range fds() {
		n, _ := strconv.Atoi(fd)
		if before[fd] != what && !held[int32(n)] {
			t.Errorf("descriptor %s (%s) opened by the collections and left open", fd, what)
		}
	}
}
