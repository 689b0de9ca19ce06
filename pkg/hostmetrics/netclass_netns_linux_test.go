//go:build linux

package hostmetrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
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
	runtime.LockOSThread() // never unlocked: see TestNetclassOtherNamespaceLive
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWNS); err != nil {
		t.Skipf("cannot make network and mount namespaces: %v", err)
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Skipf("cannot make mounts private: %v", err)
	}
	sys := t.TempDir()
	if err := unix.Mount("sysfs", sys, "sysfs", 0, ""); err != nil {
		t.Skipf("cannot mount sysfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sys, unix.MNT_DETACH) })

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	seq := uint32(0)
	// do sends one RTM_NEWLINK request and waits for its acknowledgement.
	do := func(flags uint16, p []byte) error {
		seq++
		req := nlMsg(unix.RTM_NEWLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, seq, p)
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		buf := make([]byte, 8192)
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
}

// TestNetclassNoDescriptorLeak: collections that take the dump, and
// collections whose devices vanish or whose dump fails, close every
// descriptor they open (netlink sockets, attribute directories and files).
func TestNetclassNoDescriptorLeak(t *testing.T) {
	if _, err := os.Stat("/sys/class/net"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count descriptors: %v", err)
		}
		return len(ents)
	}
	live := &netclassCollector{sys: "/sys", dump: dumpLinks}
	sys, links := netclassFixture(t)
	gone := append([]nlLink(nil), links...)
	gone[0].name = "vanished" // in the dump only
	fake := &fakeDump{links: gone}
	failing := &netclassCollector{sys: sys, dump: func() ([]nlLink, error) { return nil, syscall.EPERM }}
	collectText(t, live) // the first use of the pools and of the dump
	before := fds()
	for range 20 {
		collectText(t, live)
		collectText(t, &netclassCollector{sys: sys, dump: fake.dump})
		collectText(t, failing)
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open after 60 collections, %d before", after, before)
	}
}
