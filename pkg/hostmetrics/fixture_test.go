package hostmetrics

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFixtureGolden collects the fixture trees (real files of a Linux 6.18
// VM, edited for 15 CPUs with one offline, an NVMe disk with udev data, an
// old-kernel disk line, a unicode interface name, mount points with
// escapes, unicode, read-only flags and a permission error) and compares
// the exposition with the golden file, then with testutil.CollectAndCompare.
func TestFixtureGolden(t *testing.T) {
	cfg := fixtureConfig(t)
	c := newFixture(t, cfg, nil, Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	got := gatherText(t, reg, "node_scrape_collector_duration_seconds")
	golden(t, "fixture.prom", got)

	want, err := os.ReadFile(filepath.Join("testdata", "golden", "fixture.prom"))
	if err != nil {
		t.Fatal(err)
	}
	names := familyNames(t, bytes.NewReader(want))
	if slices.Contains(names, "node_scrape_collector_duration_seconds") {
		t.Fatal("golden file holds scrape durations, which vary")
	}
	if err := testutil.CollectAndCompare(c, bytes.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// TestFixtureValues checks the hand-edited edge cases one by one, so a
// golden file refreshed carelessly cannot hide a regression in them.
func TestFixtureValues(t *testing.T) {
	cfg := fixtureConfig(t)
	c := newFixture(t, cfg, nil, Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
		absent bool
	}{
		{"cpu seconds are USER_HZ/100", "node_cpu_seconds_total", []string{"cpu", "0", "mode", "user"}, 394.87, false},
		{"cpu 15 is there", "node_cpu_seconds_total", []string{"cpu", "15", "mode", "idle"}, (27917*1 + 15) / 100.0, false},
		{"offline cpu 7 is absent", "node_cpu_seconds_total", []string{"cpu", "7", "mode", "idle"}, 0, true},
		{"guest time", "node_cpu_guest_seconds_total", []string{"cpu", "3", "mode", "user"}, 12.34, false},
		{"partition excluded", "node_disk_reads_completed_total", []string{"device", "nvme0n1p1"}, 0, true},
		{"loop excluded", "node_disk_reads_completed_total", []string{"device", "loop0"}, 0, true},
		{"zram excluded", "node_disk_reads_completed_total", []string{"device", "zram0"}, 0, true},
		{"read bytes in 512-byte sectors", "node_disk_read_bytes_total", []string{"device", "vda"}, 2464618 * 512, false},
		{"io time in seconds", "node_disk_io_time_seconds_total", []string{"device", "nvme0n1"}, 53.976, false},
		{"flush on a 20-field kernel", "node_disk_flush_requests_total", []string{"device", "nvme0n1"}, 609, false},
		{"old 14-field kernel has no discards", "node_disk_discards_completed_total", []string{"device", "sda"}, 0, true},
		{"old kernel still has io_now", "node_disk_io_now", []string{"device", "sda"}, 0, false},
		{"udev model and serial", "node_disk_info", []string{"device", "nvme0n1", "model", "ACME SSD 970", "serial", "S3X9NX0M", "rotational", "0"}, 1, false},
		{"rotational from sysfs", "node_disk_info", []string{"device", "vda", "rotational", "1", "major", "254"}, 1, false},
		{"dm filesystem info from udev", "node_disk_filesystem_info", []string{"device", "dm-0", "type", "xfs", "uuid", "9d1c-77"}, 1, false},
		{"dm info from udev", "node_disk_device_mapper_info", []string{"device", "dm-0", "name", "vg-data", "vg_name", "vg", "lv_name", "data", "lv_layer", ""}, 1, false},
		{"ata rotation rate", "node_disk_ata_rotation_rate_rpm", []string{"device", "sda"}, 7200, false},
		{"ata write cache enabled", "node_disk_ata_write_cache_enabled", []string{"device", "sda"}, 0, false},
		{"serial prefers SCSI_IDENT_SERIAL", "node_disk_info", []string{"device", "sda", "serial", "Z1X2"}, 1, false},
		{"no ata metrics without ID_ATA", "node_disk_ata_rotation_rate_rpm", []string{"device", "nvme0n1"}, 0, true},
		{"core throttles", "node_cpu_core_throttles_total", []string{"package", "1", "core", "1"}, 33, false},
		{"package throttles from the first cpu of the package", "node_cpu_package_throttles_total", []string{"package", "1"}, 107, false},
		{"conntrack entries once, not summed", "node_nf_conntrack_entries", nil, 42, false},
		{"conntrack stats summed over CPUs", "node_nf_conntrack_stat_found", nil, 0x30, false},
		{"conntrack search restart on a 17-column kernel", "node_nf_conntrack_stat_search_restart", nil, 8, false},
		{"conntrack limit", "node_nf_conntrack_entries_limit", nil, 262144, false},
		{"unicode interface", "node_network_receive_bytes_total", []string{"device", "wlän0"}, 98765432, false},
		{"legacy name for carrier", "node_network_transmit_carrier_total", []string{"device", "docker0"}, 6, false},
		{"escaped space in mount point", "node_filesystem_size_bytes", []string{"mountpoint", "/mnt/my disk", "device", "/dev/sdb1"}, float64(len("/mnt/my disk")+1) * 1000 * 4096, false},
		{"escaped backslash and space in device", "node_filesystem_readonly", []string{"mountpoint", `/media/usb\stick`, "device", "My Stick"}, 0, false},
		{"unicode mount point read-only by mount option", "node_filesystem_readonly", []string{"mountpoint", "/srv/données"}, 1, false},
		{"read-only by superblock option", "node_filesystem_readonly", []string{"mountpoint", "/data"}, 1, false},
		{"permission denied is a device error", "node_filesystem_device_error", []string{"mountpoint", "/mnt/denied", "device_error", "permission denied"}, 1, false},
		{"no size for a failed statfs", "node_filesystem_size_bytes", []string{"mountpoint", "/mnt/denied"}, 0, true},
		{"overlay excluded", "node_filesystem_size_bytes", []string{"fstype", "overlay"}, 0, true},
		{"cgroup excluded", "node_filesystem_size_bytes", []string{"fstype", "cgroup"}, 0, true},
		{"/proc excluded", "node_filesystem_size_bytes", []string{"mountpoint", "/proc"}, 0, true},
		{"kubelet tmpfs kept", "node_filesystem_avail_bytes", []string{"fstype", "tmpfs", "mountpoint", "/var/lib/kubelet/pods/0c6f/volumes/kubernetes.io~projected/kube-api-access"}, float64(len("/var/lib/kubelet/pods/0c6f/volumes/kubernetes.io~projected/kube-api-access")+1) * 300 * 4096, false},
		{"mount info major minor", "node_filesystem_mount_info", []string{"mountpoint", "/data", "major", "259", "minor", "1"}, 1, false},
		{"psi cpu some total in seconds", "node_pressure_cpu_waiting_seconds_total", nil, 408.11839, false},
		{"psi irq absent on this kernel", "node_pressure_irq_stalled_seconds_total", nil, 0, true},
		{"boot time", "node_boot_time_seconds", nil, 1795672106, false},
		{"procs running", "node_procs_running", nil, 9, false},
		{"filefd maximum", "node_filefd_maximum", nil, mustFileNRMax(t), false},
		{"uname", "node_uname_info", []string{"nodename", "node-1", "sysname", "Linux", "machine", "x86_64"}, 1, false},
		{"sockstat TCP mem in bytes", "node_sockstat_TCP_mem_bytes", nil, 108 * 4096, false},
		{"sockstat v6", "node_sockstat_TCP6_inuse", nil, 0, false},
		{"vmstat field", "node_vmstat_oom_kill", nil, mustVMStat(t, "oom_kill"), false},
		{"vmstat field outside the default filter", "node_vmstat_nr_free_pages", nil, 0, true},
		{"meminfo", "node_memory_MemTotal_bytes", nil, mustMemTotal(t), false},
		{"network up when operstate is up", "node_network_up", []string{"device", "eth0"}, 1, false},
		{"loopback's operstate unknown is not up", "node_network_up", []string{"device", "lo"}, 0, false},
		{"carrier down on a bridge without ports", "node_network_carrier", []string{"device", "docker0"}, 0, false},
		{"speed in bytes per second", "node_network_speed_bytes", []string{"device", "eth0"}, 10000 * 1e6 / 8, false},
		{"unknown speed -1 reported as node_exporter 1.x does", "node_network_speed_bytes", []string{"device", "docker0"}, -125000, false},
		{"no speed file, no speed", "node_network_speed_bytes", []string{"device", "lo"}, 0, true},
		{"mtu", "node_network_mtu_bytes", []string{"device", "eth0"}, 9001, false},
		{"info labels", "node_network_info", []string{"device", "eth0", "adminstate", "up", "operstate", "up", "duplex", "full", "ifalias", "uplink"}, 1, false},
		{"admin down from flags", "node_network_info", []string{"device", "docker0", "adminstate", "down"}, 1, false},
		{"rx_nohandler from sysfs", "node_network_receive_nohandler_total", []string{"device", "eth0"}, 17, false},
		{"no rx_nohandler for a device sysfs lacks", "node_network_receive_nohandler_total", []string{"device", "ifb0"}, 0, true},
		{"netstat listen drops", "node_netstat_TcpExt_ListenDrops", nil, 11, false},
		{"netstat tcp retransmits", "node_netstat_Tcp_RetransSegs", nil, 1, false},
		{"netstat snmp6 field", "node_netstat_Ip6_InOctets", nil, mustSNMP6(t, "Ip6_InOctets"), false},
		{"netstat field outside the default filter", "node_netstat_TcpExt_EmbryonicRsts", nil, 0, true},
		{"softnet dropped", "node_softnet_dropped_total", []string{"cpu", "1"}, 7, false},
		{"softnet squeezed", "node_softnet_times_squeezed_total", []string{"cpu", "0"}, 4, false},
		{"softnet cpu from the kernel's index column", "node_softnet_processed_total", []string{"cpu", "3"}, 0x35, false},
		{"schedstat running in seconds", "node_schedstat_running_seconds_total", []string{"cpu", "1"}, 2.507573862, false},
		{"schedstat waiting in seconds", "node_schedstat_waiting_seconds_total", []string{"cpu", "0"}, 1.356432611, false},
		{"entropy", "node_entropy_available_bits", nil, 256, false},
		{"time", "node_time_seconds", nil, float64(fixtureNow().UnixNano()) / 1e9, false},
		{"time zone", "node_time_zone_offset_seconds", []string{"time_zone", "CET"}, 3600, false},
		{"current clocksource", "node_time_clocksource_current_info", []string{"device", "0", "clocksource", "kvm-clock"}, 1, false},
		{"timex synced", "node_timex_sync_status", nil, 1, false},
		{"timex offset in nanoseconds with STA_NANO", "node_timex_offset_seconds", nil, -125e-6, false},
		{"timex maxerror in microseconds", "node_timex_maxerror_seconds", nil, 0.004, false},
		{"timex frequency ratio", "node_timex_frequency_adjustment_ratio", nil, 1 - 20.0/1e6, false},
		{"cpufreq in hertz", "node_cpu_scaling_frequency_hertz", []string{"cpu", "1"}, 1.9e9, false},
		{"governor in use", "node_cpu_scaling_governor", []string{"cpu", "0", "governor", "powersave"}, 1, false},
		{"governor not in use", "node_cpu_scaling_governor", []string{"cpu", "0", "governor", "performance"}, 0, false},
		{"thermal zone in celsius", "node_thermal_zone_temp", []string{"zone", "0", "type", "x86_pkg_temp"}, 52.5, false},
		{"cooling device", "node_cooling_device_cur_state", []string{"name", "0", "type", "Processor"}, 1, false},
		{"os info, quotes undone", "node_os_info", []string{"id", "ubuntu", "id_like", "debian", "variant", `Kubernetes "node" image`, "version_id", "24.04"}, 1, false},
		{"os version", "node_os_version", []string{"id", "ubuntu"}, 24.04, false},
		{"os support end", "node_os_support_end_timestamp_seconds", nil, 1874880000, false},
		{"arp entries per device", "node_arp_entries", []string{"device", "eth0"}, 2, false},
		{"udp queues summed", "node_udp_queues", []string{"queue", "rx", "ip", "v4"}, 0xa00, false},
		{"filesystem purgeable is 0 on Linux", "node_filesystem_purgeable_bytes", []string{"mountpoint", "/"}, 0, false},
		{"no purgeable for a failed statfs", "node_filesystem_purgeable_bytes", []string{"mountpoint", "/mnt/denied"}, 0, true},
		{"hung tasks", "node_kernel_hung_tasks_total", nil, 3, false},
		{"selinux enabled", "node_selinux_enabled", nil, 1, false},
		{"selinux configured permissive", "node_selinux_config_mode", nil, 0, false},
		{"selinux enforcing now", "node_selinux_current_mode", nil, 1, false},
		{"every collector succeeded but pressure irq", "node_scrape_collector_success", []string{"collector", "pressure"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := value(mfs, tt.metric, tt.labels...)
			if tt.absent {
				if ok {
					t.Fatalf("%s%v = %v, want absent", tt.metric, tt.labels, got)
				}
				return
			}
			if !ok {
				t.Fatalf("%s%v absent", tt.metric, tt.labels)
			}
			if math.Abs(got-tt.want) > 1e-9*math.Max(1, math.Abs(tt.want)) {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	for _, mf := range mfs {
		if mf.GetName() != "node_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("collector %v failed on the fixture", m.GetLabel())
			}
		}
	}
}

func mustFileNRMax(t *testing.T) float64 {
	b, err := os.ReadFile("testdata/proc/sys/fs/file-nr")
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := parseFileNR(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustVMStat(t *testing.T, key string) float64 {
	b, err := os.ReadFile("testdata/proc/vmstat")
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := parseVMStat(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.key == key {
			return kv.val
		}
	}
	t.Fatalf("no %s in fixture vmstat", key)
	return 0
}

func mustSNMP6(t *testing.T, key string) float64 {
	b, err := os.ReadFile("testdata/proc/1/net/snmp6")
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := parseSNMP6(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.key == key {
			return kv.val
		}
	}
	t.Fatalf("no %s in fixture snmp6", key)
	return 0
}

func mustMemTotal(t *testing.T) float64 {
	b, err := os.ReadFile("testdata/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		var kb float64
		if n, _ := fmtSscanf(line, "MemTotal: %f kB", &kb); n == 1 {
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in fixture meminfo")
	return 0
}

// TestBothOutletsAgree checks that a snapshot and a scrape of the same
// (unchanging) fixture carry the same families, label sets, values and
// types.
func TestBothOutletsAgree(t *testing.T) {
	cfg := fixtureConfig(t)
	c := newFixture(t, cfg, nil, Options{Node: "node-1"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot()
	if snap.Node != "node-1" || snap.Time.IsZero() {
		t.Fatalf("snapshot node %q time %v", snap.Node, snap.Time)
	}
	type row struct {
		Name, Labels, Type string
		Value              float64
	}
	var fromProm, fromSnap []row
	for _, mf := range mfs {
		if mf.GetName() == "node_scrape_collector_duration_seconds" {
			continue
		}
		typ := "gauge"
		if mf.GetType().String() == "COUNTER" {
			typ = "counter"
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			slices.Sort(ls)
			v, _ := value([]*dtoMetricFamily{mf}, mf.GetName(), labelPairs(m)...)
			fromProm = append(fromProm, row{mf.GetName(), strings.Join(ls, ","), typ, v})
		}
	}
	for _, m := range snap.Metrics {
		if m.Name == "node_scrape_collector_duration_seconds" {
			continue
		}
		var ls []string
		for _, l := range m.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		slices.Sort(ls)
		fromSnap = append(fromSnap, row{m.Name, strings.Join(ls, ","), m.Type.String(), m.Value})
	}
	less := func(a, b row) int { return strings.Compare(a.Name+"|"+a.Labels, b.Name+"|"+b.Labels) }
	slices.SortFunc(fromProm, less)
	slices.SortFunc(fromSnap, less)
	if len(fromSnap) < 300 {
		t.Fatalf("only %d metrics in the snapshot", len(fromSnap))
	}
	if diff := cmp.Diff(fromProm, fromSnap); diff != "" {
		t.Errorf("scrape and snapshot differ (-scrape +snapshot):\n%s", diff)
	}
}

// TestAbsentPSI: a kernel without /proc/pressure has no data for the
// pressure collector only: success 0, and no warning however often it runs.
func TestAbsentPSI(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.Proc = copyTree(t, cfg.Proc)
	if err := os.RemoveAll(filepath.Join(cfg.Proc, "pressure")); err != nil {
		t.Fatal(err)
	}
	h := &recordHandler{}
	c, err := newCollector(cfg, slog.New(h), Options{}, fixtureHooks(fakeStatfs(cfg.RootFS)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	for range 3 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"cpu", "meminfo", "filesystem", "netdev", "diskstats", "vmstat"} {
			if v, _ := value(mfs, "node_scrape_collector_success", "collector", col); v != 1 {
				t.Errorf("collector %s: success %v, want 1", col, v)
			}
		}
		if v, ok := value(mfs, "node_scrape_collector_success", "collector", "pressure"); !ok || v != 0 {
			t.Errorf("pressure success = %v (present %v), want 0", v, ok)
		}
		if _, ok := value(mfs, "node_pressure_cpu_waiting_seconds_total"); ok {
			t.Error("pressure metrics reported without /proc/pressure")
		}
	}
	// A kernel without PSI is not a fault to warn about (node_exporter
	// logs it at debug level too): no warning, one debug line per run.
	if n := h.count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings over 3 collections, want none", n)
	}
	if n := h.count(slog.LevelDebug); n != 3 {
		t.Errorf("%d debug lines over 3 collections, want 3", n)
	}
}

// TestMissingRoots: roots that do not exist fail every collector but the
// clock's (time and timex read the clock; time lists clock sources, of
// which there are then none, as in node_exporter), never the agent; New
// still succeeds (the mounts may come later).
func TestMissingRoots(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Proc, cfg.Sys, cfg.RootFS = "/nonexistent/proc", "/nonexistent/sys", "/nonexistent/root"
	c, err := New(cfg, testLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "node_scrape_collector_success":
			for _, m := range mf.GetMetric() {
				n++
				if col := m.GetLabel()[0].GetValue(); col == "timex" || col == "time" {
					continue
				}
				if m.GetGauge().GetValue() != 0 {
					t.Errorf("%v succeeded without a /proc", m.GetLabel())
				}
			}
		case "node_scrape_collector_duration_seconds":
		default:
			switch name := mf.GetName(); {
			case strings.HasPrefix(name, "node_timex_"), name == "node_time_seconds", name == "node_time_zone_offset_seconds":
				continue
			}
			t.Errorf("family %s reported without a /proc", mf.GetName())
		}
	}
	if n != 28 {
		t.Errorf("%d collectors reported, want 28", n)
	}
}

// TestCollectorsOff: a collector turned off is neither run nor reported.
func TestCollectorsOff(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.Collectors = Collectors{Loadavg: true}
	c := newFixture(t, cfg, nil, Options{})
	var names []string
	for _, m := range c.Snapshot().Metrics {
		names = append(names, m.Name)
	}
	want := []string{"node_load1", "node_load5", "node_load15",
		"node_scrape_collector_duration_seconds", "node_scrape_collector_success"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	cfg.Enabled = false
	c = newFixture(t, cfg, nil, Options{})
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("disabled collector reported %d metrics", n)
	}
}

// TestAbsentSourcesAreNoData: a kernel without schedstat, without
// conntrack loaded and without net/udp has no data for those collectors:
// success 0, and no warning however often they run.
func TestAbsentSourcesAreNoData(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.Proc = copyTree(t, cfg.Proc)
	for _, p := range []string{"schedstat", "1/net/stat/nf_conntrack", "1/net/udp", "1/net/udp6"} {
		if err := os.RemoveAll(filepath.Join(cfg.Proc, p)); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Collectors = Collectors{Schedstat: true, Conntrack: true, UDPQueues: true}
	h := &recordHandler{}
	reg := prometheus.NewPedanticRegistry()
	if _, err := newCollector(cfg, slog.New(h), Options{Registerer: reg}, fixtureHooks(fakeStatfs(cfg.RootFS))); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"schedstat", "conntrack", "udp_queues"} {
			if v, ok := value(mfs, "node_scrape_collector_success", "collector", col); !ok || v != 0 {
				t.Errorf("%s success = %v (present %v), want 0", col, v, ok)
			}
		}
	}
	if n := h.count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings, want none (no data)", n)
	}
}
