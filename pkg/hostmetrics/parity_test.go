package hostmetrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeDependent are the families whose values the scrapes themselves
// move (the scraper's own threads, sockets, file descriptors and memory),
// so that two readers never see the same value even when nothing else
// changed, and instantaneous gauges (I/Os in progress; a file system's
// free inodes and bytes, which any file created and deleted on the machine
// moves, as the other tests running beside this one do) that can read the
// same in both node_exporter scrapes and differ in between. Their names,
// labels and types are still compared.
var scrapeDependent = regexp.MustCompile(`^node_(procs_(running|blocked)|sockstat_.*|filefd_allocated|` +
	`netstat_Tcp_CurrEstab|udp_queues|memory_.*|scrape_collector_duration_seconds|time_seconds|` +
	`pressure_.*|nf_conntrack_entries|arp_entries|entropy_available_bits|timex_.*|load(1|5|15)|disk_io_now|` +
	`filesystem_(files_free|free_bytes|avail_bytes))$`)

// stableFamilies must be there with every series equal: totals and sizes
// that do not move while the machine runs, boot time, and with their
// series the CPUs, interfaces and mounts.
var stableFamilies = []string{
	"node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes", "node_boot_time_seconds",
	"node_filesystem_size_bytes", "node_filesystem_readonly", "node_filefd_maximum",
	"node_network_mtu_bytes", "node_network_up", "node_network_info",
	"node_uname_info", "node_os_info", "node_entropy_pool_size_bits", "node_time_clocksource_current_info",
	"node_scrape_collector_success",
}

// TestNodeExporterParity runs the real node_exporter (the binary named by
// FERRY_NODE_EXPORTER, built by hack/node-exporter.sh) on 127.0.0.1 with
// exactly the collectors ferry has, beside ferry's collector on the same
// /proc, /sys and /, and compares:
//   - every family node_exporter reports, ferry reports, with the same help
//     text, type and label names, and ferry reports no node_* family that
//     node_exporter does not;
//   - the series (label sets) of every family, where node_exporter's are
//     the same in two scrapes;
//   - every value that did not change between two node_exporter scrapes
//     taken around ferry's (a counter at rest, a total, a size, a
//     count), but for the families the scrapes themselves move;
//   - the stable families, which must be there and equal.
func TestNodeExporterParity(t *testing.T) {
	bin := os.Getenv("FERRY_NODE_EXPORTER")
	if bin == "" {
		t.Skip("FERRY_NODE_EXPORTER is not set: run FERRY_NODE_EXPORTER=$(hack/node-exporter.sh) go test -run TestNodeExporterParity ./pkg/hostmetrics/")
	}
	cfg := DefaultConfig()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, testLogger(t), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--web.listen-address=127.0.0.1:0", "--web.disable-exporter-metrics",
		"--collector.disable-defaults", "--path.procfs=" + cfg.Proc, "--path.sysfs=" + cfg.Sys,
		"--path.rootfs=" + cfg.RootFS}
	for _, p := range c.parts {
		args = append(args, "--collector."+p.name)
	}
	url := startNodeExporter(t, bin, args)

	// A first collection lets netclass compare its link dump with sysfs,
	// so that the compared one takes its values from the dump.
	gatherFamilies(t, reg)
	ne1 := scrapeURL(t, url)
	ferry := gatherFamilies(t, reg)
	ne2 := scrapeURL(t, url)
	for _, p := range c.parts {
		if n, ok := p.src.(*netclassCollector); ok && runtime.GOOS == "linux" && !n.nl.verified.Load() {
			t.Error("netclass did not take the link dump (is this test's network namespace not /sys's?): only sysfs was compared")
		}
	}

	// node_exporter's own version is not a host metric.
	for _, m := range []map[string]*dto.MetricFamily{ne1, ne2} {
		delete(m, "node_exporter_build_info")
	}

	// Names, help, types, label names.
	for name, nf := range ne1 {
		ff, ok := ferry[name]
		if !ok {
			t.Errorf("missing family %s (%s)", name, nf.GetHelp())
			continue
		}
		if ff.GetHelp() != nf.GetHelp() {
			t.Errorf("%s: help %q, node_exporter's is %q", name, ff.GetHelp(), nf.GetHelp())
		}
		if ff.GetType() != nf.GetType() {
			t.Errorf("%s: type %s, node_exporter's is %s", name, ff.GetType(), nf.GetType())
		}
		if got, want := labelNames(ff), labelNames(nf); !slices.Equal(got, want) {
			t.Errorf("%s: label names %v, node_exporter's are %v", name, got, want)
		}
	}
	for name := range ferry {
		if _, ok := ne1[name]; !ok && strings.HasPrefix(name, "node_") {
			t.Errorf("family %s is not node_exporter's", name)
		}
	}

	// Series and stable values.
	compared := 0
	comparedIn := map[string]int{}
	for name, nf := range ne1 {
		ff, ok := ferry[name]
		if !ok {
			continue
		}
		want1, want2, got := seriesValues(nf), seriesValues(ne2[name]), seriesValues(ff)
		if sameKeys(want1, want2) && !sameKeys(want1, got) {
			t.Errorf("%s: series differ:\n  node_exporter: %v\n  ferry:         %v", name, keys(want1), keys(got))
			continue
		}
		if scrapeDependent.MatchString(name) && !slices.Contains(stableFamilies, name) {
			continue
		}
		for k, w := range want1 {
			if w2, ok := want2[k]; !ok || !sameFloat(w, w2) {
				continue // it moved between the node_exporter scrapes
			}
			g, ok := got[k]
			if !ok {
				continue
			}
			compared++
			comparedIn[name]++
			if !sameFloat(g, w) {
				t.Errorf("%s{%s} = %v, node_exporter says %v", name, k, g, w)
			}
		}
	}
	// Counts: CPUs, disks, interfaces, mounts, clock sources.
	for _, name := range []string{"node_cpu_seconds_total", "node_disk_info", "node_network_up",
		"node_network_receive_bytes_total", "node_filesystem_size_bytes", "node_time_clocksource_available_info"} {
		got, want := len(ferry[name].GetMetric()), len(ne1[name].GetMetric())
		if mustHave := name == "node_cpu_seconds_total" || name == "node_network_up"; got != want || mustHave && want == 0 {
			t.Errorf("%s: %d series, node_exporter has %d", name, got, want)
		}
	}
	for _, name := range stableFamilies {
		if n, want := comparedIn[name], len(ne1[name].GetMetric()); n == 0 || n != want {
			t.Errorf("stable family %s: %d of node_exporter's %d series compared", name, n, want)
		}
	}
	t.Logf("%d families from node_exporter, %d from ferry; %d values at rest compared", len(ne1), len(ferry), compared)
	if compared < 100 {
		t.Errorf("only %d values compared", compared)
	}
}

// startNodeExporter starts bin with args, waits (at most 30 s) for its
// "Listening on" line, and returns its /metrics URL. It is killed at the
// end of the test.
func startNodeExporter(t *testing.T, bin string, args []string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("node_exporter: " + sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return "http://" + a + "/metrics"
	case <-time.After(30 * time.Second):
		t.Fatal("node_exporter did not say it listens within 30 s")
		return ""
	}
}

func scrapeURL(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func gatherFamilies(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelNames(mf *dto.MetricFamily) []string {
	var names []string
	if ms := mf.GetMetric(); len(ms) > 0 {
		for _, lp := range ms[0].GetLabel() {
			names = append(names, lp.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// seriesValues maps each series of a family (its sorted label pairs) to its
// value.
func seriesValues(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
		slices.Sort(ls)
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

func sameKeys(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sameFloat(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}
