package chart

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// hugeLine is longer than the largest record the file sink takes (16 MiB), so
// the agent drops it and ferry_ship_dropped_records_total{reason="too_large"}
// appears: that counter has no series until the first drop.
const hugeLine = 17 << 20

// TestMetricNamesAreReal runs the agent (FERRY_BIN) on a small node of its own
// (real log files, a file sink, host metrics from this machine's /proc and
// /sys, kubernetes off), scrapes its /metrics, and asserts that every metric
// the alerts, the dashboard and NOTES.txt query is one the agent really
// serves, with the labels (and label values) they select and group by. The run
// includes a line too large for the sink, so that the drop counter, which has
// no series before the first drop, is in the exposition too.
func TestMetricNamesAreReal(t *testing.T) {
	bin := os.Getenv("FERRY_BIN")
	if bin == "" {
		t.Skip("FERRY_BIN is not set: cannot run the agent to read its metric names (hack/helm.sh builds it from cmd/agent and sets it)")
	}
	wanted := map[string][]string{}
	for _, q := range shippedQueries(t) {
		for _, n := range metricNames(t, q.where, q.expr) {
			if !slices.Contains(wanted[n], q.where) {
				wanted[n] = append(wanted[n], q.where)
			}
		}
	}
	if len(wanted) < 20 {
		t.Fatalf("only %d metric names found in the alerts and the dashboard: %v", len(wanted), keys(wanted))
	}

	// NOTES.txt tells the user which counters to look at.
	for _, name := range notesMetrics(t) {
		if !slices.Contains(wanted[name], "NOTES.txt") {
			wanted[name] = append(wanted[name], "NOTES.txt")
		}
	}

	served := scrapeAgent(t, bin)
	_, errPSI := os.Stat("/proc/pressure/cpu")
	var missing []string
	for name, where := range wanted {
		if slices.Contains(thirdPartyMetrics, name) {
			continue
		}
		if strings.HasPrefix(name, "node_pressure_") && errPSI != nil && len(served[name]) == 0 {
			t.Logf("%s not checked: this kernel has no pressure stall information (%v)", name, errPSI)
			continue
		}
		if len(served[name]) == 0 {
			missing = append(missing, fmt.Sprintf("%s (queried by %s)", name, strings.Join(where, "; ")))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("the agent does not serve %s", m)
	}
	// The labels the queries select and group by are the agent's too.
	for _, q := range shippedQueries(t) {
		checkLabels(t, q, served)
	}
	// The third-party names must really be someone else's.
	for _, name := range thirdPartyMetrics {
		if len(served[name]) > 0 {
			t.Errorf("%s is listed as third-party but the agent serves it", name)
		}
	}
	if t.Failed() {
		var all []string
		for n := range served {
			if strings.HasPrefix(n, "ferry_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Logf("the agent's ferry_* series names:\n%s", strings.Join(all, "\n"))
	}
}

var (
	notesGrep  = regexp.MustCompile(`grep -E '([^']*)'`)
	notesNames = regexp.MustCompile(`^\^ferry_\(([a-z_|]+)\)_total$`)
)

// notesMetrics reads the metric names NOTES.txt greps for: a pattern
// ^ferry_(a|b|c)_total stands for ferry_a_total, ferry_b_total, ferry_c_total.
func notesMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range notesGrep.FindAllStringSubmatch(string(b), -1) {
		alts := notesNames.FindStringSubmatch(m[1])
		if alts == nil {
			t.Errorf("NOTES.txt greps for %q; the test understands only ^ferry_(a|b)_total", m[1])
			continue
		}
		for _, a := range strings.Split(alts[1], "|") {
			names = append(names, "ferry_"+a+"_total")
		}
	}
	if len(names) == 0 {
		t.Error("NOTES.txt names no metric to check")
	}
	return names
}

// targetLabels are added by Prometheus when it scrapes (the chart's monitors
// relabel the pod's node into node); the agent does not serve them.
var targetLabels = []string{"node"}

// checkLabels: every label a query matches on must be on some served series
// of that metric (with that value, for an equality), and every label it
// groups by must be on some series of a metric it aggregates. Otherwise a
// panel stays empty or an alert never fires, with no error anywhere.
func checkLabels(t *testing.T, q query, served map[string][]labels.Labels) {
	t.Helper()
	e, err := promql.ParseExpr(q.expr)
	if err != nil {
		return // reported by metricNames
	}
	ours := func(name string) bool { return len(served[name]) > 0 }
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := ""
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					name = m.Value
				}
			}
			if !ours(name) {
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName || slices.Contains(targetLabels, m.Name) {
					continue
				}
				found := slices.ContainsFunc(served[name], func(ls labels.Labels) bool {
					if m.Type == labels.MatchEqual {
						return ls.Get(m.Name) == m.Value
					}
					return ls.Has(m.Name)
				})
				if !found {
					some := served[name][:min(3, len(served[name]))]
					t.Errorf("%s: no series %s{%s} among the agent's %d (e.g. %v)", q.where, name, m, len(served[name]), some)
				}
			}
		case *parser.AggregateExpr:
			if n.Without {
				return nil
			}
			var names []string
			for _, v := range []parser.Node{n.Expr} {
				parser.Inspect(v, func(c parser.Node, _ []parser.Node) error {
					if vs, ok := c.(*parser.VectorSelector); ok && ours(vs.Name) {
						names = append(names, vs.Name)
					}
					return nil
				})
			}
			for _, g := range n.Grouping {
				if slices.Contains(targetLabels, g) || len(names) == 0 {
					continue
				}
				found := slices.ContainsFunc(names, func(name string) bool {
					return slices.ContainsFunc(served[name], func(ls labels.Labels) bool { return ls.Has(g) })
				})
				if !found {
					t.Errorf("%s: groups by %q, a label none of %v has", q.where, g, names)
				}
			}
		}
		return nil
	})
}

// scrapeAgent starts `ferry run` on a temporary node and returns the series
// of its /metrics, by metric name, once lines were read, the huge line was
// dropped and host metrics were collected.
func scrapeAgent(t *testing.T, bin string) map[string][]labels.Labels {
	t.Helper()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_web-0_0b1e2c3d-4e5f-4a6b-8c7d-000000000000", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	fmt.Fprintf(&logs, "%s stdout F first line\n", ts)
	fmt.Fprintf(&logs, "%s stderr F second line\n", ts)
	fmt.Fprintf(&logs, "%s stdout F %s\n", ts, strings.Repeat("x", hugeLine))
	fmt.Fprintf(&logs, "%s stdout F after the huge one\n", ts)
	if err := os.WriteFile(filepath.Join(logDir, "0.log"), logs.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	config := fmt.Sprintf(`node_name: chart-test-node
state_dir: %[1]s/state
shutdown_timeout: 5s
log: {level: warn, format: text}
logs:
  include: ["%[1]s/pods/*/*/*.log"]
  max_line_bytes: %[2]d
kubernetes: {enabled: false}
hostmetrics: {enabled: true, interval: 1s, proc: /proc, sys: /sys, rootfs: /}
sink:
  file: {path: "%[1]s/out.ndjson"}
http: {listen: "%[3]s"}
`, dir, hugeLine+4<<20, addr)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		if err := <-exited; err != nil && ctx.Err() == nil {
			t.Errorf("agent: %v\n%s", err, out.String())
		}
	}()

	ready := func(s map[string]float64) bool {
		return s[`ferry_tail_lines_read_total{stream="stdout"}`] >= 2 &&
			s[`ferry_ship_dropped_records_total{reason="too_large",record="log"}`] >= 1 &&
			s[`ferry_ship_records_sent_total{record="metric"}`] >= 1
	}
	deadline := time.Now().Add(60 * time.Second)
	var last map[string]float64
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("agent exited before its metrics were complete: %v\n%s", err, out.String())
		default:
		}
		if s, err := scrape("http://" + addr + "/metrics"); err == nil {
			last = s
			if ready(s) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete exposition within 60s; last scrape had %d series, agent output:\n%s", len(last), out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	byName := map[string][]labels.Labels{}
	for series := range last {
		ls, err := promql.ParseMetric(series)
		if err != nil {
			t.Fatalf("exposition series %q: %v", series, err)
		}
		name := ls.Get(labels.MetricName)
		byName[name] = append(byName[name], ls)
	}
	return byName
}

// scrape reads a text exposition into series (name{labels} as printed) and values.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("malformed exposition line %q", line)
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			return nil, fmt.Errorf("exposition line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series, sc.Err()
}

// freeAddr returns a 127.0.0.1 address with a port nobody listened on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
