package hostmetrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// The rtnetlink link dump (RTM_GETLINK with NLM_F_DUMP) that netclass reads
// instead of most sysfs attribute files: one request and a few datagrams for
// all devices, where sysfs costs an open, a read and a close per attribute
// and device. Values are those of include/uapi/linux/{netlink,rtnetlink,
// if_link,if}.h; the syscall package lacks the newer ones.
const (
	nlmsgHdrLen   = 16 // struct nlmsghdr
	ifinfomsgLen  = 16 // struct ifinfomsg
	nlaHdrLen     = 4  // struct nlattr
	nlaTypeMask   = 0x3fff
	nlmsgNoop     = 0x1
	nlmsgError    = 0x2
	nlmsgDone     = 0x3
	nlmFRequest   = 0x1
	nlmFDump      = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	nlmFDumpIntr  = 0x10
	rtmNewLink    = 16
	rtmGetLink    = 18
	rtextSkipStat = 1 << 3 // RTEXT_FILTER_SKIP_STATS: no IFLA_STATS{,64}, which netclass does not use

	iflaAddress          = 1
	iflaBroadcast        = 2
	iflaIfname           = 3
	iflaMTU              = 4
	iflaLink             = 5
	iflaTxQLen           = 13
	iflaOperState        = 16
	iflaLinkMode         = 17
	iflaIfAlias          = 20
	iflaGroup            = 27
	iflaExtMask          = 29
	iflaPromiscuity      = 30
	iflaCarrier          = 33
	iflaCarrierChanges   = 35
	iflaCarrierUpCount   = 47
	iflaCarrierDownCount = 48
	iflaAllMulti         = 61

	iffUp       = 0x1
	iffRunning  = 0x40
	iffPromisc  = 0x100
	iffAllMulti = 0x200
	iffLowerUp  = 0x10000
	iffDormant  = 0x20000
)

// The attributes a link must carry for netclass to take it from netlink
// (all of them in Linux 4.16 and later); without one, the device is read
// from sysfs. IFLA_PROMISCUITY and IFLA_ALLMULTI (Linux 6.7) are needed
// only to rebuild sysfs' flags; without them flags is read from sysfs.
const (
	haveMTU uint32 = 1 << iota
	haveTxQLen
	haveOperState
	haveLinkMode
	haveGroup
	haveCarrier
	haveCarrierChanges
	haveCarrierUp
	haveCarrierDown
	havePromiscuity
	haveAllMulti

	haveRequired = haveMTU | haveTxQLen | haveOperState | haveLinkMode | haveGroup | haveCarrier |
		haveCarrierChanges | haveCarrierUp | haveCarrierDown
	haveFlags = havePromiscuity | haveAllMulti
)

// nlLink is one RTM_NEWLINK message of the dump, as the kernel sent it.
type nlLink struct {
	name                      string
	index                     int32
	typ                       uint16
	flags                     uint32 // ifi_flags: dev_get_flags(), not sysfs' dev->flags
	have                      uint32
	link                      uint32
	hasLink                   bool
	mtu, txqlen, group        uint32
	carrierChanges, up, down  uint32
	promiscuity, allmulti     uint32
	operstate, linkmode       uint8
	carrier                   uint8
	address, broadcast, alias string // as sysfs shows them
}

// usable says whether the link carries every attribute netclass takes from
// netlink.
func (l *nlLink) usable() bool { return l.have&haveRequired == haveRequired }

// running is whether the device is up (IFF_UP): sysfs' carrier, dormant,
// speed and duplex answer EINVAL when it is not (netif_running(), which
// IFF_UP follows).
func (l *nlLink) running() bool { return l.flags&iffUp != 0 }

// sysfsFlags is sysfs' flags (dev->flags) rebuilt from ifi_flags, which
// adds IFF_RUNNING, IFF_LOWER_UP and IFF_DORMANT from the link state and
// takes IFF_PROMISC and IFF_ALLMULTI from what user space asked for
// (dev->gflags), where dev->flags has them while their counters
// (promiscuity, allmulti) are not zero. ok is false without those counters.
func (l *nlLink) sysfsFlags() (flags uint32, ok bool) {
	if l.have&haveFlags != haveFlags {
		return 0, false
	}
	f := l.flags &^ (iffPromisc | iffAllMulti | iffRunning | iffLowerUp | iffDormant)
	if l.promiscuity != 0 {
		f |= iffPromisc
	}
	if l.allmulti != 0 {
		f |= iffAllMulti
	}
	return f, true
}

// operStates are sysfs' names of IF_OPER_*; another value is EINVAL there.
var operStates = [...]string{"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"}

// apply sets on i what netlink carries, as sysfs shows it: numbers that
// sysfs prints with %d are signed 32-bit, addresses are lower-case hex
// bytes joined by colons, and an attribute sysfs refuses (carrier and
// dormant of a device that is not up, an unknown operstate) is left unset.
// Speed and duplex, which sysfs refuses too when the device is not up, are
// cleared then; when it is up they are left to the caller, as are
// addr_assign_type, dev_id, name_assign_type and, without the counters of
// sysfsFlags, flags.
func (l *nlLink) apply(i *netIface) {
	dec := func(v uint32) *int64 { x := int64(int32(v)); return &x }
	i.IfIndex = dec(uint32(l.index))
	t := int64(l.typ)
	i.Type = &t
	if l.hasLink {
		i.IfLink = dec(l.link)
	} else { // the kernel leaves IFLA_LINK out when iflink == ifindex
		i.IfLink = dec(uint32(l.index))
	}
	i.Address, i.Broadcast, i.IfAlias = l.address, l.broadcast, l.alias
	i.MTU = dec(l.mtu)
	i.TxQueueLen = dec(l.txqlen)
	i.NetDevGroup = dec(l.group)
	i.LinkMode = dec(uint32(l.linkmode))
	i.OperState = ""
	if int(l.operstate) < len(operStates) {
		i.OperState = operStates[l.operstate]
	}
	i.CarrierChanges = dec(l.carrierChanges)
	i.CarrierUpCount = dec(l.up)
	i.CarrierDownCount = dec(l.down)
	i.Carrier, i.Dormant = nil, nil
	if l.running() {
		i.Carrier = dec(uint32(l.carrier))
		d := int64(0)
		if l.flags&iffDormant != 0 {
			d = 1
		}
		i.Dormant = &d
	} else {
		i.Speed, i.Duplex = nil, ""
	}
	if f, ok := l.sysfsFlags(); ok {
		x := int64(f)
		i.Flags = &x
	}
}

// formatMAC is the kernel's "%*phC" (sysfs_format_mac): at most 64 bytes.
func formatMAC(b []byte) string {
	const hex = "0123456789abcdef"
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return ""
	}
	out := make([]byte, 0, 3*len(b)-1)
	for k, c := range b {
		if k > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

var (
	errNetlinkTruncated = errors.New("netlink: truncated message")
	errDumpInterrupted  = errors.New("netlink: dump interrupted by a change (NLM_F_DUMP_INTR)")
)

// linkRequest is the RTM_GETLINK dump request with sequence number seq:
// a header, an ifinfomsg for any family and IFLA_EXT_MASK skipping
// statistics.
func linkRequest(seq uint32) []byte {
	const n = nlmsgHdrLen + ifinfomsgLen + nlaHdrLen + 4
	b := make([]byte, n)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], n)
	ne.PutUint16(b[4:], rtmGetLink)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	a := b[nlmsgHdrLen+ifinfomsgLen:]
	ne.PutUint16(a[0:], nlaHdrLen+4)
	ne.PutUint16(a[2:], iflaExtMask)
	ne.PutUint32(a[4:], rtextSkipStat)
	return b
}

// linkDump collects the replies to one dump request.
type linkDump struct {
	seq   uint32
	links []nlLink
	done  bool
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// add parses one datagram of the reply. Anything that is not what the
// kernel sends for a link dump (a short or overlong length, an attribute of
// the wrong size, another sequence number, data after NLMSG_DONE) is an
// error: the caller then reads sysfs.
func (d *linkDump) add(b []byte) error {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return errNetlinkTruncated
		}
		n := ne.Uint32(b[0:])
		typ, flags, seq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
		if n < nlmsgHdrLen || uint64(n) > uint64(len(b)) {
			return fmt.Errorf("netlink: message length %d of %d bytes", n, len(b))
		}
		if d.done {
			return errors.New("netlink: message after NLMSG_DONE")
		}
		if seq != d.seq {
			return fmt.Errorf("netlink: sequence %d, want %d", seq, d.seq)
		}
		if flags&nlmFDumpIntr != 0 {
			return errDumpInterrupted
		}
		p := b[nlmsgHdrLen:n]
		switch typ {
		case nlmsgNoop:
		case nlmsgDone:
			if len(p) >= 4 {
				if e := int32(ne.Uint32(p)); e != 0 {
					return fmt.Errorf("netlink: dump ended with %w", errnoOf(e))
				}
			}
			d.done = true
		case nlmsgError:
			if len(p) < 4 {
				return errNetlinkTruncated
			}
			e := int32(ne.Uint32(p))
			if e == 0 {
				return errors.New("netlink: acknowledgement instead of a dump")
			}
			return fmt.Errorf("netlink: %w", errnoOf(e))
		case rtmNewLink:
			l, err := parseLink(p)
			if err != nil {
				return err
			}
			d.links = append(d.links, l)
		default:
			return fmt.Errorf("netlink: unexpected message type %d", typ)
		}
		b = b[min(nlAlign(int(n)), len(b)):]
	}
	return nil
}

// errnoOf is the errno of a negative netlink error code.
func errnoOf(e int32) error {
	if e < 0 {
		e = -e
	}
	return syscall.Errno(e)
}

// parseLink parses an ifinfomsg and its attributes.
func parseLink(p []byte) (nlLink, error) {
	ne := binary.NativeEndian
	var l nlLink
	if len(p) < ifinfomsgLen {
		return l, errNetlinkTruncated
	}
	l.typ = ne.Uint16(p[2:])
	l.index = int32(ne.Uint32(p[4:]))
	l.flags = ne.Uint32(p[8:])
	a := p[ifinfomsgLen:]
	for len(a) > 0 {
		if len(a) < nlaHdrLen {
			return l, errNetlinkTruncated
		}
		n := int(ne.Uint16(a[0:]))
		typ := ne.Uint16(a[2:]) & nlaTypeMask
		if n < nlaHdrLen || n > len(a) {
			return l, fmt.Errorf("netlink: attribute %d length %d of %d bytes", typ, n, len(a))
		}
		v := a[nlaHdrLen:n]
		a = a[min(nlAlign(n), len(a)):]
		u32 := func(dst *uint32, bit uint32) error {
			if len(v) != 4 {
				return fmt.Errorf("netlink: attribute %d has %d bytes, want 4", typ, len(v))
			}
			*dst = ne.Uint32(v)
			l.have |= bit
			return nil
		}
		u8 := func(dst *uint8, bit uint32) error {
			if len(v) != 1 {
				return fmt.Errorf("netlink: attribute %d has %d bytes, want 1", typ, len(v))
			}
			*dst = v[0]
			l.have |= bit
			return nil
		}
		var err error
		switch typ {
		case iflaIfname:
			l.name = string(cString(v))
		case iflaAddress:
			l.address = formatMAC(v)
		case iflaBroadcast:
			l.broadcast = formatMAC(v)
		case iflaIfAlias: // sysfs: "%s\n" of the C string, of which procfs reads sysAttrReadLen bytes
			c := cString(v)
			a := append(c[:len(c):len(c)], '\n') // a copy: v is the dump's buffer
			l.alias = string(bytes.TrimSpace(a[:min(len(a), sysAttrReadLen)]))
		case iflaLink:
			err = u32(&l.link, 0)
			l.hasLink = err == nil
		case iflaMTU:
			err = u32(&l.mtu, haveMTU)
		case iflaTxQLen:
			err = u32(&l.txqlen, haveTxQLen)
		case iflaGroup:
			err = u32(&l.group, haveGroup)
		case iflaCarrierChanges:
			err = u32(&l.carrierChanges, haveCarrierChanges)
		case iflaCarrierUpCount:
			err = u32(&l.up, haveCarrierUp)
		case iflaCarrierDownCount:
			err = u32(&l.down, haveCarrierDown)
		case iflaPromiscuity:
			err = u32(&l.promiscuity, havePromiscuity)
		case iflaAllMulti:
			err = u32(&l.allmulti, haveAllMulti)
		case iflaOperState:
			err = u8(&l.operstate, haveOperState)
		case iflaLinkMode:
			err = u8(&l.linkmode, haveLinkMode)
		case iflaCarrier:
			err = u8(&l.carrier, haveCarrier)
		}
		if err != nil {
			return l, err
		}
	}
	if l.name == "" {
		return l, errors.New("netlink: link without a name")
	}
	return l, nil
}

// cString is b up to its first NUL byte.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
