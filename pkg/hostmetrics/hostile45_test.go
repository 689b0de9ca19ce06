//go:build linux

package hostmetrics

import (
	"os"
	"path/filepath"
	"strings"
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
