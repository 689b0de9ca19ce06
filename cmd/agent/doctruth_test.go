package main

// The documentation names metrics and config keys; these tests keep those
// names true against the agent itself: the metrics against a live agent's
// /metrics and registry, the keys against the Config the agent decodes.
// internal/archtest keeps the file paths and the README's figures true.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// docFiles lists the documents whose names these tests check, relative to
// the repository: the READMEs (the repository's, the benchmark's, the
// chart's, the test suites'), CONTRIBUTING.md, docs/, and each package's
// doc.go and README. internal/archtest's docs_test.go reads the same list.
func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{
		"README.md", "CONTRIBUTING.md", "docs/*.md", "bench/README.md",
		"charts/ferry/README*", "pkg/*/doc.go", "pkg/*/README.md", "test/*/README.md",
	} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, err := filepath.Rel(repoRoot, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	for _, must := range []string{"README.md", "CONTRIBUTING.md", "docs/architecture.md", "pkg/tail/doc.go"} {
		if !slices.Contains(out, must) {
			t.Fatalf("%s not found: the document list is wrong", must)
		}
	}
	return out
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineOf returns the 1-based line of byte offset off in s.
func lineOf(s string, off int) int { return strings.Count(s[:off], "\n") + 1 }

// ---------------------------------------------------------------- metrics

// exported is one metric family the agent exports.
type exported struct {
	typ    string          // counter, gauge, histogram, summary; "" when only described
	labels map[string]bool // variable and constant label names
}

var descRe = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", .*constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// parseDesc takes a descriptor's name and label names from its String
// form (client_golang exports no accessors for them).
func parseDesc(s string) (string, []string, bool) {
	m := descRe.FindStringSubmatch(s)
	if m == nil {
		return "", nil, false
	}
	var labels []string
	for _, c := range strings.Split(m[2], ",") {
		if name, _, ok := strings.Cut(c, "="); ok {
			labels = append(labels, name)
		}
	}
	for _, v := range strings.Split(m[3], ",") {
		if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
			labels = append(labels, v)
		}
	}
	return m[1], labels, true
}

// liveAgentMetrics runs the agent in-process with every room on (host
// metrics, processing, the Kafka sink on an in-process broker; the
// Kubernetes API off, whose metrics the enricher registers all the same),
// scrapes its /metrics, and adds every descriptor its registry holds: a
// vector with no series yet is not in a scrape but is exported all the same.
func liveAgentMetrics(t *testing.T) map[string]*exported {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs", "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_cart-0_0b1e2c3d-0000-4000-8000-000000000001", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "0.log"),
		[]byte("2026-12-05T09:00:00.000000000Z stdout F {\"level\":\"info\",\"msg\":\"hello a@b.example\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
node_name: node-1
state_dir: %s/state
logs: {include: ["%s/pods/*/*/*.log"]}
kubernetes: {enabled: false}
hostmetrics: {enabled: true, interval: 1s}
processing:
  multiline: {rule: java, flush_timeout: 100ms}
  parser: {format: json}
  filters: [{name: health, action: drop, message: 'GET /healthz'}]
  redact: {builtins: [email]}
sink: {kafka: {brokers: ["%s"], batch: {linger: 10ms}}}
http: {listen: "127.0.0.1:0"}
`, dir, dir, cluster.ListenAddrs()[0])), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// runReloading registers the reload metrics on every generation's registry.
	rm := newReloadMetrics()
	reg.MustRegister(rm.total, rm.lastSuccess)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrCh := make(chan string, 1)
	go func() {
		done <- runAgent(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
			runHooks{Registry: reg, Listening: func(a string) { addrCh <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("agent did not stop")
		}
	})
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("agent: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not listen")
	}

	// Scrape once the line went through (so the per-stream and per-parser
	// series exist), within a deadline.
	var families map[string]*dto.MetricFamily
	waitFor(t, 20*time.Second, "the log line sent (ferry_ship_records_sent_total)", func() bool {
		families = scrape(t, "http://"+addr+"/metrics")
		sent := families["ferry_ship_records_sent_total"]
		return sent != nil && sumCounter(sent, "record", "log") >= 1
	})

	out := map[string]*exported{}
	for name, mf := range families {
		e := &exported{typ: strings.ToLower(mf.GetType().String()), labels: map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				e.labels[lp.GetName()] = true
			}
		}
		out[name] = e
	}
	descs := make(chan *prometheus.Desc)
	go func() { reg.Describe(descs); close(descs) }()
	for d := range descs {
		name, labels, ok := parseDesc(d.String())
		if !ok {
			t.Fatalf("cannot read descriptor %s", d)
		}
		e := out[name]
		if e == nil {
			e = &exported{labels: map[string]bool{}}
			out[name] = e
		}
		for _, l := range labels {
			e.labels[l] = true
		}
	}
	return out
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func sumCounter(mf *dto.MetricFamily, label, value string) float64 {
	var sum float64
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// metricMention is a ferry_ name in a document, with the label names it
// gives ({reason}, {reason="deleted"}, {record,reason}).
type metricMention struct {
	doc    string
	line   int
	name   string
	labels []string
}

var (
	metricRe = regexp.MustCompile(`\bferry_[a-z0-9_]*(\{[^}\n]*\})?`)
	labelRe  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// metricMentions finds every ferry_ name in text. A name ending in "_"
// ("ferry_tail_", "ferry_*") is a prefix.
func metricMentions(doc, text string) []metricMention {
	var out []metricMention
	for _, loc := range metricRe.FindAllStringSubmatchIndex(text, -1) {
		name := text[loc[0]:loc[1]]
		var labels []string
		if loc[2] >= 0 {
			name = text[loc[0]:loc[2]]
			for _, part := range strings.Split(text[loc[2]+1:loc[3]-1], ",") {
				if m := labelRe.FindStringSubmatch(part); m != nil {
					labels = append(labels, m[1])
				}
			}
		}
		out = append(out, metricMention{doc: doc, line: lineOf(text, loc[0]), name: name, labels: labels})
	}
	return out
}

// resolveMetric finds the family a documented name stands for: the name
// itself, a histogram's or summary's _bucket, _sum or _count series, or a
// counter's name with the _total OpenMetrics adds.
func resolveMetric(live map[string]*exported, name string) (string, bool) {
	if live[name] != nil {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if e := live[base]; e != nil && (e.typ == "histogram" || e.typ == "summary") {
				return base, true
			}
		}
	}
	if base, ok := strings.CutSuffix(name, "_total"); ok {
		if e := live[base]; e != nil && e.typ == "counter" {
			return base, true
		}
	}
	return "", false
}

// checkMention says what is wrong with one documented metric, or "".
func checkMention(live map[string]*exported, m metricMention) string {
	if strings.HasSuffix(m.name, "_") {
		for n := range live {
			if strings.HasPrefix(n, m.name) {
				return ""
			}
		}
		return fmt.Sprintf("no metric the agent exports starts with %s", m.name)
	}
	base, ok := resolveMetric(live, m.name)
	if !ok {
		return fmt.Sprintf("%s is not a metric the agent exports", m.name)
	}
	for _, l := range m.labels {
		if !live[base].labels[l] {
			var have []string
			for h := range live[base].labels {
				have = append(have, h)
			}
			sort.Strings(have)
			return fmt.Sprintf("%s has no label %q (its labels: %v)", m.name, l, have)
		}
	}
	return ""
}

// TestDocTruthMetrics fails when a document names a ferry_ metric, or a
// label of one, that the running agent does not export, and when the agent
// exports a ferry_ metric that the README's self-metrics table does not
// list.
func TestDocTruthMetrics(t *testing.T) {
	live := liveAgentMetrics(t)
	var ferry []string
	for n := range live {
		if strings.HasPrefix(n, "ferry_") {
			ferry = append(ferry, n)
		}
	}
	sort.Strings(ferry)
	// The run must have seen every room's metrics, or the check is hollow.
	for _, n := range []string{"ferry_tail_lines_read_total", "ferry_enrich_misses_total", "ferry_process_parsed_total",
		"ferry_ship_kafka_requests_total", "ferry_hostmetrics_snapshots_total", "ferry_http_connections",
		"ferry_config_reload_total", "ferry_build_info", "ferry_read_to_ack_seconds"} {
		if live[n] == nil {
			t.Fatalf("the live agent does not export %s: the run is not the whole agent", n)
		}
	}

	// The chart's values.yaml documents each value in comments, alerts' metrics among them.
	for _, doc := range append(docFiles(t), "charts/ferry/values.yaml") {
		for _, m := range metricMentions(doc, readDoc(t, doc)) {
			if problem := checkMention(live, m); problem != "" {
				t.Errorf("%s:%d: %s", m.doc, m.line, problem)
			}
		}
	}

	// Every exported ferry_ metric is in the README's table of self metrics.
	readme := readDoc(t, "README.md")
	start := strings.Index(readme, "## Self metrics")
	if start < 0 {
		t.Fatal("README has no \"## Self metrics\" section")
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	listed := map[string]bool{}
	for _, m := range metricMentions("README.md", section) {
		if base, ok := resolveMetric(live, m.name); ok {
			listed[base] = true
		}
	}
	for _, n := range ferry {
		if !listed[n] {
			t.Errorf("%s is exported but not in the README's \"Self metrics\" table", n)
		}
	}
}

// TestDocTruthMetricRules checks the rules on names that break them.
func TestDocTruthMetricRules(t *testing.T) {
	live := map[string]*exported{
		"ferry_x_total":     {typ: "counter", labels: map[string]bool{"reason": true}},
		"ferry_x_seconds":   {typ: "histogram", labels: map[string]bool{}},
		"ferry_y":           {typ: "counter", labels: map[string]bool{}},
		"ferry_build_thing": {labels: map[string]bool{"version": true}},
	}
	for text, wantOK := range map[string]bool{
		"`ferry_x_total{reason}`":           true,
		"ferry_x_total{reason=\"deleted\"}": true,
		"ferry_x_total{destination}":        false,
		"ferry_x_seconds_bucket":            true,
		"ferry_x_seconds_count":             true,
		"ferry_y_total":                     true,
		"ferry_y_bucket":                    false,
		"ferry_x":                           false,
		"ferry_gone_total":                  false,
		"ferry_build_thing{version}":        true,
		"(all prefixed ferry_x_)":           true,
		"ferry_z_":                          false,
		"ferry_*":                           true,
	} {
		ms := metricMentions("doc", text)
		if len(ms) != 1 {
			t.Fatalf("%q: %d mentions, want 1", text, len(ms))
		}
		if got := checkMention(live, ms[0]) == ""; got != wantOK {
			t.Errorf("%q: accepted = %v, want %v (%s)", text, got, wantOK, checkMention(live, ms[0]))
		}
	}
	if ms := metricMentions("doc", "FERRY_MEMORY_LIMIT and ferry.dev/exclude"); len(ms) != 0 {
		t.Errorf("not metrics, found %v", ms)
	}
	name, labels, ok := parseDesc(prometheus.NewDesc("ferry_a_total", "h", []string{"reason"}, prometheus.Labels{"state": "live"}).String())
	if !ok || name != "ferry_a_total" || !slices.Equal(labels, []string{"state", "reason"}) {
		t.Errorf("parseDesc = %q %v %v", name, labels, ok)
	}
}

// ---------------------------------------------------------------- config keys

// configKeys lists every key path of the agent's config, from the yaml tags
// of Config: "logs.poll_interval", "sink.kafka.batch.linger". A map's keys
// are any name ("logs.rate_limit.namespaces.*").
func configKeys() map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			out[prefix+".*"] = true
			walk(t.Elem(), prefix+".*")
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				tag := f.Tag.Get("yaml")
				name, opts, _ := strings.Cut(tag, ",")
				if name == "-" || !f.IsExported() {
					continue
				}
				if strings.Contains(opts, "inline") {
					walk(f.Type, prefix)
					continue
				}
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				p := strings.TrimPrefix(prefix+"."+name, ".")
				out[p] = true
				walk(f.Type, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// isConfigKey says whether path names a key (a map's key may be any
// name), or with tail whether some key ends with it.
func isConfigKey(keys map[string]bool, path string, tail bool) bool {
	if tail {
		for k := range keys {
			if isConfigKey(keys, k+"."+path, false) {
				return true
			}
		}
		return false
	}
	parts := strings.Split(path, ".")
	var walk func(prefix string, rest []string) bool
	walk = func(prefix string, rest []string) bool {
		if len(rest) == 0 {
			return keys[prefix]
		}
		join := func(s string) string { return strings.TrimPrefix(prefix+"."+s, ".") }
		if rest[0] == "*" || strings.HasPrefix(rest[0], "<") {
			return keys[join("*")] && walk(join("*"), rest[1:])
		}
		return (keys[join(rest[0])] && walk(join(rest[0]), rest[1:])) ||
			(keys[join("*")] && walk(join("*"), rest[1:]))
	}
	return walk("", parts)
}

// packageSections maps a room to the section of the agent's config that
// holds its Config: its doc.go names keys relative to it.
var packageSections = map[string]string{
	"pkg/tail/doc.go": "logs", "pkg/enrich/doc.go": "kubernetes", "pkg/process/doc.go": "processing",
	"pkg/ship/doc.go": "sink", "pkg/hostmetrics/doc.go": "hostmetrics",
}

// keyExceptions are dotted names that begin like config keys and are not
// keys, each with its reason.
var keyExceptions = map[string]string{
	"kubernetes.labels":               "a field of the log record, which ferry logs -l matches",
	"cpu.pprof":                       "a profile file the benchmark writes",
	"message.max.bytes":               "a broker's topic config, not ferry's",
	"message.timestamp.before.max.ms": "a broker's topic config, not ferry's",
	"log.iostream":                    "an OpenTelemetry log attribute of OTLP records",
	"log.file.path":                   "an OpenTelemetry log attribute of OTLP records",
}

// keyMention is a dotted config key named in a document.
type keyMention struct {
	doc  string
	line int
	key  string // as written
	path string // the path in the agent's config
	tail bool   // path is the end of a key written from inside its section
}

var (
	codeSpanRe = regexp.MustCompile("`[^`\n]+`")
	// A key: dotted lower-case names (a map key may be a <placeholder> or
	// *), not preceded by a name, a dot, a slash or a dash.
	dottedRe = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./<>*-])((?:[a-z][a-z0-9_]*|<[a-z_-]+>|\*)(?:\.(?:[a-z][a-z0-9_]*|<[a-z_-]+>|\*))+)`)
)

// keyMentions finds the config keys a document names. In markdown, only
// code spans are read; a chart document writes the agent's keys under
// "config.". In a package's doc.go, a dotted name whose first part is a
// key of the room's section is read relative to it, else from the top.
func keyMentions(doc, text string, sections map[string]bool, keys map[string]bool) []keyMention {
	var spans [][2]int
	if strings.HasSuffix(doc, ".go") {
		spans = [][2]int{{0, len(text)}}
	} else {
		for _, loc := range codeSpanRe.FindAllStringIndex(text, -1) {
			spans = append(spans, [2]int{loc[0] + 1, loc[1] - 1})
		}
	}
	names := map[string]bool{} // the names of keys below the top level
	for k := range keys {
		if i := strings.LastIndex(k, "."); i >= 0 && k[i+1:] != "*" {
			names[k[i+1:]] = true
		}
	}
	chart := strings.HasPrefix(doc, "charts/")
	section := packageSections[doc]
	var out []keyMention
	for _, sp := range spans {
		s := text[sp[0]:sp[1]]
		for _, m := range dottedRe.FindAllStringSubmatchIndex(s, -1) {
			key := s[m[2]:m[3]]
			// A file name (tail.json, 0.log.<timestamp>, kubernetes.io/...) is no key.
			// Nor is a chart value (kafka.passwordSecret) or a path.
			if end := m[3]; end < len(s) && strings.ContainsRune("/-_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", rune(s[end])) {
				continue
			}
			if _, ok := keyExceptions[key]; ok {
				continue
			}
			path, tail := key, false
			first, _, _ := strings.Cut(key, ".")
			switch {
			case chart:
				rest, ok := strings.CutPrefix(key, "config.")
				if !ok || rest == "raw" {
					continue // the chart's own values
				}
				path = rest
			case section != "" && keys[section+"."+first]:
				path = section + "." + key
			case sections[first]:
			case names[first]:
				// A key written from inside its section ("batch.linger",
				// "kafka.retry"): some key must end with it.
				tail = true
			default:
				continue
			}
			path = strings.TrimSuffix(path, ".*") // "annotations.*": the keys under it
			out = append(out, keyMention{doc: doc, line: lineOf(text, sp[0]+m[2]), key: key, path: path, tail: tail})
		}
	}
	return out
}

// TestDocTruthConfigKeys fails when a document names a config key the
// agent does not have.
func TestDocTruthConfigKeys(t *testing.T) {
	keys, sections := configKeys(), configSections()
	for _, must := range []string{"logs.poll_interval", "sink.kafka.batch.linger", "logs.rate_limit.namespaces.*", "sink.file.path"} {
		if !keys[must] {
			t.Fatalf("config key %s not found: the walk over Config is wrong", must)
		}
	}
	found := 0
	for _, doc := range docFiles(t) {
		for _, m := range keyMentions(doc, readDoc(t, doc), sections, keys) {
			found++
			if !isConfigKey(keys, m.path, m.tail) {
				t.Errorf("%s:%d: %s is not a config key", m.doc, m.line, m.key)
			}
		}
	}
	if found < 50 {
		t.Errorf("only %d config keys found in the documents: the scan is broken", found)
	}
}

// configSections are the top-level keys of the config.
func configSections() map[string]bool {
	out := map[string]bool{}
	for k := range configKeys() {
		if !strings.Contains(k, ".") {
			out[k] = true
		}
	}
	return out
}

// TestDocTruthConfigKeyRules checks the key scan on names that break the
// rule and on names that are no keys.
func TestDocTruthConfigKeyRules(t *testing.T) {
	keys, sections := configKeys(), configSections()
	for _, c := range []struct {
		doc, text string
		bad       []string // the mentions that are no config key
		n         int      // mentions found
	}{
		{"README.md", "`logs.poll_interval` and `logs.poll_intervals: 1s`", []string{"logs.poll_intervals"}, 2},
		{"README.md", "`batch.linger: 1s`, `batch.lingr`", []string{"batch.lingr"}, 2},
		{"README.md", "`logs.rate_limit.namespaces.<namespace>`, `processing.annotations.*`", nil, 2},
		{"README.md", "logs.poll_intervals outside code, `state_dir/tail.json`, `0.log.<timestamp>`, `kafka.passwordSecret`, `ferry.dev/exclude`", nil, 0},
		{"charts/ferry/README.md", "`config.raw`, `config.sink.kafka.brokers`, `config.sink.kafka.broker`, `metrics.podMonitor`", []string{"config.sink.kafka.broker"}, 2},
		{"pkg/ship/doc.go", "// retried with backoff (kafka.retry); kafka.retries; memory.queue_bytes", []string{"kafka.retries"}, 3},
		{"pkg/tail/doc.go", "// state_dir/tail.json, event.Log.End, e.g. github.com/x", nil, 0},
	} {
		ms := keyMentions(c.doc, c.text, sections, keys)
		var bad []string
		for _, m := range ms {
			if !isConfigKey(keys, m.path, m.tail) {
				bad = append(bad, m.key)
			}
		}
		if len(ms) != c.n || !slices.Equal(bad, c.bad) {
			t.Errorf("%s %q: %d mentions %v, bad %v; want %d, bad %v", c.doc, c.text, len(ms), ms, bad, c.n, c.bad)
		}
	}
}
