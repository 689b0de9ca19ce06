//go:build linux

package hostmetrics

import (
	"errors"
	"fmt"
	"github.com/prometheus/procfs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/procfs/sysfs"
	"golang.org/x/sys/unix"
)

// longAliases are ifalias values (the kernel takes up to 255 bytes) that
// procfs, which reads 128 bytes of a sysfs attribute, cuts: plainly, and
// where the cut leaves white space before it.
var longAliases = map[string]string{
	"200 bytes":        strings.Repeat("a", 200),
	"space at the cut": strings.Repeat("a", 120) + strings.Repeat(" ", 20) + strings.Repeat("b", 60),
	"255 bytes":        strings.Repeat("x", 100) + " " + strings.Repeat("y", 154),
}

// procfsIfAlias is node_exporter's ifalias of the device dir/<name>.
func procfsIfAlias(t *testing.T, sys, name string) string {
	t.Helper()
	fs, err := sysfs.NewFS(sys)
	if err != nil {
		t.Fatal(err)
	}
	i, err := fs.NetClassByIface(name)
	if err != nil {
		t.Fatal(err)
	}
	return i.IfAlias
}

// TestHostile45LongIfAliasBySysfsPath: an ifalias longer than what procfs
// reads of a sysfs file (128 bytes) is reported as procfs reports it,
// when read by path (a copy of sysfs) and from the link dump.
func TestHostile45LongIfAliasBySysfsPath(t *testing.T) {
	for name, alias := range longAliases {
		sys := copyTree(t, "testdata/sys")
		dir := filepath.Join(sys, "class", "net", "eth0")
		if err := os.WriteFile(filepath.Join(dir, "ifalias"), []byte(alias+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want := procfsIfAlias(t, sys, "eth0")
		if want == alias {
			t.Fatalf("%s: procfs reads the whole alias: nothing to compare", name)
		}
		i, err := readNetClassIface(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i.IfAlias != want {
			t.Errorf("%s: sysfs by path: ifalias of %d bytes %q, procfs (node_exporter) %d bytes %q",
				name, len(i.IfAlias), i.IfAlias, len(want), want)
		}
		// The same device from the link dump, which carries the whole
		// alias: its IFLA_IFALIAS parsed as a dump's.
		l := linkOf("eth0", i)
		dumped, err := parseDump(3, nlLinkMsg(3, ifinfo(1, 2, 0, attrStr(iflaIfname, "eth0"), attrStr(iflaIfAlias, alias))), nlDone(3))
		if err != nil || len(dumped) != 1 {
			t.Fatalf("%v, %d links", err, len(dumped))
		}
		l.alias = dumped[0].alias
		j, err := readNetClassIface(dir, &l)
		if err != nil {
			t.Fatal(err)
		}
		if j.IfAlias != want {
			t.Errorf("%s: link dump: ifalias of %d bytes %q, procfs (node_exporter) %d bytes %q",
				name, len(j.IfAlias), j.IfAlias, len(want), want)
		}
	}
}

// TestHostile45LongIfAliasHeldLive: the same through held files on a real
// sysfs (a bridge of the test's own network namespace), and through the
// real link dump.
func TestHostile45LongIfAliasHeldLive(t *testing.T) {
	sys, rtnl := ownNetSysfs(t)
	kind := ifinfo(0, 0, 0, attrStr(unix.IFLA_INFO_KIND, "bridge"))[ifinfomsgLen:]
	alias := longAliases["space at the cut"]
	if err := rtnl(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(0, 0, 0,
		attrStr(iflaIfname, "hL"), attrRaw(unix.IFLA_LINKINFO, kind))); err != nil {
		t.Skipf("cannot make a bridge: %v", err)
	}
	// The alias is set on the device once made (a new link takes none).
	if err := rtnl(unix.RTM_NEWLINK, 0, ifinfo(0, 0, 0, attrStr(iflaIfname, "hL"), attrStr(iflaIfAlias, alias))); err != nil {
		t.Fatalf("set the alias: %v", err)
	}
	want := procfsIfAlias(t, sys, "hL")
	if want == "" || want == alias {
		t.Fatalf("procfs reads ifalias %q: nothing to compare", want)
	}
	c := &netclassCollector{sys: sys}
	for k := range 2 { // the first opens the files, the second reads them again
		got := textOf(collectText(t, c), "node_network_info")
		if c.held == nil {
			t.Fatal("nothing held on sysfs")
		}
		if !strings.Contains(got, `"hL" `) {
			t.Fatalf("no hL in\n%s", got)
		}
		if strings.Contains(got, strings.Repeat("b", 60)) || !strings.Contains(got, `"`+want+`"`) {
			t.Errorf("collection %d: procfs (node_exporter) reads ifalias %q; held files report\n%s", k, want, got)
		}
	}
	// The link dump of this namespace.
	d := &netclassCollector{sys: sys, dump: dumpLinks}
	for range maxNetlinkChecks + 1 {
		got := textOf(collectText(t, noHold(d)), "node_network_info")
		if strings.Contains(got, strings.Repeat("b", 60)) || !strings.Contains(got, `"`+want+`"`) {
			t.Fatalf("procfs (node_exporter) reads ifalias %q; with the link dump\n%s", want, got)
		}
	}
}

// TestHostile45ProcStatOddButValid: <proc>/stat in forms a kernel or a
// container's procfs may give (CPUs numbered with gaps, counts near 2^64,
// no final newline, the eight counts of old kernels, a new line kind,
// more columns on intr/softirq) is read as procfs reads it, through the
// hand parser or its fallback.
func TestHostile45ProcStatOddButValid(t *testing.T) {
	max := "18446744073709551615"
	for name, b := range map[string]string{
		"gaps":           "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu7 1 2 3 4 5 6 7 8 9 10\ncpu64 1 2 3 4 5 6 7 8 9 10\nctxt 1\n",
		"near 2^64":      "cpu  " + strings.Repeat(max+" ", 9) + max + "\nintr " + max + " " + max + " 0\nctxt " + max + "\nsoftirq " + strings.Repeat(max+" ", 10) + max + "\n",
		"no newline":     "cpu  1 2 3 4 5 6 7 8 9 10\nbtime 1700000000",
		"old cpu lines":  "cpu  1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\nctxt 5\n",
		"new line kind":  "cpu  1 2 3 4 5 6 7 8 9 10\nnewthing 1 2 3\nctxt 5\n",
		"long softirq":   "softirq 10 1 1 1 1 1 1 1 1 1 1 7 8\n",
		"intr alone":     "intr 5\n",
		"cpu no counts":  "cpu\nctxt 1\n",
		"two spaces":     "cpu  1  2 3 4 5 6 7 8 9 10\n",
		"trailing space": "ctxt 5 \nbtime 2   \n",
	} {
		got, want, err, werr := statBoth(t, []byte(b))
		if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v (%v)\nprocfs %+v (%v)", name, got, err, want, werr)
		}
	}
}

// TestHostile45MeminfoNetDevLoadavgOdd: the same for meminfo (keys
// missing, new, repeated; no final newline; values near 2^64), net/dev
// (counters at 2^64-1, names of UTF-8 including a Unicode space the kernel
// allows, no final newline) and loadavg.
func TestHostile45MeminfoNetDevLoadavgOdd(t *testing.T) {
	for name, b := range map[string]string{
		"few keys":   "MemTotal: 1 kB\nMemFree: 2 kB",
		"new keys":   "MemTotal:  1 kB\nFutureKey:  9 kB\nOtherKey: 3\nHugePages_Total: 4\n",
		"huge":       "MemTotal: 18014398509481983 kB\nSwapTotal: 18446744073709551615 kB\nHugePages_Free: 18446744073709551615\n",
		"unit on hp": "HugePages_Total: 4 kB\n",
	} {
		v, ok := parseMeminfo([]byte(b))
		if !ok {
			continue
		}
		m, err := procfsOn(t, "meminfo", []byte(b)).Meminfo()
		if got, want := meminfoText(nil, v), meminfoText(&m, v); err != nil || got != want {
			t.Errorf("meminfo %s:\n%s\nprocfs (%v):\n%s", name, got, err, want)
		}
	}
	head := "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	max := "18446744073709551615"
	for name, b := range map[string]string{
		"max":        head + "  eth0: " + strings.Repeat(max+" ", 15) + max + "\n",
		"no newline": head + "    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"utf-8 name": head + " wlän0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"nel name":   head + "  x\u0085: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"em space":   head + "  x\u2003y: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"wide":       head + "averyveryverylongname: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
	} {
		got, ok := parseNetDev([]byte(b))
		if !ok {
			continue
		}
		want, err := procfsNetDev(t, []byte(b))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("net/dev %s: %+v\nprocfs %+v (%v)", name, got, want, err)
		}
	}
	for name, b := range map[string]string{
		"no newline": "0.29 1.05 12.50 2/593 1234",
		"big":        "123456789.99 0.00 0.00 1/1 1\n",
		"long frac":  "0.290000000000000000000000001 1.05 12.50 2/593 1234\n",
	} {
		got, ok := parseLoadavg([]byte(b))
		if !ok {
			continue
		}
		want, err := procfsOn(t, "loadavg", []byte(b)).LoadAvg()
		if err != nil || got != *want {
			t.Errorf("loadavg %s: %+v, procfs %+v (%v)", name, got, want, err)
		}
	}
}

// TestHostile45HeldChurnConcurrentLive: collections running at once on
// one collector (two at a time, from other threads, which see the test
// namespace's sysfs through /proc/<pid>/task/<tid>/root) while devices
// are made, renamed, deleted and made again under their names, with more
// attribute files than the bound. A collection during the churn may fail
// with ENODEV only (a device deleted between its listing and the read of
// one of its files, which fails node_exporter's scrape the same way). Once
// the churn stops and the collections have ended, a collection equals
// reading by path, the held files are those of listed devices only and
// within the bound, and the process's descriptors on the test's sysfs are
// exactly the held ones, each on its device's attribute. Run with -race.
// It needs CAP_SYS_ADMIN and CAP_NET_ADMIN, and bridges; without them, it
// is skipped.
func TestHostile45HeldChurnConcurrentLive(t *testing.T) {
	sys, rtnl := ownNetSysfs(t)
	kind := ifinfo(0, 0, 0, attrStr(unix.IFLA_INFO_KIND, "bridge"))[ifinfomsgLen:]
	add := func(name string) error {
		return rtnl(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL,
			ifinfo(0, 0, 0, attrStr(iflaIfname, name), attrRaw(unix.IFLA_LINKINFO, kind)))
	}
	if err := add("hc0"); err != nil {
		t.Skipf("cannot make a bridge: %v", err)
	}
	const devices = 16 // 16 * 22 files: over the bound
	for k := 1; k < devices; k++ {
		if err := add(fmt.Sprintf("hc%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	// This thread's sysfs as other threads see it.
	there := fmt.Sprintf("/proc/%d/task/%d/root%s", os.Getpid(), unix.Gettid(), sys)
	if _, err := os.Stat(filepath.Join(there, "class", "net", "hc0")); err != nil {
		t.Skipf("the namespace's sysfs cannot be seen from other threads: %v", err)
	}
	c := &netclassCollector{sys: there}
	collectText(t, c)

	stop := make(chan struct{})
	var started, done sync.WaitGroup
	end := sync.OnceFunc(func() { close(stop); done.Wait() })
	defer end() // on a failure during the churn
	var mu sync.Mutex
	var errs []error
	collections := 0
	for range 2 {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			for k := 0; ; k++ {
				if k == 1 {
					started.Done() // one collection made: the churn may start
				}
				select {
				case <-stop:
					return
				default:
				}
				var e emitter
				err := c.collect(&e)
				mu.Lock()
				collections++
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	started.Wait()
	index := func(name string) int32 {
		b, err := os.ReadFile(filepath.Join(sys, "class", "net", name, "ifindex"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return int32(n)
	}
	for round := range 30 {
		a, b := fmt.Sprintf("hc%d", round%devices), fmt.Sprintf("hc%d", (round+5)%devices)
		if err := rtnl(unix.RTM_DELLINK, 0, ifinfo(0, index(a), 0)); err != nil {
			t.Fatal(err)
		}
		if err := add(a); err != nil {
			t.Fatal(err)
		}
		p := ifinfo(0, index(b), 0, attrStr(iflaIfname, "hcx"))
		if err := rtnl(unix.RTM_NEWLINK, 0, p); err != nil {
			t.Fatal(err)
		}
		if err := add(b); err != nil {
			t.Fatal(err)
		}
		if err := rtnl(unix.RTM_DELLINK, 0, ifinfo(0, index("hcx"), 0)); err != nil {
			t.Fatal(err)
		}
		if err := rtnl(unix.RTM_NEWLINK, 0, ifinfo(0, index(a), 0, attrU32(iflaMTU, uint32(1000+round)))); err != nil {
			t.Fatal(err)
		}
	}
	end() // no collection runs from here on but the test's own
	t.Logf("%d collections during the churn, %d failed", collections, len(errs))
	for _, err := range errs {
		if !errors.Is(err, unix.ENODEV) {
			t.Errorf("a collection during the churn: %v", err)
		}
	}

	want := collectText(t, noHold(&netclassCollector{sys: there}))
	for k := range 2 {
		if got := collectText(t, c); got != want {
			t.Fatalf("after the churn, collection %d differs from reading by path:\n%s", k, lineDiff([]byte(want), []byte(got)))
		}
	}
	if c.held == nil {
		t.Fatal("nothing held on sysfs")
	}
	held, known := c.held.heldFDs(t)
	if len(held) == 0 || len(held) > maxHeldNetFiles {
		t.Errorf("%d descriptors held, bound %d", len(held), maxHeldNetFiles)
	}
	dir := filepath.Join(sys, "class", "net")
	ents, err := listNetDevices(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint64]string{}
	for _, e := range ents {
		names[e.ino] = e.name
	}
	for _, ino := range known {
		if _, ok := names[ino]; !ok {
			t.Errorf("inode %d is not listed any more and still known", ino)
		}
	}
	// Each held descriptor is open on the attribute of its device as
	// listed now, and the process has no other descriptor on this sysfs.
	root, err := filepath.EvalSymlinks(sys)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	open := filesOn(t, root, st.Dev)
	for fd, h := range held {
		name, ok := names[h.ino]
		if !ok {
			t.Errorf("descriptor %d: %s of inode %d, which is not listed any more", fd, netclassAttrs[h.attr], h.ino)
			continue
		}
		var want unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, name, netclassAttrs[h.attr]), &want); err != nil {
			t.Fatal(err)
		}
		if f, ok := open[fd]; !ok || f.ino != want.Ino {
			t.Errorf("descriptor %d held for %s of %s (inode %d) is %+v (open: %v)", fd, netclassAttrs[h.attr], name, want.Ino, f, ok)
		}
	}
	for fd, f := range open {
		if _, ok := held[fd]; !ok {
			t.Errorf("descriptor %d (%s) left open by the collections", fd, f.link)
		}
	}
	runtime.KeepAlive(c) // its cleanup closes the held files
}

// TestHostile45ProcStatOverProcfsReadLimit: procfs reads 1 MiB of
// <proc>/stat (parsers.ReadFileNoStat), then its lines with a
// bufio.Scanner of 1 MiB, which refuses a line of 1 MiB (it needs room
// for the newline, or to see the end of the file). What lies beyond the
// first MiB procfs never sees: a file of short lines whose ctxt comes
// after it has, for procfs, no context switches. The hand parser must
// report what procfs reports on both sides of both bounds.
func TestHostile45ProcStatOverProcfsReadLimit(t *testing.T) {
	tail := "ctxt 5\n"
	for _, size := range []int{1 << 20, 1<<20 + len(tail)} {
		b := []byte("cpu  1 2 3 4 5 6 7 8 9 10\n")
		for len(b)+len(tail)+len("x 1\n") <= size {
			b = append(b, "x 1\n"...)
		}
		if rem := size - len(tail) - len(b); rem > 0 { // a line of one field, which both skip
			b = append(b, strings.Repeat("x", rem-1)+"\n"...)
		}
		b = append(b, tail...)
		if len(b) != size {
			t.Fatalf("a file of %d bytes, want %d", len(b), size)
		}
		got, want, err, werr := statBoth(t, b)
		if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("a file of %d bytes ending in ctxt: %d context switches (%v); procfs %d (%v)",
				size, got.ContextSwitches, err, want.ContextSwitches, werr)
		}
	}

	// meminfo and sockstat, whose files procfs reads the same way: a
	// line wholly past the first MiB is not procfs'.
	fill := func(head, line, last, tail string) []byte {
		b := []byte(head)
		for len(b)+len(line)+100 < 1<<20 {
			b = append(b, line...)
		}
		b = append(b, "X"+strings.Repeat("x", 1<<20-len(b)-len(last)-1)+last...)
		if len(b) != 1<<20 {
			t.Fatalf("%d bytes before the tail", len(b))
		}
		return append(b, tail...)
	}
	mb := fill("MemTotal: 1 kB\n", "Junk: 1 kB\n", ": 1 kB\n", "MemFree: 7 kB\n")
	if v, ok := parseMeminfo(mb); ok {
		m, err := procfsOn(t, "meminfo", mb).Meminfo()
		if got, want := meminfoText(nil, v), meminfoText(&m, v); err != nil || got != want {
			t.Errorf("meminfo of %d bytes:\n%s\nprocfs (%v):\n%s", len(mb), got, err, want)
		}
	}
	sb := fill("sockets: used 1\n", "X: inuse 1\n", ": inuse 1\n", "TCP: inuse 9\n")
	if got := parseSockstat(sb); got != nil {
		want, err := procfsOn(t, "net/sockstat", sb).NetSockstat()
		if err != nil || len(got.Protocols) != len(want.Protocols) {
			t.Errorf("sockstat of %d bytes: %d protocols, the last %+v; procfs %d (%v)", len(sb), len(got.Protocols),
				got.Protocols[len(got.Protocols)-1], len(want.Protocols), err)
		}
	}
	// The intr line alone, of about 1 MiB.
	for _, length := range []int{1<<20 - 1, 1 << 20, 1<<20 + 1} {
		for _, end := range []string{"\n", ""} {
			line := []byte("intr 0")
			for len(line)+2 <= length {
				line = append(line, " 0"...)
			}
			if len(line) < length {
				line = append(line, '1')
			}
			if len(line) != length {
				t.Fatalf("a line of %d bytes, want %d", len(line), length)
			}
			b := append(line, end...)
			got, want, err, werr := statBoth(t, b)
			if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("an intr line of %d bytes (newline %q): %d interrupts (%v); procfs %d interrupts (%v)",
					length, end, len(got.IRQ), err, len(want.IRQ), werr)
			}
		}
	}
}

// statBoth reads b as <proc>/stat with the hand parser and with procfs.
func statBoth(t *testing.T, b []byte) (got, want procfs.Stat, err, werr error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stat"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, werr = fs.Stat()
	got, err = readProcStat(dir, fs)
	return got, want, err, werr
}
