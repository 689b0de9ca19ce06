package hostmetrics

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	netUpDesc = newDesc("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.",
		prometheus.GaugeValue, "device")
	netInfoDesc = newDesc("node_network_info", "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
		prometheus.GaugeValue, "device", "address", "broadcast", "duplex", "operstate", "adminstate", "ifalias")
)

// netProperty is one numeric attribute of <sys>/class/net/<iface>, under
// node_exporter's name and help text.
func netProperty(name string, vt prometheus.ValueType) *desc {
	return newDesc("node_network_"+name, "Network device property: "+name, vt, "device")
}

var (
	netAddrAssignTypeDesc = netProperty("address_assign_type", prometheus.GaugeValue)
	netCarrierDesc        = netProperty("carrier", prometheus.GaugeValue)
	netCarrierChangesDesc = netProperty("carrier_changes_total", prometheus.CounterValue)
	netCarrierUpDesc      = netProperty("carrier_up_changes_total", prometheus.CounterValue)
	netCarrierDownDesc    = netProperty("carrier_down_changes_total", prometheus.CounterValue)
	netDeviceIDDesc       = netProperty("device_id", prometheus.GaugeValue)
	netDormantDesc        = netProperty("dormant", prometheus.GaugeValue)
	netFlagsDesc          = netProperty("flags", prometheus.GaugeValue)
	netIfaceIDDesc        = netProperty("iface_id", prometheus.GaugeValue)
	netIfaceLinkDesc      = netProperty("iface_link", prometheus.GaugeValue)
	netIfaceLinkModeDesc  = netProperty("iface_link_mode", prometheus.GaugeValue)
	netMTUDesc            = netProperty("mtu_bytes", prometheus.GaugeValue)
	netNameAssignTypeDesc = netProperty("name_assign_type", prometheus.GaugeValue)
	netDevGroupDesc       = netProperty("net_dev_group", prometheus.GaugeValue)
	netSpeedDesc          = netProperty("speed_bytes", prometheus.GaugeValue)
	netTxQueueLenDesc     = netProperty("transmit_queue_length", prometheus.GaugeValue)
	netProtocolTypeDesc   = netProperty("protocol_type", prometheus.GaugeValue)
)

// netclassCollector reports <sys>/class/net/<iface>: link state, carrier,
// MTU and speed of each network device, as node_exporter's netclass
// collector does (its sysfs mode, the default). The devices are those of the
// network namespace that mounted sysfs: the host's, given the host's /sys.
//
// The listing of <sys>/class/net decides which devices are reported. Their
// attributes come from one rtnetlink link dump (dump, see netlink.go) where
// it answers for that same namespace, and from sysfs for the rest:
// addr_assign_type, dev_id, name_assign_type, and speed and duplex of a
// device that is up. Everything else is read from sysfs only: a device the
// dump lacks, all devices when the dump fails (no netlink, not Linux,
// EPERM), and all devices until the dump has been seen to match sysfs.
//
// That check (netlinkMismatch) keeps the agent's own network namespace out:
// netlink answers for the namespace of the process, sysfs for the one that
// mounted it, and a pod without hostNetwork given the host's /sys sees two
// different ones. The first collections read every attribute from sysfs
// and compare it with the dump; once every device's values are equal in
// both (the same names, indexes, addresses, counters...), the dump is
// used; after maxNetlinkChecks collections that did not match, it is not
// asked again. Neither namespace can change under a running process.
//
// sysfs is read with only node_exporter's attributes (procfs'
// sysfs.NetClassByIface reads every file of the directory, and a scrape
// of four devices took 4.6 ms of CPU that way on the reference machine),
// through files kept open from one collection to the next (netHeld,
// netheld_linux.go) where it can, else through attrDir.
type netclassCollector struct {
	sys  string
	dump func() ([]nlLink, error) // nil: sysfs only
	nl   netlinkCheck
	log  *slog.Logger // nil: nothing said

	heldOnce sync.Once
	held     *netHeld // nil: every file read by its path (see netHeld)
}

// heldFiles is the held attribute files for this collection, nil if there
// are none to use (not sysfs, not Linux, or another collection uses them);
// the caller releases them. They are closed when the collector is
// garbage collected.
func (c *netclassCollector) heldFiles(dir string) *netHeld {
	c.heldOnce.Do(func() {
		if c.held = newNetHeld(dir); c.held != nil {
			runtime.AddCleanup(c, (*netHeld).closeAll, c.held)
		}
	})
	if c.held == nil || !c.held.acquire() {
		return nil
	}
	return c.held
}

// maxNetlinkChecks is how many collections may compare the dump with sysfs
// before it is given up: enough for devices created or changed between the
// two reads on a busy node.
const maxNetlinkChecks = 10

// netlinkCheck is whether the dump is known to show sysfs' devices.
type netlinkCheck struct {
	verified atomic.Bool
	failed   atomic.Int32 // collections whose dump failed or did not match
}

// usable is whether to ask for the dump at all.
func (n *netlinkCheck) usable() bool {
	return n.verified.Load() || n.failed.Load() < maxNetlinkChecks
}

// netclassAttrs are the files read per device from sysfs alone, in the
// order they are read; the attribute sets below are indexes into it.
var netclassAttrs = [...]string{"addr_assign_type", "address", "broadcast", "carrier", "carrier_changes",
	"carrier_up_count", "carrier_down_count", "dev_id", "dormant", "duplex", "flags", "ifalias", "ifindex",
	"iflink", "link_mode", "mtu", "name_assign_type", "netdev_group", "operstate", "speed", "tx_queue_len", "type"}

// Indexes of netclassAttrs.
const (
	attrAddrAssignType = iota
	attrAddress
	attrBroadcast
	attrCarrier
	attrCarrierChanges
	attrCarrierUpCount
	attrCarrierDownCount
	attrDevID
	attrDormant
	attrDuplex
	attrFlags
	attrIfAlias
	attrIfIndex
	attrIfLink
	attrLinkMode
	attrMTU
	attrNameAssignType
	attrNetDevGroup
	attrOperState
	attrSpeed
	attrTxQueueLen
	attrType
	numNetclassAttrs
)

// allNetclassAttrs is every attribute: a device read from sysfs alone.
var allNetclassAttrs = func() []uint8 {
	a := make([]uint8, numNetclassAttrs)
	for k := range a {
		a[k] = uint8(k)
	}
	return a
}()

// What sysfs still has to give for a device taken from the dump: the
// attributes rtnetlink does not carry; speed and duplex only when the
// device is up (sysfs refuses them otherwise); flags when the dump lacks
// the counters to rebuild them.
var (
	netlinkUpAttrs        = []uint8{attrAddrAssignType, attrDevID, attrDuplex, attrNameAssignType, attrSpeed}
	netlinkDownAttrs      = []uint8{attrAddrAssignType, attrDevID, attrNameAssignType}
	netlinkUpFlagsAttrs   = []uint8{attrAddrAssignType, attrDevID, attrDuplex, attrFlags, attrNameAssignType, attrSpeed}
	netlinkDownFlagsAttrs = []uint8{attrAddrAssignType, attrDevID, attrFlags, attrNameAssignType}
)

func (c *netclassCollector) collect(e *emitter) error {
	dir := filepath.Join(c.sys, "class", "net")
	ents, err := listNetDevices(dir)
	if err != nil {
		return err
	}
	links, checking := c.links()
	held := c.heldFiles(dir)
	if held != nil {
		defer held.release()
	}
	ifaces := make([]*netIface, 0, len(ents))
	for _, ent := range ents { // sorted by name
		if ent.regular { // bonding_masters
			continue
		}
		var l *nlLink
		if !checking {
			l = links[ent.name]
		}
		r := devReader{path: filepath.Join(dir, ent.name)}
		if held != nil && ent.ino != 0 { // sysfs numbers its nodes from 1
			r.h, r.dev = held, held.device(ent.ino)
		}
		iface, err := readNetClassDev(&r, l)
		r.close()
		if errors.Is(err, iofs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return fmt.Errorf("network device %s: %w", ent.name, err)
		}
		iface.Name = ent.name
		ifaces = append(ifaces, iface)
	}
	if checking {
		if err := netlinkMismatch(ifaces, links); err != nil {
			c.checkFailed(err)
		} else if !c.nl.verified.Swap(true) && c.log != nil {
			c.log.Debug("netclass takes most attributes from the rtnetlink link dump: it shows sysfs' devices and values")
		}
	}
	emitNetclass(e, ifaces)
	return nil
}

// links is the dump by device name, nil if there is none to use. checking
// is whether it is still to be compared with sysfs (every device is then
// read from sysfs alone).
func (c *netclassCollector) links() (links map[string]*nlLink, checking bool) {
	if c.dump == nil || !c.nl.usable() {
		return nil, false
	}
	ls, err := c.dump()
	if err == nil {
		links = make(map[string]*nlLink, len(ls))
		for k := range ls {
			if _, dup := links[ls[k].name]; dup {
				err = fmt.Errorf("netlink: device %s twice", ls[k].name)
				break
			}
			links[ls[k].name] = &ls[k]
		}
	}
	verified := c.nl.verified.Load()
	if err != nil {
		if !verified {
			c.checkFailed(err)
		}
		return nil, false
	}
	return links, !verified
}

// checkFailed counts a collection whose dump failed or did not match
// sysfs, and says once, on the collection that gives the dump up, that
// every attribute is read from sysfs from then on, and why.
func (c *netclassCollector) checkFailed(why error) {
	if c.nl.failed.Add(1) == maxNetlinkChecks && c.log != nil {
		c.log.Info("netclass reads every attribute from sysfs: the rtnetlink link dump is given up",
			"checks", maxNetlinkChecks, "reason", why)
	}
}

// netlinkMismatch says how the dump does not show exactly sysfs' devices
// with sysfs' values, nil when it does, that is, when both are of the same
// network namespace and apply renders every value as sysfs does.
func netlinkMismatch(ifaces []*netIface, links map[string]*nlLink) error {
	if len(ifaces) != len(links) {
		return fmt.Errorf("sysfs lists %d devices, the dump %d (another network namespace?)", len(ifaces), len(links))
	}
	for _, i := range ifaces {
		l := links[i.Name]
		if l == nil {
			return fmt.Errorf("device %s is not in the dump (another network namespace?)", i.Name)
		}
		if !l.usable() {
			return fmt.Errorf("device %s: the dump lacks attributes netclass needs (a kernel before 4.16?)", i.Name)
		}
		merged := *i
		l.apply(&merged)
		if !merged.equal(i) {
			return fmt.Errorf("device %s: the dump's values differ from sysfs' (another network namespace, or a change between the reads)", i.Name)
		}
	}
	return nil
}

// readNetClassIface reads one device's attributes from its directory
// dir, holding no file open: those the link l does not carry from sysfs,
// or all of them from sysfs if l is nil or lacks some.
func readNetClassIface(dir string, l *nlLink) (*netIface, error) {
	r := devReader{path: dir}
	defer r.close()
	return readNetClassDev(&r, l)
}

// readNetClassDev is readNetClassIface through r.
func readNetClassDev(r *devReader, l *nlLink) (*netIface, error) {
	var i netIface
	attrs := allNetclassAttrs
	if l != nil && l.usable() {
		_, flags := l.sysfsFlags()
		switch {
		case l.running() && flags:
			attrs = netlinkUpAttrs
		case flags:
			attrs = netlinkDownAttrs
		case l.running():
			attrs = netlinkUpFlagsAttrs
		default:
			attrs = netlinkDownFlagsAttrs
		}
		l.apply(&i)
	}
	if err := readNetClassAttrs(r, attrs, &i); err != nil {
		return nil, err
	}
	return &i, nil
}

// readNetClassAttrs reads attributes with procfs' rules: an
// attribute the device does not have (missing, EINVAL, EOPNOTSUPP,
// ENODATA, not permitted) is left out; any other error fails the device,
// and so does a device directory that cannot be opened (gone since the
// listing: the caller leaves it out).
// A number that does not parse is 0, as sysfs.ParseNetClassAttribute makes
// it.
func readNetClassAttrs(r *devReader, attrs []uint8, i *netIface) error {
	for _, a := range attrs {
		v, err := r.read(int(a))
		if err != nil {
			var de netDirError
			if errors.As(err, &de) {
				return de.err
			}
			if ignorableAttrError(err) {
				continue
			}
			return fmt.Errorf("%s: %w", netclassAttrs[a], err)
		}
		n := func() *int64 {
			x, _ := strconv.ParseInt(v, 0, 64)
			return &x
		}
		switch a {
		case attrAddrAssignType:
			i.AddrAssignType = n()
		case attrAddress:
			i.Address = v
		case attrBroadcast:
			i.Broadcast = v
		case attrCarrier:
			i.Carrier = n()
		case attrCarrierChanges:
			i.CarrierChanges = n()
		case attrCarrierUpCount:
			i.CarrierUpCount = n()
		case attrCarrierDownCount:
			i.CarrierDownCount = n()
		case attrDevID:
			i.DevID = n()
		case attrDormant:
			i.Dormant = n()
		case attrDuplex:
			i.Duplex = v
		case attrFlags:
			i.Flags = n()
		case attrIfAlias:
			i.IfAlias = v
		case attrIfIndex:
			i.IfIndex = n()
		case attrIfLink:
			i.IfLink = n()
		case attrLinkMode:
			i.LinkMode = n()
		case attrMTU:
			i.MTU = n()
		case attrNameAssignType:
			i.NameAssignType = n()
		case attrNetDevGroup:
			i.NetDevGroup = n()
		case attrOperState:
			i.OperState = v
		case attrSpeed:
			i.Speed = n()
		case attrTxQueueLen:
			i.TxQueueLen = n()
		case attrType:
			i.Type = n()
		}
	}
	return nil
}

// netDirError is a device directory that could not be opened, as opposed
// to one of its attributes.
type netDirError struct{ err error }

func (e netDirError) Error() string { return e.err.Error() }
func (e netDirError) Unwrap() error { return e.err }

// ignorableAttrError is procfs' list of errors that mean "this device has
// no such attribute".
func ignorableAttrError(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, iofs.ErrPermission) || errors.Is(err, iofs.ErrInvalid) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENODATA) || errors.Is(err, syscall.EINVAL)
}

// netIface is what netclass reports of one device: the fields of
// sysfs.NetClassIface that node_exporter uses.
type netIface struct {
	Name, Address, Broadcast, Duplex, IfAlias, OperState          string
	AddrAssignType, Carrier, CarrierChanges, CarrierUpCount       *int64
	CarrierDownCount, DevID, Dormant, Flags, IfIndex, IfLink      *int64
	LinkMode, MTU, NameAssignType, NetDevGroup, Speed, TxQueueLen *int64
	Type                                                          *int64
}

// equal is whether i and o report the same values.
func (i *netIface) equal(o *netIface) bool {
	if i.Name != o.Name || i.Address != o.Address || i.Broadcast != o.Broadcast || i.Duplex != o.Duplex ||
		i.IfAlias != o.IfAlias || i.OperState != o.OperState {
		return false
	}
	a, b := i.numbers(), o.numbers()
	for k := range a {
		if (a[k] == nil) != (b[k] == nil) || a[k] != nil && *a[k] != *b[k] {
			return false
		}
	}
	return true
}

func (i *netIface) numbers() [17]*int64 {
	return [...]*int64{i.AddrAssignType, i.Carrier, i.CarrierChanges, i.CarrierUpCount, i.CarrierDownCount,
		i.DevID, i.Dormant, i.Flags, i.IfIndex, i.IfLink, i.LinkMode, i.MTU, i.NameAssignType, i.NetDevGroup,
		i.Speed, i.TxQueueLen, i.Type}
}

func emitNetclass(e *emitter, ifaces []*netIface) {
	opt := func(d *desc, v *int64, dev string) {
		if v != nil {
			e.emit(d, float64(*v), dev)
		}
	}
	for _, i := range ifaces {
		up := 0.0
		if i.OperState == "up" {
			up = 1
		}
		e.emit(netUpDesc, up, i.Name)
		e.emit(netInfoDesc, 1, i.Name, i.Address, i.Broadcast, i.Duplex, i.OperState, adminState(i.Flags), i.IfAlias)
		opt(netAddrAssignTypeDesc, i.AddrAssignType, i.Name)
		opt(netCarrierDesc, i.Carrier, i.Name)
		opt(netCarrierChangesDesc, i.CarrierChanges, i.Name)
		opt(netCarrierUpDesc, i.CarrierUpCount, i.Name)
		opt(netCarrierDownDesc, i.CarrierDownCount, i.Name)
		opt(netDeviceIDDesc, i.DevID, i.Name)
		opt(netDormantDesc, i.Dormant, i.Name)
		opt(netFlagsDesc, i.Flags, i.Name)
		opt(netIfaceIDDesc, i.IfIndex, i.Name)
		opt(netIfaceLinkDesc, i.IfLink, i.Name)
		opt(netIfaceLinkModeDesc, i.LinkMode, i.Name)
		opt(netMTUDesc, i.MTU, i.Name)
		opt(netNameAssignTypeDesc, i.NameAssignType, i.Name)
		opt(netDevGroupDesc, i.NetDevGroup, i.Name)
		if i.Speed != nil {
			// -1 (unknown, a virtual device) is reported as node_exporter
			// 1.x does without --collector.netclass.ignore-invalid-speed.
			e.emit(netSpeedDesc, float64(*i.Speed*1000*1000/8), i.Name)
		}
		opt(netTxQueueLenDesc, i.TxQueueLen, i.Name)
		opt(netProtocolTypeDesc, i.Type, i.Name)
	}
}

// adminState is node_exporter's reading of IFF_UP in the flags. It tests
// flags&IFF_UP == 1, and IFF_UP is 1, so this is whether the device is
// administratively up.
func adminState(flags *int64) string {
	if flags == nil {
		return "unknown"
	}
	if *flags&int64(net.FlagUp) != 0 {
		return "up"
	}
	return "down"
}
