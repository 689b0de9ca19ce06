package hostmetrics

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// collectText is one netclass collection, a sample a line.
func collectText(t testing.TB, c *netclassCollector) string {
	t.Helper()
	var e emitter
	if err := c.collect(&e); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range e.samples {
		fmt.Fprintf(&b, "%s%q %v\n", s.d.name, s.lv, s.v)
	}
	return b.String()
}

// netclassFixture is a copy of the fixture's <sys> whose docker0 is down
// as the kernel shows a down device: no carrier, dormant, speed or duplex
// (EINVAL). It returns the directory and the links a dump of the same
// namespace would hold: each device's sysfs values, as netlink carries
// them.
func netclassFixture(t *testing.T) (string, []nlLink) {
	t.Helper()
	sys := copyTree(t, "testdata/sys")
	for _, f := range []string{"carrier", "dormant", "speed", "duplex"} {
		if err := os.Remove(filepath.Join(sys, "class", "net", "docker0", f)); err != nil {
			t.Fatal(err)
		}
	}
	var links []nlLink
	for _, name := range []string{"docker0", "eth0", "lo"} {
		i, err := readNetClassIface(filepath.Join(sys, "class", "net", name), nil)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, linkOf(name, i))
	}
	return sys, links
}

// linkOf is the link netlink would send for the sysfs values of i.
func linkOf(name string, i *netIface) nlLink {
	u := func(p *int64) uint32 {
		if p == nil {
			return 0
		}
		return uint32(*p)
	}
	l := nlLink{name: name, index: int32(u(i.IfIndex)), typ: uint16(u(i.Type)), flags: u(i.Flags),
		have: haveRequired | haveFlags, hasLink: *i.IfLink != *i.IfIndex, link: u(i.IfLink),
		mtu: u(i.MTU), txqlen: u(i.TxQueueLen), group: u(i.NetDevGroup),
		carrierChanges: u(i.CarrierChanges), up: u(i.CarrierUpCount), down: u(i.CarrierDownCount),
		operstate: 0, linkmode: uint8(u(i.LinkMode)), carrier: uint8(u(i.Carrier)),
		address: i.Address, broadcast: i.Broadcast, alias: i.IfAlias}
	for k, s := range operStates {
		if s == i.OperState {
			l.operstate = uint8(k)
		}
	}
	if i.Dormant != nil && *i.Dormant == 1 {
		l.flags |= iffDormant
	}
	if l.flags&iffPromisc != 0 {
		l.promiscuity = 1
	}
	if l.flags&iffAllMulti != 0 {
		l.allmulti = 1
	}
	return l
}

// fakeDump serves links, or err, and counts its calls.
type fakeDump struct {
	links []nlLink
	err   error
	calls int
}

func (f *fakeDump) dump() ([]nlLink, error) {
	f.calls++
	return append([]nlLink(nil), f.links...), f.err
}

// TestNetclassNetlinkFixture: a dump of sysfs' own namespace is checked on
// the first collection and used from the second, with the same output;
// that it is used shows in a value only the dump has. A device the dump
// lacks is read from sysfs.
func TestNetclassNetlinkFixture(t *testing.T) {
	sys, links := netclassFixture(t)
	f := &fakeDump{links: links}
	c := &netclassCollector{sys: sys, dump: f.dump}
	want := collectText(t, &netclassCollector{sys: sys})
	if got := collectText(t, c); got != want {
		t.Fatalf("first collection:\n%s\nwant:\n%s", got, want)
	}
	if !c.nl.verified.Load() {
		t.Fatal("a dump equal to sysfs was not taken")
	}
	if got := collectText(t, c); got != want {
		t.Errorf("from the dump:\n%s\nsysfs:\n%s", got, want)
	}
	f.links[1].mtu = 1234 // eth0 as only the dump shows it
	if got := collectText(t, c); !strings.Contains(got, `node_network_mtu_bytes["eth0"] 1234`) {
		t.Errorf("the dump's MTU is not reported:\n%s", got)
	}
	f.links = f.links[:1] // eth0 and lo gone from the dump: sysfs
	if got := collectText(t, c); got != want {
		t.Errorf("devices missing from the dump:\n%s\nwant:\n%s", got, want)
	}
	f.err = syscall.EPERM // a failed dump after the check: sysfs
	if got := collectText(t, c); got != want {
		t.Errorf("failed dump:\n%s\nwant:\n%s", got, want)
	}
}

// TestNetclassNetlinkFallback: when the dump fails (EPERM, or no netlink
// on this system) or shows another network namespace's devices, every
// collection reports sysfs alone, and the dump is given up after
// maxNetlinkChecks collections.
func TestNetclassNetlinkFallback(t *testing.T) {
	sys, links := netclassFixture(t)
	want := collectText(t, &netclassCollector{sys: sys})
	other := append([]nlLink(nil), links...)
	other[0].name = "veth1" // a pod's namespace: other devices
	changed := append([]nlLink(nil), links...)
	changed[2].carrierChanges = 9 // same names, another value
	allmulti := append([]nlLink(nil), links...)
	allmulti[1].allmulti = 1 // a flag sysfs does not show
	up := append([]nlLink(nil), links...)
	up[0].flags |= iffUp // docker0 up in the dump, down in sysfs
	dup := append(append([]nlLink(nil), links...), links[2])
	for name, f := range map[string]*fakeDump{
		"eperm":       {err: syscall.EPERM},
		"unsupported": {err: fmt.Errorf("netlink socket: %w", syscall.EAFNOSUPPORT)},
		"other-names": {links: other},
		"other-value": {links: changed},
		"allmulti":    {links: allmulti},
		"up":          {links: up},
		"duplicate":   {links: dup},
		"fewer":       {links: links[1:]},
		"lacking":     {links: append([]nlLink{{name: "docker0", have: haveRequired &^ haveMTU}}, links[1:]...)},
	} {
		t.Run(name, func(t *testing.T) {
			c := &netclassCollector{sys: sys, dump: f.dump}
			for k := 0; k < maxNetlinkChecks+3; k++ {
				if got := collectText(t, c); got != want {
					t.Fatalf("collection %d:\n%s\nwant:\n%s", k, got, want)
				}
			}
			if c.nl.verified.Load() {
				t.Error("the dump was taken")
			}
			if f.calls != maxNetlinkChecks {
				t.Errorf("%d dumps, want %d", f.calls, maxNetlinkChecks)
			}
		})
	}
}

// TestNetclassNetlinkPlatform: dumpLinks either works (Linux) or says it
// is not supported; the collector built by New uses it.
func TestNetclassNetlinkPlatform(t *testing.T) {
	links, err := dumpLinks()
	if err != nil && !strings.Contains(err.Error(), "not supported") {
		t.Logf("link dump unavailable here: %v", err)
	}
	if err == nil && len(links) == 0 {
		t.Error("the dump lists no device, not even lo")
	}
	c, err := New(DefaultConfig(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.parts {
		if n, ok := p.src.(*netclassCollector); ok && n.dump == nil {
			t.Error("netclass is built without the link dump")
		}
		if n, ok := p.src.(*netclassCollector); ok && n.log == nil {
			t.Error("netclass is built without the collector's logger: it cannot say it gave the dump up")
		}
	}
}

// TestNetclassNetlinkGivenUpSaidOnce: when the dump fails (EPERM in a
// namespace that denies netlink) or shows another namespace, the fallback
// to sysfs is said once, on the collection that gives the dump up, with
// the reason, and not on every scrape; a dump that matches says nothing
// at Info.
func TestNetclassNetlinkGivenUpSaidOnce(t *testing.T) {
	sys, links := netclassFixture(t)
	other := append([]nlLink(nil), links...)
	other[0].name = "veth1"
	lacking := append([]nlLink(nil), links...)
	lacking[1].have &^= haveCarrierUp // a kernel before 4.16
	for name, f := range map[string]*fakeDump{
		"eperm":       {err: fmt.Errorf("netlink socket: %w", syscall.EPERM)},
		"eacces":      {err: fmt.Errorf("netlink send: %w", syscall.EACCES)},
		"other-names": {links: other},
		"old-kernel":  {links: lacking},
		"matching":    {links: links},
	} {
		t.Run(name, func(t *testing.T) {
			h := &recordHandler{}
			c := &netclassCollector{sys: sys, dump: f.dump, log: slog.New(h)}
			for range 3 * maxNetlinkChecks {
				collectText(t, c)
			}
			want := 1
			if name == "matching" {
				want = 0
			}
			if n := h.count(slog.LevelInfo); n != want {
				t.Fatalf("%d notices at Info over %d collections, want %d", n, 3*maxNetlinkChecks, want)
			}
			if want == 1 {
				var reason string
				h.recs[0].Attrs(func(a slog.Attr) bool {
					if a.Key == "reason" {
						reason = a.Value.String()
					}
					return true
				})
				if wantIn := map[string]string{"eperm": "operation not permitted", "eacces": "permission denied",
					"other-names": "namespace", "old-kernel": "before 4.16"}[name]; !strings.Contains(reason, wantIn) {
					t.Errorf("reason %q does not say %q", reason, wantIn)
				}
			}
		})
	}
}

// TestNetclassAttrIndexes: the attribute indexes name the files they are
// read as.
func TestNetclassAttrIndexes(t *testing.T) {
	for k, want := range map[int]string{attrAddrAssignType: "addr_assign_type", attrAddress: "address",
		attrBroadcast: "broadcast", attrCarrier: "carrier", attrCarrierChanges: "carrier_changes",
		attrCarrierUpCount: "carrier_up_count", attrCarrierDownCount: "carrier_down_count", attrDevID: "dev_id",
		attrDormant: "dormant", attrDuplex: "duplex", attrFlags: "flags", attrIfAlias: "ifalias",
		attrIfIndex: "ifindex", attrIfLink: "iflink", attrLinkMode: "link_mode", attrMTU: "mtu",
		attrNameAssignType: "name_assign_type", attrNetDevGroup: "netdev_group", attrOperState: "operstate",
		attrSpeed: "speed", attrTxQueueLen: "tx_queue_len", attrType: "type"} {
		if netclassAttrs[k] != want {
			t.Errorf("index %d is %q, want %q", k, netclassAttrs[k], want)
		}
	}
	if len(netclassAttrs) != numNetclassAttrs || len(allNetclassAttrs) != numNetclassAttrs {
		t.Errorf("%d attributes, %d indexes, %d in the full set", len(netclassAttrs), numNetclassAttrs, len(allNetclassAttrs))
	}
}
