package hostmetrics

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// hwmonOnly is the fixture's config with only the hwmon collector on.
func hwmonOnly(t *testing.T) Config {
	cfg := fixtureConfig(t)
	cfg.Collectors = Collectors{Hwmon: true}
	return cfg
}

// TestHwmonFixtureMatchesNodeExporter runs the real node_exporter's hwmon
// collector on the fixture's /sys (FERRY_NODE_EXPORTER, as
// TestNodeExporterParity) and compares every node_hwmon_* family with
// ferry's on the same tree: names, help texts, types, label sets and
// values. The fixture has the chips a server has (coretemp, an nct6775
// super-I/O chip with every sensor type, ACPI's thermal zone without a
// device) and two hwmon nodes of one device, which node_exporter names
// apart.
func TestHwmonFixtureMatchesNodeExporter(t *testing.T) {
	bin := os.Getenv("FERRY_NODE_EXPORTER")
	if bin == "" {
		t.Skip("FERRY_NODE_EXPORTER is not set: run FERRY_NODE_EXPORTER=$(hack/node-exporter.sh) go test -run Hwmon ./pkg/hostmetrics/")
	}
	cfg := hwmonOnly(t)
	reg := prometheus.NewPedanticRegistry()
	newFixture(t, cfg, nil, Options{Registerer: reg})
	url := startNodeExporter(t, bin, []string{"--web.listen-address=127.0.0.1:0", "--web.disable-exporter-metrics",
		"--collector.disable-defaults", "--collector.hwmon", "--path.sysfs=" + cfg.Sys})
	ne := scrapeURL(t, url)
	ferry := gatherFamilies(t, reg)
	n := 0
	for name, nf := range ne {
		if !strings.HasPrefix(name, "node_hwmon_") {
			continue
		}
		ff, ok := ferry[name]
		if !ok {
			t.Errorf("missing family %s (%s)", name, nf.GetHelp())
			continue
		}
		if ff.GetHelp() != nf.GetHelp() || ff.GetType() != nf.GetType() {
			t.Errorf("%s: help %q type %s, node_exporter's %q %s", name, ff.GetHelp(), ff.GetType(), nf.GetHelp(), nf.GetType())
		}
		want, got := seriesValues(nf), seriesValues(ff)
		if !sameKeys(want, got) {
			t.Errorf("%s: series differ:\n  node_exporter: %v\n  ferry:         %v", name, keys(want), keys(got))
			continue
		}
		for k, w := range want {
			n++
			if !sameFloat(got[k], w) {
				t.Errorf("%s{%s} = %v, node_exporter says %v", name, k, got[k], w)
			}
		}
	}
	for name := range ferry {
		if _, ok := ne[name]; !ok && strings.HasPrefix(name, "node_hwmon_") {
			t.Errorf("family %s is not node_exporter's", name)
		}
	}
	if n < 40 {
		t.Errorf("only %d hwmon values compared", n)
	}
	t.Logf("%d hwmon values compared", n)
}

// TestHwmonNames: the chip names node_exporter gives (bus type and device,
// else the name file, two nodes of one device told apart by their name
// file), and a machine without hwmon has no data rather than a failure.
func TestHwmonNames(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	newFixture(t, hwmonOnly(t), nil, Options{Registerer: reg})
	fams := gatherFamilies(t, reg)
	var chips []string
	for _, m := range fams["node_hwmon_chip_names"].GetMetric() {
		chips = append(chips, m.GetLabel()[0].GetValue()+"="+m.GetLabel()[1].GetValue())
	}
	slices.Sort(chips)
	want := []string{"acpitz=acpitz", "platform_asus_nb_wmi_asus=asus", "platform_asus_nb_wmi_asus_fan=asus_fan",
		"platform_coretemp_0=coretemp", "platform_nct6775_656=nct6775"}
	if !slices.Equal(chips, want) {
		t.Errorf("chips %v, want %v", chips, want)
	}
	mfs, _ := reg.Gather()
	if v, ok := value(mfs, "node_hwmon_temp_celsius", "chip", "platform_coretemp_0", "sensor", "temp1"); !ok || v != 52 {
		t.Errorf("coretemp temp1 = %v (%v), want 52", v, ok)
	}
	if v, ok := value(mfs, "node_hwmon_fan_rpm", "chip", "platform_nct6775_656", "sensor", "fan1"); !ok || v != 1200 {
		t.Errorf("fan1 = %v (%v), want 1200", v, ok)
	}

	empty := DefaultConfig()
	empty.Sys, empty.Collectors = t.TempDir(), Collectors{Hwmon: true}
	if err := os.MkdirAll(filepath.Join(empty.Sys, "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &recordHandler{}
	reg = prometheus.NewPedanticRegistry()
	if _, err := newCollector(empty, slog.New(logs), Options{Registerer: reg}, fixtureHooks(nil)); err != nil {
		t.Fatal(err)
	}
	mfs, _ = reg.Gather()
	if v, ok := value(mfs, "node_scrape_collector_success", "collector", "hwmon"); !ok || v != 0 {
		t.Errorf("hwmon success without <sys>/class/hwmon = %v (%v), want 0", v, ok)
	}
	if n := logs.count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings for a machine without hardware sensors, want none (no data)", n)
	}
}
