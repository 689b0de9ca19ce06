package hostmetrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Hand-built rtnetlink messages, as the kernel lays them out.

type nlAttr struct {
	typ uint16
	val []byte
}

func attrU32(typ uint16, v uint32) nlAttr {
	return nlAttr{typ, binary.NativeEndian.AppendUint32(nil, v)}
}
func attrU8(typ uint16, v uint8) nlAttr      { return nlAttr{typ, []byte{v}} }
func attrStr(typ uint16, s string) nlAttr    { return nlAttr{typ, append([]byte(s), 0)} }
func attrBytes(typ uint16, b ...byte) nlAttr { return nlAttr{typ, b} }
func attrRaw(typ uint16, b []byte) nlAttr    { return nlAttr{typ, b} }
func nlPad(b []byte) []byte                  { return append(b, make([]byte, nlAlign(len(b))-len(b))...) }
func nlDone(seq uint32) []byte               { return nlMsg(nlmsgDone, 0x2, seq, make([]byte, 4)) }
func nlErr(seq uint32, errno int32) []byte   { return nlMsg(nlmsgError, 0, seq, int32Bytes(-errno)) }
func int32Bytes(v int32) []byte              { return binary.NativeEndian.AppendUint32(nil, uint32(v)) }
func nlLinkMsg(seq uint32, p []byte) []byte  { return nlMsg(rtmNewLink, 0x2, seq, p) }
func cat(parts ...[]byte) (b []byte) {
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// nlMsg is one message: header and payload, padded to 4 bytes.
func nlMsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, uint32(nlmsgHdrLen+len(payload)))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	return nlPad(append(b, payload...))
}

// ifinfo is an ifinfomsg and its attributes.
func ifinfo(typ uint16, index int32, flags uint32, attrs ...nlAttr) []byte {
	ne := binary.NativeEndian
	b := []byte{0, 0}
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint32(b, uint32(index))
	b = ne.AppendUint32(b, flags)
	b = ne.AppendUint32(b, 0)
	for _, a := range attrs {
		b = ne.AppendUint16(b, uint16(nlaHdrLen+len(a.val)))
		b = ne.AppendUint16(b, a.typ)
		b = nlPad(append(b, a.val...))
	}
	return b
}

// fullAttrs are the attributes a 6.7+ kernel sends that netclass uses, for
// a device of mtu 1500, up with carrier, not promiscuous.
func fullAttrs(name string) []nlAttr {
	return []nlAttr{
		attrStr(iflaIfname, name), attrU32(iflaTxQLen, 1000), attrU8(iflaOperState, 6),
		attrU8(iflaLinkMode, 0), attrU32(iflaMTU, 1500), attrU32(iflaGroup, 0),
		attrU32(iflaPromiscuity, 0), attrU32(iflaAllMulti, 0), attrU8(iflaCarrier, 1),
		attrU32(iflaCarrierChanges, 2), attrU32(iflaCarrierUpCount, 1), attrU32(iflaCarrierDownCount, 1),
		attrBytes(iflaAddress, 0x02, 0xfc, 0, 0, 0, 0x01), attrBytes(iflaBroadcast, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
}

// parseDump parses datagrams as replies to request seq.
func parseDump(seq uint32, datagrams ...[]byte) ([]nlLink, error) {
	d := linkDump{seq: seq}
	for _, b := range datagrams {
		if err := d.add(b); err != nil {
			return nil, err
		}
	}
	if !d.done {
		return nil, errors.New("no NLMSG_DONE")
	}
	return d.links, nil
}

// ifaceText renders what netclass reports of a device, one attribute a
// line, for comparisons with a readable difference.
func ifaceText(i *netIface) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name=%q address=%q broadcast=%q duplex=%q ifalias=%q operstate=%q\n",
		i.Name, i.Address, i.Broadcast, i.Duplex, i.IfAlias, i.OperState)
	names := []string{"addr_assign_type", "carrier", "carrier_changes", "carrier_up_count", "carrier_down_count",
		"dev_id", "dormant", "flags", "ifindex", "iflink", "link_mode", "mtu", "name_assign_type", "netdev_group",
		"speed", "tx_queue_len", "type"}
	for k, v := range i.numbers() {
		s := "absent"
		if v != nil {
			s = strconv.FormatInt(*v, 10)
		}
		fmt.Fprintf(&b, "%s=%s\n", names[k], s)
	}
	return b.String()
}

func TestLinkDumpParses(t *testing.T) {
	const seq = 7
	eth0 := append(fullAttrs("eth0"), attrStr(iflaIfAlias, " uplink \n"))
	// veth0: promiscuous (a bridge port), IFLA_LINK to its peer, an MTU
	// and group sysfs prints negative with %d.
	veth := []nlAttr{
		attrStr(iflaIfname, "veth0"), attrU32(iflaTxQLen, 0), attrU8(iflaOperState, 6),
		attrU8(iflaLinkMode, 1), attrU32(iflaMTU, 0xffffffff), attrU32(iflaGroup, 0xfffffffe),
		attrU32(iflaPromiscuity, 1), attrU32(iflaAllMulti, 2), attrU8(iflaCarrier, 1),
		attrU32(iflaCarrierChanges, 4), attrU32(iflaCarrierUpCount, 2), attrU32(iflaCarrierDownCount, 2),
		attrU32(iflaLink, 3), attrU32(999, 5), // an attribute netclass does not know
		attrBytes(iflaAddress, 0xAA, 0xbb, 0, 1, 2, 3),
	}
	// ifb0: down, an operstate sysfs has no name for, no address
	// (addr_len 0), no IFLA_ALLMULTI (a kernel before 6.7).
	ifb := []nlAttr{
		attrStr(iflaIfname, "ifb0"), attrU32(iflaTxQLen, 32), attrU8(iflaOperState, 9),
		attrU8(iflaLinkMode, 0), attrU32(iflaMTU, 1500), attrU32(iflaGroup, 0),
		attrU32(iflaPromiscuity, 0), attrU8(iflaCarrier, 0),
		attrU32(iflaCarrierChanges, 0), attrU32(iflaCarrierUpCount, 0), attrU32(iflaCarrierDownCount, 0),
	}
	links, err := parseDump(seq,
		cat(nlLinkMsg(seq, ifinfo(1, 4, iffUp|0x2|0x1000|iffRunning|iffLowerUp, eth0...)),
			nlMsg(nlmsgNoop, 0, seq, nil),
			nlLinkMsg(seq, ifinfo(1, 9, iffUp|0x2|0x1000|iffRunning|iffLowerUp|iffDormant, veth...))),
		cat(nlLinkMsg(seq, ifinfo(801, 3, 0x82, ifb...)), nlDone(seq)))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 3 {
		t.Fatalf("%d links, want 3", len(links))
	}
	want := []string{
		`name="" address="02:fc:00:00:00:01" broadcast="ff:ff:ff:ff:ff:ff" duplex="" ifalias="uplink" operstate="up"
addr_assign_type=absent
carrier=1
carrier_changes=2
carrier_up_count=1
carrier_down_count=1
dev_id=absent
dormant=0
flags=4099
ifindex=4
iflink=4
link_mode=0
mtu=1500
name_assign_type=absent
netdev_group=0
speed=absent
tx_queue_len=1000
type=1
`,
		`name="" address="aa:bb:00:01:02:03" broadcast="" duplex="" ifalias="" operstate="up"
addr_assign_type=absent
carrier=1
carrier_changes=4
carrier_up_count=2
carrier_down_count=2
dev_id=absent
dormant=1
flags=4867
ifindex=9
iflink=3
link_mode=1
mtu=-1
name_assign_type=absent
netdev_group=-2
speed=absent
tx_queue_len=0
type=1
`,
		`name="" address="" broadcast="" duplex="" ifalias="" operstate=""
addr_assign_type=absent
carrier=absent
carrier_changes=0
carrier_up_count=0
carrier_down_count=0
dev_id=absent
dormant=absent
flags=absent
ifindex=3
iflink=3
link_mode=0
mtu=1500
name_assign_type=absent
netdev_group=0
speed=absent
tx_queue_len=32
type=801
`,
	}
	for k, name := range []string{"eth0", "veth0", "ifb0"} {
		l := links[k]
		if l.name != name || !l.usable() {
			t.Errorf("link %d: name %q usable %v, want %q usable", k, l.name, l.usable(), name)
		}
		var i netIface
		if name == "ifb0" { // a down device: what sysfs refuses must go
			s := int64(10)
			i.Speed, i.Duplex, i.Carrier, i.Dormant = &s, "full", &s, &s
		}
		l.apply(&i)
		if got := ifaceText(&i); got != want[k] {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want[k])
		}
	}
	if _, ok := links[2].sysfsFlags(); ok {
		t.Error("ifb0 has no IFLA_ALLMULTI, yet its flags are rebuilt")
	}
}

func TestLinkDumpLacksAttribute(t *testing.T) {
	for _, drop := range []uint16{iflaMTU, iflaTxQLen, iflaOperState, iflaLinkMode, iflaGroup, iflaCarrier,
		iflaCarrierChanges, iflaCarrierUpCount, iflaCarrierDownCount} {
		var attrs []nlAttr
		for _, a := range fullAttrs("eth0") {
			if a.typ != drop {
				attrs = append(attrs, a)
			}
		}
		links, err := parseDump(1, nlLinkMsg(1, ifinfo(1, 2, iffUp, attrs...)), nlDone(1))
		if err != nil {
			t.Fatal(err)
		}
		if links[0].usable() {
			t.Errorf("without attribute %d the link is usable", drop)
		}
	}
}

// hostileDumps are replies the parser must refuse, by name.
func hostileDumps() map[string][][]byte {
	const seq = 1
	link := func(attrs ...nlAttr) []byte { return nlLinkMsg(seq, ifinfo(1, 2, iffUp, attrs...)) }
	good := link(fullAttrs("eth0")...)
	withLen := func(b []byte, n uint32) []byte {
		b = append([]byte(nil), b...)
		binary.NativeEndian.PutUint32(b, n)
		return b
	}
	attrLen := func(n uint16) []byte { // eth0 whose first attribute claims n bytes
		b := append([]byte(nil), good...)
		binary.NativeEndian.PutUint16(b[nlmsgHdrLen+ifinfomsgLen:], n)
		return b
	}
	intr := nlMsg(rtmNewLink, 0x2|nlmFDumpIntr, seq, ifinfo(1, 2, iffUp, fullAttrs("eth0")...))
	return map[string][][]byte{
		"short-header":         {good[:10]},
		"length-below-header":  {withLen(good, 8)},
		"length-beyond-end":    {withLen(good, uint32(len(good)+4))},
		"other-sequence":       {nlLinkMsg(seq+1, ifinfo(1, 2, iffUp, fullAttrs("eth0")...))},
		"dump-interrupted":     {intr},
		"error-eperm":          {nlErr(seq, int32(syscall.EPERM))},
		"error-truncated":      {nlMsg(nlmsgError, 0, seq, []byte{1, 2})},
		"ack":                  {nlErr(seq, 0)},
		"done-with-error":      {nlMsg(nlmsgDone, 0x2, seq, int32Bytes(-int32(syscall.EMSGSIZE)))},
		"after-done":           {cat(nlDone(seq), good)},
		"after-done-datagram":  {nlDone(seq), good},
		"unknown-type":         {nlMsg(99, 0, seq, nil)},
		"short-ifinfomsg":      {nlLinkMsg(seq, make([]byte, 8))},
		"attr-header-cut":      {nlMsg(rtmNewLink, 0, seq, append(ifinfo(1, 2, 0, attrStr(iflaIfname, "a")), 4, 0))},
		"attr-length-below-4":  {attrLen(3)},
		"attr-length-too-long": {attrLen(4000)},
		"u32-of-2-bytes":       {link(attrStr(iflaIfname, "eth0"), attrBytes(iflaMTU, 1, 2))},
		"u8-of-4-bytes":        {link(attrStr(iflaIfname, "eth0"), attrU32(iflaOperState, 6))},
		"link-of-3-bytes":      {link(attrStr(iflaIfname, "eth0"), attrBytes(iflaLink, 1, 2, 3))},
		"no-name":              {link(attrU32(iflaMTU, 1500))},
		"empty-name":           {link(attrStr(iflaIfname, ""))},
	}
}

func TestLinkDumpRefusesHostile(t *testing.T) {
	for name, datagrams := range hostileDumps() {
		t.Run(name, func(t *testing.T) {
			links, err := parseDump(1, append(datagrams, nlDone(1))...)
			if err == nil {
				t.Fatalf("accepted as %+v", links)
			}
			if name == "error-eperm" && !errors.Is(err, syscall.EPERM) {
				t.Errorf("error %v is not EPERM", err)
			}
		})
	}
}

func TestLinkDumpNameAndAlias(t *testing.T) {
	links, err := parseDump(3, nlLinkMsg(3, ifinfo(1, 2, 0,
		attrRaw(iflaIfname, []byte("eth0\x00junk")), // what follows the C string is not the name
		attrRaw(iflaIfAlias, []byte("\tmy alias \n\x00rest")),
		attrBytes(iflaAddress, make([]byte, 70)...), // "%*phC" shows 64 bytes at most
	)), nlDone(3))
	if err != nil {
		t.Fatal(err)
	}
	l := links[0]
	if l.name != "eth0" || l.alias != "my alias" {
		t.Errorf("name %q alias %q", l.name, l.alias)
	}
	if want := strings.Repeat("00:", 63) + "00"; l.address != want {
		t.Errorf("address %q, want %q", l.address, want)
	}
}

// TestLinkRequest checks the request against its layout in
// include/uapi/linux/{netlink,rtnetlink}.h.
func TestLinkRequest(t *testing.T) {
	b := linkRequest(0x01020304)
	ne := binary.NativeEndian
	if len(b) != 40 || ne.Uint32(b) != 40 || ne.Uint16(b[4:]) != 18 || ne.Uint16(b[6:]) != 0x301 ||
		ne.Uint32(b[8:]) != 0x01020304 || ne.Uint16(b[32:]) != 8 || ne.Uint16(b[34:]) != 29 || ne.Uint32(b[36:]) != 8 {
		t.Errorf("request % x", b)
	}
}

// linkCorpus are the seeds of FuzzParseLinkDump, as files under
// testdata/fuzz/FuzzParseLinkDump: a good dump of three devices and every
// hostile dump, each as one datagram with sequence number 1.
func linkCorpus() map[string][]byte {
	seeds := map[string][]byte{
		"good": cat(nlLinkMsg(1, ifinfo(1, 4, iffUp|iffRunning, append(fullAttrs("eth0"), attrStr(iflaIfAlias, "x"))...)),
			nlLinkMsg(1, ifinfo(772, 1, iffUp, append(fullAttrs("lo"), attrU32(iflaLink, 7))...)),
			nlLinkMsg(1, ifinfo(1, 3, 0, fullAttrs("ifb0")...)), nlDone(1)),
	}
	for name, datagrams := range hostileDumps() {
		seeds[name] = cat(datagrams...)
	}
	return seeds
}

func TestLinkCorpusCurrent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseLinkDump")
	for name, b := range linkCorpus() {
		seedCurrent(t, filepath.Join(dir, name), b)
	}
}

var macText = regexp.MustCompile(`^([0-9a-f]{2}(:[0-9a-f]{2}){0,63})?$`)

func FuzzParseLinkDump(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		d := linkDump{seq: 1}
		if err := d.add(b); err != nil {
			return
		}
		for _, l := range d.links {
			if l.name == "" || strings.IndexByte(l.name, 0) >= 0 {
				t.Errorf("name %q", l.name)
			}
			if !macText.MatchString(l.address) || !macText.MatchString(l.broadcast) {
				t.Errorf("address %q broadcast %q", l.address, l.broadcast)
			}
			if l.alias != strings.TrimSpace(l.alias) || strings.IndexByte(l.alias, 0) >= 0 {
				t.Errorf("alias %q", l.alias)
			}
			var i netIface
			l.apply(&i)
			if (i.Carrier != nil || i.Dormant != nil) != l.running() {
				t.Errorf("carrier %v dormant %v of a device whose IFF_UP is %v", i.Carrier, i.Dormant, l.running())
			}
		}
		// The same bytes cut after the first message parse the same.
		if len(b) >= nlmsgHdrLen {
			n := min(nlAlign(int(binary.NativeEndian.Uint32(b))), len(b))
			d2 := linkDump{seq: 1}
			if err := d2.add(b[:n]); err != nil {
				t.Fatalf("first message alone: %v", err)
			}
			if err := d2.add(b[n:]); err != nil {
				t.Fatalf("rest alone: %v", err)
			}
			if fmt.Sprint(d2.links) != fmt.Sprint(d.links) || d2.done != d.done {
				t.Errorf("cut in two: %+v, whole: %+v", d2.links, d.links)
			}
		}
	})
}
