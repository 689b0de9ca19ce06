package hostmetrics

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

func FuzzParseVMStat(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc/vmstat"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("pgfault 1\noom_kill 2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kvs, err := parseVMStat(b)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if !validMetricName(kv.key) {
				t.Errorf("field %q cannot be part of a metric name", kv.key)
			}
		}
	})
}

func FuzzParseFileNR(f *testing.F) {
	f.Add([]byte("1024\t0\t9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, m, err := parseFileNR(b)
		if err == nil && len(bytes.Fields(b)) != 3 {
			t.Errorf("accepted %q as %v, %v", b, a, m)
		}
	})
}

func FuzzParseUdev(f *testing.F) {
	if b, err := os.ReadFile("testdata/rootfs/run/udev/data/b259:0"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range parseUdev(b) {
			if strings.ContainsAny(k, "\n=") {
				t.Errorf("key %q", k)
			}
		}
	})
}

func FuzzParseNetstat(f *testing.F) {
	for _, name := range []string{"netstat", "snmp"} {
		if b, err := os.ReadFile("testdata/proc/1/net/" + name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Tcp: A B\nTcp: 1 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kvs, err := parseNetstat(b)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if !validMetricName(kv.key) || !strings.Contains(kv.key, "_") {
				t.Errorf("field %q cannot be a netstat metric name", kv.key)
			}
		}
	})
}

func FuzzParseSNMP6(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc/1/net/snmp6"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kvs, err := parseSNMP6(b)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if !validMetricName(kv.key) || !strings.Contains(kv.key, "6_") {
				t.Errorf("field %q cannot be a netstat metric name", kv.key)
			}
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	if b, err := os.ReadFile("testdata/rootfs/etc/os-release"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`A="x\"y" B='z' C=un\ quoted D="open`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, v := range parseOSRelease(b) {
			if !validMetricName(k) {
				t.Errorf("key %q", k)
			}
			if len(v) > len(b) {
				t.Errorf("value %q of %q longer than the file", v, k)
			}
		}
		// Whatever the file, reporting it never fails the scrape.
		e := emitter{dyn: &descCache{}}
		_ = emitOS(&e, parseOSRelease(b))
	})
}

func FuzzUnescapeMount(f *testing.F) {
	f.Add(`/mnt/my\040disk\134x`)
	f.Fuzz(func(t *testing.T, s string) {
		u := unescapeMount(s)
		if len(u) > len(s) {
			t.Errorf("unescaped %q grew to %q", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Errorf("%q changed to %q without escapes", s, u)
		}
	})
}

// fuzzFiles are the fixture files FuzzCollectFile replaces, one at a time.
var fuzzFiles = []string{
	"stat", "meminfo", "loadavg", "diskstats", "1/net/dev", "1/mountinfo",
	"pressure/cpu", "pressure/io", "vmstat", "sys/fs/file-nr", "1/net/sockstat",
	"1/net/sockstat6", "sys/kernel/hostname", "1/net/stat/nf_conntrack",
	"1/net/netstat", "1/net/snmp", "1/net/snmp6", "net/softnet_stat", "schedstat", "1/net/arp",
	"1/net/udp", "sys/kernel/random/entropy_avail",
}

// FuzzCollectFile puts arbitrary bytes in one file of a copy of the
// fixture tree and collects: whatever the file holds, the scrape must still
// succeed as a whole (no duplicate series, no invalid label values, no
// crash), with the odd file costing at most its own collector.
func FuzzCollectFile(f *testing.F) {
	for i, name := range fuzzFiles {
		b, err := os.ReadFile(filepath.Join("testdata/proc", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(4), []byte("Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"))
	f.Add(uint8(3), []byte(" 8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n 8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"))
	f.Add(uint8(5), []byte("1 0 8:1 / /x\xff rw - ext4 /dev/\xfe rw\n"))

	cfg := fixtureConfig(f)
	cfg.Proc = copyTree(f, cfg.Proc)
	originals := make([][]byte, len(fuzzFiles))
	for i, name := range fuzzFiles {
		originals[i], _ = os.ReadFile(filepath.Join(cfg.Proc, name))
	}
	c, err := newCollector(cfg, slog.New(slog.DiscardHandler), Options{}, fixtureHooks(fakeStatfs(cfg.RootFS)))
	if err != nil {
		f.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		i := int(which) % len(fuzzFiles)
		path := filepath.Join(cfg.Proc, fuzzFiles[i])
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path, originals[i], 0o644)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("scrape failed with %s = %q: %v", fuzzFiles[i], data, err)
		}
		if len(mfs) == 0 {
			t.Fatal("nothing gathered")
		}
		// One odd file costs at most the collectors that read it.
		if v, _ := value(mfs, "node_scrape_collector_success", "collector", "uname"); v != 1 && fuzzFiles[i] != "sys/kernel/hostname" {
			t.Errorf("uname failed because of %s", fuzzFiles[i])
		}
	})
}

// FuzzAppendFields holds the allocation-free splitter of the netstat,
// snmp6 and vmstat walks to bytes.Fields.
func FuzzAppendFields(f *testing.F) {
	f.Add([]byte("Tcp: RtoAlgorithm RtoMin\t 1\v2\f3\r\n"))
	f.Add([]byte("a\u00a0b\u0085c d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := appendFields(nil, b), bytes.Fields(b)
		if len(got) != len(want) {
			t.Fatalf("%q: %q, bytes.Fields: %q", b, got, want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: %q, bytes.Fields: %q", b, got, want)
			}
		}
	})
}

// FuzzPSIMatchesProcfs: whatever parsePSI accepts, procfs reads with the
// same values and no error (parsePSI leaves everything else to procfs).
func FuzzPSIMatchesProcfs(f *testing.F) {
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=408118390\nfull avg10=1.50 avg60=0.25 avg300=0.00 total=3\n"))
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=1"))
	f.Add([]byte("full avg10=1e3 avg60=0.00 avg300=0.00 total=1\n"))
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parsePSI(b)
		if !ok {
			return
		}
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "pressure"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pressure", "cpu"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		pfs, err := procfs.NewFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		want, err := pfs.PSIStatsForResource("cpu")
		if err != nil {
			t.Fatalf("%q: parsed as %+v, procfs: %v", b, got, err)
		}
		line := func(l *procfs.PSILine) string {
			if l == nil {
				return "none"
			}
			return fmt.Sprint(*l)
		}
		if line(got.Some) != line(want.Some) || line(got.Full) != line(want.Full) {
			t.Errorf("%q: some %s full %s, procfs: some %s full %s", b,
				line(got.Some), line(got.Full), line(want.Some), line(want.Full))
		}
	})
}
