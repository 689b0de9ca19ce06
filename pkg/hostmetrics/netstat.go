package hostmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNetstatFields is node_exporter's default for
// --collector.netstat.fields: errors, forwarding, octets, ICMP messages,
// TCP listen drops, SYN cookies, retransmits and timeouts, TCP and UDP
// segment counts.
const DefaultNetstatFields = `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`

// netstatCollector reports the protocol counters of <proc>/1/net/netstat,
// snmp and snmp6 (the host's network namespace) whose <Protocol>_<Field>
// matches the configured expression, as node_netstat_<Protocol>_<Field>,
// untyped as in node_exporter (shipped as gauges). A host without IPv6 has
// no snmp6: its fields are left out.
type netstatCollector struct {
	dir    string // <proc>/1/net
	fields fieldFilter
}

func newNetstatCollector(cfg Config) (*netstatCollector, error) {
	re, err := regexp.Compile(cfg.Netstat.Fields)
	if err != nil {
		return nil, fmt.Errorf("netstat.fields: %w", err)
	}
	return &netstatCollector{dir: filepath.Join(cfg.Proc, "1", "net"), fields: fieldFilter{re: re}}, nil
}

func (c *netstatCollector) collect(e *emitter) error {
	var all []keyValue
	for _, name := range []string{"netstat", "snmp", "snmp6"} {
		path := filepath.Join(c.dir, name)
		b, err := readFile(path)
		if name == "snmp6" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		parse := parseNetstat
		if name == "snmp6" {
			parse = parseSNMP6
		}
		kvs, err := parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		all = append(all, kvs...)
	}
	for _, kv := range all {
		if !c.fields.match(kv.key) {
			continue
		}
		e.emit(e.dyn.get("node_netstat_"+kv.key, "Statistic "+kv.help()+".", prometheus.UntypedValue), kv.val)
	}
	return nil
}

// help is node_exporter's help text of a netstat field: protocol and field
// without the underscore between them.
func (kv keyValue) help() string {
	if i := strings.IndexByte(kv.key, '_'); i >= 0 {
		return kv.key[:i] + kv.key[i+1:]
	}
	return kv.key
}

// parseNetstat reads the pairs of lines of /proc/net/netstat and
// /proc/net/snmp: "Proto: Name1 Name2 ..." then "Proto: v1 v2 ...", as
// Proto_Name1 = v1, .... A field whose name cannot be part of a metric name
// is skipped; a pair of lines that disagree is an error.
func parseNetstat(b []byte) ([]keyValue, error) {
	var out []keyValue
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) == 1 && len(lines[0]) == 0 {
		return nil, nil
	}
	if len(lines)%2 != 0 {
		return nil, fmt.Errorf("%d lines, want pairs of names and values", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		names, values := bytes.Fields(lines[i]), bytes.Fields(lines[i+1])
		if len(names) == 0 || len(names) != len(values) || !bytes.Equal(names[0], values[0]) {
			return nil, fmt.Errorf("line %d: %d names and %d values", i+1, len(names), len(values))
		}
		proto, ok := bytes.CutSuffix(names[0], []byte(":"))
		if !ok {
			return nil, fmt.Errorf("line %d: no protocol", i+1)
		}
		for j := 1; j < len(names); j++ {
			key := string(proto) + "_" + string(names[j])
			if !validMetricName(key) {
				continue
			}
			v, err := strconv.ParseFloat(string(values[j]), 64)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", key, err)
			}
			out = append(out, keyValue{key, v})
		}
	}
	return out, nil
}

// parseSNMP6 reads /proc/net/snmp6: "Ip6InReceives 123" lines, as
// Ip6_InReceives = 123. Lines without a "6" in the name are skipped, as
// node_exporter skips them.
func parseSNMP6(b []byte) ([]keyValue, error) {
	var out []keyValue
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		i := bytes.IndexByte(f[0], '6')
		if i < 0 {
			continue
		}
		key := string(f[0][:i+1]) + "_" + string(f[0][i+1:])
		if !validMetricName(key) {
			continue
		}
		v, err := strconv.ParseFloat(string(f[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", key, err)
		}
		out = append(out, keyValue{key, v})
	}
	return out, nil
}

// fieldFilter is a field expression with its answers remembered: the
// kernel's field names are a fixed set of a few hundred, and matching each
// against node_exporter's long alternation every scrape cost more than
// reading the files. At most maxFieldCache answers are kept, so a file of
// unexpected names cannot grow it without bound.
type fieldFilter struct {
	re   *regexp.Regexp
	mu   sync.Mutex
	seen map[string]bool
}

const maxFieldCache = 4096

func (f *fieldFilter) match(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.seen[key]; ok {
		return m
	}
	m := f.re.MatchString(key)
	if f.seen == nil {
		f.seen = make(map[string]bool)
	}
	if len(f.seen) < maxFieldCache {
		f.seen[key] = m
	}
	return m
}
