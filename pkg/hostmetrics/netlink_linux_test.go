//go:build linux

package hostmetrics

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNetlinkConstants holds netlink.go's numbers to golang.org/x/sys/unix,
// which takes them from the kernel's headers.
func TestNetlinkConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"NLMSG_HDRLEN", nlmsgHdrLen, unix.NLMSG_HDRLEN}, {"SizeofIfInfomsg", ifinfomsgLen, unix.SizeofIfInfomsg},
		{"NLA_TYPE_MASK", nlaTypeMask, ^(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER) & 0xffff},
		{"NLMSG_NOOP", nlmsgNoop, unix.NLMSG_NOOP}, {"NLMSG_ERROR", nlmsgError, unix.NLMSG_ERROR},
		{"NLMSG_DONE", nlmsgDone, unix.NLMSG_DONE}, {"NLM_F_REQUEST", nlmFRequest, unix.NLM_F_REQUEST},
		{"NLM_F_DUMP", nlmFDump, unix.NLM_F_DUMP}, {"NLM_F_DUMP_INTR", nlmFDumpIntr, unix.NLM_F_DUMP_INTR},
		{"RTM_NEWLINK", rtmNewLink, unix.RTM_NEWLINK}, {"RTM_GETLINK", rtmGetLink, unix.RTM_GETLINK},
		{"IFLA_ADDRESS", iflaAddress, unix.IFLA_ADDRESS}, {"IFLA_BROADCAST", iflaBroadcast, unix.IFLA_BROADCAST},
		{"IFLA_IFNAME", iflaIfname, unix.IFLA_IFNAME}, {"IFLA_MTU", iflaMTU, unix.IFLA_MTU},
		{"IFLA_LINK", iflaLink, unix.IFLA_LINK}, {"IFLA_TXQLEN", iflaTxQLen, unix.IFLA_TXQLEN},
		{"IFLA_OPERSTATE", iflaOperState, unix.IFLA_OPERSTATE}, {"IFLA_LINKMODE", iflaLinkMode, unix.IFLA_LINKMODE},
		{"IFLA_IFALIAS", iflaIfAlias, unix.IFLA_IFALIAS}, {"IFLA_GROUP", iflaGroup, unix.IFLA_GROUP},
		{"IFLA_EXT_MASK", iflaExtMask, unix.IFLA_EXT_MASK}, {"IFLA_PROMISCUITY", iflaPromiscuity, unix.IFLA_PROMISCUITY},
		{"IFLA_CARRIER", iflaCarrier, unix.IFLA_CARRIER}, {"IFLA_CARRIER_CHANGES", iflaCarrierChanges, unix.IFLA_CARRIER_CHANGES},
		{"IFLA_CARRIER_UP_COUNT", iflaCarrierUpCount, unix.IFLA_CARRIER_UP_COUNT},
		{"IFLA_CARRIER_DOWN_COUNT", iflaCarrierDownCount, unix.IFLA_CARRIER_DOWN_COUNT},
		{"IFLA_ALLMULTI", iflaAllMulti, unix.IFLA_ALLMULTI},
		{"IFF_UP", iffUp, unix.IFF_UP}, {"IFF_RUNNING", iffRunning, unix.IFF_RUNNING},
		{"IFF_PROMISC", iffPromisc, unix.IFF_PROMISC}, {"IFF_ALLMULTI", iffAllMulti, unix.IFF_ALLMULTI},
		{"IFF_LOWER_UP", iffLowerUp, unix.IFF_LOWER_UP}, {"IFF_DORMANT", iffDormant, unix.IFF_DORMANT},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, the kernel's is %#x", c.name, c.got, c.want)
		}
	}
}

// TestNetlinkMatchesSysfsLive compares, for every network device of this
// machine, each attribute netclass takes from the link dump with sysfs'
// file. A device or a counter may change between the two reads, so up to
// three rounds are taken; one must match in full.
func TestNetlinkMatchesSysfsLive(t *testing.T) {
	dir := "/sys/class/net"
	var diffs []string
	for round := 0; round < 3; round++ {
		diffs = nil
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Skipf("no sysfs here: %v", err)
		}
		links, err := dumpLinks()
		if err != nil {
			t.Fatalf("link dump: %v", err)
		}
		byName := map[string]*nlLink{}
		for k := range links {
			byName[links[k].name] = &links[k]
		}
		n := 0
		for _, ent := range ents {
			if ent.Type().IsRegular() {
				continue
			}
			n++
			name := ent.Name()
			sys, err := readNetClassIface(filepath.Join(dir, name), nil)
			if err != nil {
				t.Fatal(err)
			}
			l := byName[name]
			if l == nil {
				diffs = append(diffs, name+": not in the dump")
				continue
			}
			if !l.usable() {
				diffs = append(diffs, name+": the dump lacks attributes")
				continue
			}
			if _, ok := l.sysfsFlags(); !ok {
				t.Logf("%s: no IFLA_ALLMULTI (kernel before 6.7): flags come from sysfs", name)
			}
			merged := *sys
			l.apply(&merged)
			if got, want := ifaceText(&merged), ifaceText(sys); got != want {
				diffs = append(diffs, name+": netlink:\n"+got+"sysfs:\n"+want)
			}
			// The collector's own path: netlink plus the files it still reads.
			both, err := readNetClassIface(filepath.Join(dir, name), l)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ifaceText(both), ifaceText(sys); got != want {
				diffs = append(diffs, name+": netlink and sysfs:\n"+got+"sysfs:\n"+want)
			}
		}
		if n != len(links) {
			diffs = append(diffs, "sysfs and the dump list different devices")
		}
		if diffs == nil {
			t.Logf("%d devices, every value equal", n)
			return
		}
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestNetclassUsesNetlinkLive: on this machine (the test's network
// namespace is the one /sys was mounted in) the collector takes the dump
// after its first collection, and reports what sysfs alone reports.
func TestNetclassUsesNetlinkLive(t *testing.T) {
	if _, err := os.Stat("/sys/class/net"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	c := &netclassCollector{sys: "/sys", dump: dumpLinks}
	sysfsOnly := &netclassCollector{sys: "/sys"}
	var got, want string
	for round := 0; round < 3; round++ {
		collectText(t, c)
		if !c.nl.verified.Load() {
			continue
		}
		got, want = collectText(t, c), collectText(t, sysfsOnly)
		if got == want {
			return
		}
	}
	if !c.nl.verified.Load() {
		t.Fatalf("the dump never matched sysfs in %d collections", c.nl.failed.Load())
	}
	t.Errorf("with netlink:\n%s\nsysfs alone:\n%s", got, want)
}

// TestLinkSocketReceiveTimesOut: the dump's socket gives up a receive the
// kernel never answers (nothing was asked here) after nlRecvTimeout, so a
// gather cannot hang on it.
func TestLinkSocketReceiveTimesOut(t *testing.T) {
	fd, err := linkSocket()
	if err != nil {
		t.Skipf("no netlink socket here: %v", err)
	}
	defer unix.Close(fd)
	tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(unix.TimevalToNsec(*tv)); got != nlRecvTimeout {
		t.Fatalf("receive timeout %v, want %v", got, nlRecvTimeout)
	}
	buf := make([]byte, 4096)
	if _, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0); err != unix.EAGAIN && err != unix.EWOULDBLOCK {
		t.Fatalf("a receive with nothing asked: %v, want EAGAIN", err)
	}
}
