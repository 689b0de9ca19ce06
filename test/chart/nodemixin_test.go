package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promqlengine "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
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
// get. Then every alert is evaluated by Prometheus' PromQL engine over
// those series (evaluateNodeMixin).
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
	evaluateNodeMixin(t, served, doc.Alerts)
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

// evaluateNodeMixin evaluates every node-mixin alert with Prometheus'
// PromQL engine over the agent's series as Prometheus would store them
// (job="node" and an instance label added by the scrape; ten samples a
// minute apart, rising, so that rate() and predict_linear() have data):
// an alert whose expression fails to evaluate (two series for one match
// group, a label set that differs from node_exporter's) never fires
// either, and the selector check above cannot see that.
func evaluateNodeMixin(t *testing.T, served map[string][]labels.Labels, alerts []struct{ Alert, Expr string }) {
	t.Helper()
	var load strings.Builder
	load.WriteString("load 1m\n")
	for name, sets := range served {
		if !strings.HasPrefix(name, "node_") {
			continue
		}
		for _, ls := range sets {
			b := labels.NewBuilder(ls)
			b.Set("job", "node")
			b.Set("instance", "ferry-node:9100")
			fmt.Fprintf(&load, "  %s%s 1+1x10\n", name, b.Labels().String())
		}
	}
	storage := promqltest.LoadedStorage(t, load.String())
	engine := promqltest.NewTestEngineWithOpts(t, promqlengine.EngineOpts{
		MaxSamples: promqltest.DefaultMaxSamplesPerQuery,
		Timeout:    time.Minute,
		Parser:     promql,
	})
	ctx := context.Background()
	at := time.Unix(0, 0).Add(10 * time.Minute)
	eval := func(expr string) (promqlengine.Vector, error) {
		q, err := engine.NewInstantQuery(ctx, storage, nil, expr, at)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Vector()
	}
	evaluated := 0
	for _, a := range alerts {
		if _, err := eval(a.Expr); err != nil {
			t.Errorf("%s: the engine fails on it: %v", a.Alert, err)
			continue
		}
		evaluated++
		e, err := promql.ParseExpr(a.Expr)
		if err != nil {
			continue // reported above
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || nodeMixinLeftOut[vs.Name] != "" || strings.HasPrefix(vs.Name, "node_pressure_") && len(served["node_pressure_cpu_waiting_seconds_total"]) == 0 {
				return nil
			}
			if v, err := eval(vs.String()); err != nil || len(v) == 0 {
				t.Errorf("%s: %s selects nothing in the engine (%v)", a.Alert, vs, err)
			}
			return nil
		})
	}
	t.Logf("%d node-mixin alerts evaluated by the PromQL engine over %d node_* series names", evaluated, len(served))
}
