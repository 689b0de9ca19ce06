package chart

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// nodeMixinLeftOut are the node-mixin's metrics of node_exporter collectors
// ferry does not have (pkg/hostmetrics/README.md says why), so their alerts
// cannot fire on ferry's metrics, as they do not on a node_exporter without
// those collectors.
var nodeMixinLeftOut = map[string]string{
	"node_textfile_scrape_error":         "textfile collector",
	"node_md_disks_required":             "mdadm collector",
	"node_md_disks":                      "mdadm collector",
	"node_systemd_unit_state":            "systemd collector (off by default in node_exporter too)",
	"node_systemd_service_restart_total": "systemd collector (off by default in node_exporter too)",
	"node_bonding_slaves":                "bonding collector",
	"node_bonding_active":                "bonding collector",
}

// TestNodeMixinAlertsHaveSeries runs the agent (FERRY_BIN) as
// TestMetricNamesAreReal does and checks the alerts of the node-mixin
// (testdata/node-mixin-alerts.yaml, node_exporter v1.12.1's, which
// kube-prometheus installs): every vector selector of every alert, with all
// its label matchers but the scrape's job, matches at least one series the
// agent serves. A selector that matches nothing makes its alert silently
// never fire, which is what a team switching from node_exporter must not
// get.
func TestNodeMixinAlertsHaveSeries(t *testing.T) {
	bin := os.Getenv("FERRY_BIN")
	if bin == "" {
		t.Skip("FERRY_BIN is not set: cannot run the agent to read its metric names (hack/helm.sh builds it from cmd/agent and sets it)")
	}
	b, err := os.ReadFile(filepath.Join("testdata", "node-mixin-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Alerts []struct{ Alert, Expr string }
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Alerts) < 20 {
		t.Fatalf("only %d node-mixin alerts in the testdata", len(doc.Alerts))
	}
	served := scrapeAgent(t, bin)
	_, errPSI := os.Stat("/proc/pressure/cpu")

	checked := 0
	for _, a := range doc.Alerts {
		e, err := promql.ParseExpr(a.Expr)
		if err != nil {
			t.Errorf("%s: %v", a.Alert, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if why, out := nodeMixinLeftOut[vs.Name]; out {
				t.Logf("%s: %s not checked: %s is left out", a.Alert, vs.Name, why)
				return nil
			}
			if strings.HasPrefix(vs.Name, "node_pressure_") && errPSI != nil {
				t.Logf("%s: %s not checked: no pressure stall information here (%v)", a.Alert, vs.Name, errPSI)
				return nil
			}
			checked++
			matches := slices.ContainsFunc(served[vs.Name], func(ls labels.Labels) bool {
				for _, m := range vs.LabelMatchers {
					if m.Name == "job" { // set by Prometheus at scrape time
						continue
					}
					if !m.Matches(ls.Get(m.Name)) {
						return false
					}
				}
				return true
			})
			if !matches {
				t.Errorf("%s: no series of the agent matches %s (it serves %d %s series)", a.Alert, vs, len(served[vs.Name]), vs.Name)
			}
			return nil
		})
	}
	if checked < 30 {
		t.Errorf("only %d selectors checked", checked)
	}
	if t.Failed() {
		var names []string
		for n := range served {
			if strings.HasPrefix(n, "node_") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		t.Logf("the agent's node_* series names:\n%s", strings.Join(names, "\n"))
	}
}
