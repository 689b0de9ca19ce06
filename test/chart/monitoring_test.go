package chart

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// thirdPartyMetrics are the only names the alerts and the dashboard query that
// the agent does not expose itself; every other name must be one the agent
// really serves (TestMetricNamesAreReal runs the agent and checks them).
var thirdPartyMetrics = []string{
	"kube_daemonset_status_number_unavailable", // kube-state-metrics
}

var promql = parser.NewParser(parser.Options{})

// metricNames parses expr and returns the metric names it selects. Every
// selector must name its metric by equality: a regexp on __name__ could match
// nothing and no test would notice.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: invalid PromQL %q: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		var name string
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName {
				continue
			}
			if m.Type != labels.MatchEqual {
				t.Errorf("%s: %q selects metrics by a pattern (%s); name each metric", where, expr, m)
				continue
			}
			name = m.Value
		}
		if name != "" {
			names = append(names, name)
		}
		return nil
	})
	return names
}

// checkSelfMetric accepts the agent's own families (ferry_, node_, and the Go
// client's process_ and go_) and the listed third-party names; anything else is
// a typo or a dependency the chart does not declare.
func checkSelfMetric(t *testing.T, where, name string) {
	t.Helper()
	for _, p := range agentPrefixes {
		if strings.HasPrefix(name, p) {
			return
		}
	}
	if !slices.Contains(thirdPartyMetrics, name) {
		t.Errorf("%s: %s is neither the agent's (%v) nor a listed third-party metric", where, name, agentPrefixes)
	}
}

// agentPrefixes are the metric families the agent's /metrics serves.
var agentPrefixes = []string{"ferry_", "node_", "process_", "go_"}

// checkMonitoring runs for every rendering: whatever monitoring objects exist
// select the agent's pods and its http port, and their PromQL parses.
func checkMonitoring(t *testing.T, m *manifests) {
	t.Helper()
	podLabels := m.DaemonSet.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	if sm := m.ServiceMonitor; sm != nil {
		if len(m.Services) != 1 {
			t.Fatalf("ServiceMonitor without its Service: %d services", len(m.Services))
		}
		svc := m.Services[0]
		if svc.Spec.ClusterIP != "None" || !matches(svc.Spec.Selector) {
			t.Errorf("metrics Service: clusterIP %q selector %v", svc.Spec.ClusterIP, svc.Spec.Selector)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
			t.Errorf("metrics Service ports %+v", svc.Spec.Ports)
		}
		if !matches(sm.Spec.Selector.MatchLabels) {
			t.Errorf("ServiceMonitor selector %v does not select the Service's labels", sm.Spec.Selector.MatchLabels)
		}
		for k, v := range sm.Spec.Selector.MatchLabels {
			if svc.Labels[k] != v {
				t.Errorf("ServiceMonitor selector %s=%s not on the Service", k, v)
			}
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
		} else {
			checkNodeRelabel(t, "ServiceMonitor", sm.Spec.Endpoints[0].RelabelConfigs)
		}
	}
	if pm := m.PodMonitor; pm != nil {
		if !matches(pm.Spec.Selector.MatchLabels) {
			t.Errorf("PodMonitor selector %v does not select the pods", pm.Spec.Selector.MatchLabels)
		}
		eps := pm.Spec.PodMetricsEndpoints
		if len(eps) != 1 || eps[0].Port == nil || *eps[0].Port != "http" || eps[0].Path != "/metrics" {
			t.Errorf("PodMonitor endpoints %+v", eps)
		} else {
			checkNodeRelabel(t, "PodMonitor", eps[0].RelabelConfigs)
		}
	}
	if pr := m.PrometheusRule; pr != nil {
		var alerts []string
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				where := "alert " + r.Alert
				for _, n := range metricNames(t, where, r.Expr.String()) {
					checkSelfMetric(t, where, n)
				}
				if r.For == nil || *r.For == "" {
					t.Errorf("%s: no 'for': it would page on a single scrape", where)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: summary and description are required", where)
				}
				if r.Labels["severity"] == "" {
					t.Errorf("%s: no severity", where)
				}
				alerts = append(alerts, r.Alert)
			}
		}
		for _, a := range []string{"FerryDroppingLogs", "FerryLostLogBytes", "FerryLostLogFiles", "FerryDestinationStuck", "FerrySustainedBackpressure", "FerrySinkErrors", "FerryTailerStalled"} {
			if !slices.Contains(alerts, a) {
				t.Errorf("PrometheusRule lacks alert %s; has %v", a, alerts)
			}
		}
	}
}

func checkNodeRelabel(t *testing.T, kind string, rcs []monitoringv1.RelabelConfig) {
	t.Helper()
	for _, rc := range rcs {
		if rc.TargetLabel == "node" && slices.Contains(rc.SourceLabels, "__meta_kubernetes_pod_node_name") {
			return
		}
	}
	t.Errorf("%s: no relabeling of __meta_kubernetes_pod_node_name to node; the dashboard and alerts group by node", kind)
}

// TestMonitoringObjects renders the monitoring CI values and checks the
// objects exist (checkMonitoring checks their content).
func TestMonitoringObjects(t *testing.T) {
	m := render(t, "-f", filepath.Join(chartDir(t), "ci", "monitoring-values.yaml"))
	if m.PodMonitor == nil || m.PrometheusRule == nil || m.ServiceMonitor != nil {
		t.Fatalf("kinds %v: want PodMonitor and PrometheusRule, no ServiceMonitor", m.Kinds)
	}
	if got := m.PrometheusRule.Labels["release"]; got != "prometheus" {
		t.Errorf("PrometheusRule label release=%q; extra labels let Prometheus select it", got)
	}
	for _, g := range m.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Labels["team"] != "platform" || string(*r.For) != "15m" {
				t.Errorf("alert %s: labels %v for %v: want alertLabels and for from values", r.Alert, r.Labels, *r.For)
			}
		}
	}
	checkMonitoring(t, m)
	m = render(t, "-f", filepath.Join(chartDir(t), "ci", "servicemonitor-values.yaml"))
	if m.ServiceMonitor == nil || m.PodMonitor != nil || len(m.Services) != 1 {
		t.Fatalf("kinds %v: want ServiceMonitor and its Service", m.Kinds)
	}
	ann := m.DaemonSet.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "2020" {
		t.Errorf("scrape annotations %v", ann)
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// TestDashboard: the Grafana dashboard is picked up by the sidecar, its PromQL
// parses, and it shows the four golden signals per node and node saturation.
func TestDashboard(t *testing.T) {
	m := render(t, "-f", filepath.Join(chartDir(t), "ci", "monitoring-values.yaml"))
	cm := m.ConfigMaps[release+"-dashboard"]
	if cm == nil {
		t.Fatalf("no dashboard ConfigMap; kinds %v", m.Kinds)
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v: the Grafana sidecar looks for grafana_dashboard=1", cm.Labels)
	}
	if cm.Namespace != "monitoring" {
		t.Errorf("dashboard namespace %q, want monitoring from values", cm.Namespace)
	}
	d := dashboardOf(t, m)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title: %q %q", d.UID, d.Title)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if diff := cmp.Diff([]string{"datasource", "node"}, vars); diff != "" {
		t.Errorf("dashboard variables (-want +got):\n%s", diff)
	}
	for _, q := range dashboardVariableQueries(t, d) {
		for _, n := range metricNames(t, q.where, q.expr) {
			checkSelfMetric(t, q.where, n)
		}
	}
	signals := map[string]bool{}
	var nodeSaturation []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, s := range []string{"Traffic", "Errors", "Latency", "Saturation"} {
				if strings.HasPrefix(p.Title, s) {
					signals[s] = true
				}
			}
			for _, tg := range p.Targets {
				where := "panel " + p.Title
				if !strings.Contains(tg.Expr, `node=~"$node"`) {
					t.Errorf("%s: %q does not filter by the node variable", where, tg.Expr)
				}
				for _, n := range metricNames(t, where, grafanaVars.Replace(tg.Expr)) {
					checkSelfMetric(t, where, n)
					if strings.HasPrefix(n, "node_") {
						nodeSaturation = append(nodeSaturation, n)
					}
				}
			}
		}
	}
	walk(d.Panels)
	if len(signals) != 4 {
		t.Errorf("golden signals shown: %v; want Traffic, Errors, Latency and Saturation panels", keys(signals))
	}
	sort.Strings(nodeSaturation)
	nodeSaturation = slices.Compact(nodeSaturation)
	for _, want := range []string{"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes", "node_pressure_io_waiting_seconds_total"} {
		if !slices.Contains(nodeSaturation, want) {
			t.Errorf("node saturation panels lack %s; have %v", want, nodeSaturation)
		}
	}
	// The file in the chart is the one rendered.
	if off := render(t, "--set", "metrics.dashboard.enabled=false"); off.ConfigMaps[release+"-dashboard"] != nil {
		t.Error("metrics.dashboard.enabled=false still renders the dashboard")
	}
}

// grafanaVars stands in for the dashboard's variables so that its PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$node", ".*")

// dashboardOf decodes the dashboard JSON of the rendering's dashboard ConfigMap.
func dashboardOf(t *testing.T, m *manifests) dashboard {
	t.Helper()
	cm := m.ConfigMaps[release+"-dashboard"]
	if cm == nil {
		t.Fatalf("no dashboard ConfigMap; kinds %v", m.Kinds)
	}
	var d dashboard
	if err := json.NewDecoder(strings.NewReader(cm.Data["ferry.json"])).Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// query is one PromQL expression the chart ships, and where it is.
type query struct{ where, expr string }

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// dashboardVariableQueries turns the query variables (label_values(metric,
// label)) into the selectors they evaluate.
func dashboardVariableQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var qs []query
	for _, v := range d.Templating.List {
		if v.Definition == "" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		qs = append(qs, query{"variable " + v.Name, m[1]})
	}
	return qs
}

// shippedQueries is every PromQL expression of the monitoring rendering: the
// alerts, the dashboard's panels and its variables.
func shippedQueries(t *testing.T) []query {
	t.Helper()
	m := render(t, "-f", filepath.Join(chartDir(t), "ci", "monitoring-values.yaml"))
	if m.PrometheusRule == nil {
		t.Fatalf("monitoring values render no PrometheusRule; kinds %v", m.Kinds)
	}
	var qs []query
	for _, g := range m.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alert " + r.Alert, r.Expr.String()})
		}
	}
	d := dashboardOf(t, m)
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				qs = append(qs, query{"panel " + p.Title, grafanaVars.Replace(tg.Expr)})
			}
		}
	}
	walk(d.Panels)
	return append(qs, dashboardVariableQueries(t, d)...)
}
