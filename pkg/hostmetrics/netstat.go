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
	"unicode/utf8"

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
	paths  [3]string // <proc>/1/net/{netstat,snmp,snmp6}
	fields *fieldCache
}

func newNetstatCollector(cfg Config) (*netstatCollector, error) {
	re, err := regexp.Compile(cfg.Netstat.Fields)
	if err != nil {
		return nil, fmt.Errorf("netstat.fields: %w", err)
	}
	dir := filepath.Join(cfg.Proc, "1", "net")
	return &netstatCollector{
		paths: [3]string{filepath.Join(dir, "netstat"), filepath.Join(dir, "snmp"), filepath.Join(dir, "snmp6")},
		fields: newFieldCache(re, func(key string) (string, string) {
			return "node_netstat_" + key, "Statistic " + keyValue{key: key}.help() + "."
		}),
	}, nil
}

func (c *netstatCollector) collect(e *emitter) error {
	c.fields.mu.Lock()
	defer c.fields.mu.Unlock()
	for k, path := range c.paths {
		walk := walkNetstat
		if k == 2 {
			walk = walkSNMP6
		}
		var key []byte
		err := withFile(path, func(b []byte) error {
			err := walk(b, func(proto, name, value []byte) error {
				key = append(append(append(key[:0], proto...), '_'), name...)
				return c.fields.emit(e, key, value)
			})
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		})
		if k == 2 && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
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
func parseNetstat(b []byte) ([]keyValue, error) { return collectKeyValues(b, walkNetstat) }

// parseSNMP6 reads /proc/net/snmp6: "Ip6InReceives 123" lines, as
// Ip6_InReceives = 123. Lines without a "6" in the name are skipped, as
// node_exporter skips them.
func parseSNMP6(b []byte) ([]keyValue, error) { return collectKeyValues(b, walkSNMP6) }

// collectKeyValues is what walk finds, with the rules of fieldCache.emit:
// names that cannot be part of a metric name skipped, values that are not
// numbers an error.
func collectKeyValues(b []byte, walk func([]byte, func(proto, name, value []byte) error) error) ([]keyValue, error) {
	var out []keyValue
	err := walk(b, func(proto, name, value []byte) (err error) {
		out, err = appendKeyValue(out, string(proto)+"_"+string(name), value)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendKeyValue appends key and its value to out. A key that cannot be
// part of a metric name is skipped; a value that is not a number is an
// error (the file is not what we think it is).
func appendKeyValue(out []keyValue, key string, value []byte) ([]keyValue, error) {
	if !validMetricName(key) {
		return out, nil
	}
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		return out, fmt.Errorf("field %s: %w", key, err)
	}
	return append(out, keyValue{key, v}), nil
}

// walkNetstat calls fn with each protocol, field name and value of
// /proc/net/netstat or snmp, in file order.
func walkNetstat(b []byte, fn func(proto, name, value []byte) error) error {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return nil
	}
	if bytes.Count(b, []byte("\n"))%2 == 0 {
		return fmt.Errorf("%d lines, want pairs of names and values", bytes.Count(b, []byte("\n"))+1)
	}
	var names, values [][]byte
	for i := 0; len(b) > 0; i += 2 {
		var nl, vl []byte
		nl, b, _ = bytes.Cut(b, []byte("\n"))
		vl, b, _ = bytes.Cut(b, []byte("\n"))
		names, values = appendFields(names[:0], nl), appendFields(values[:0], vl)
		if len(names) == 0 || len(names) != len(values) || !bytes.Equal(names[0], values[0]) {
			return fmt.Errorf("line %d: %d names and %d values", i+1, len(names), len(values))
		}
		proto, ok := bytes.CutSuffix(names[0], []byte(":"))
		if !ok {
			return fmt.Errorf("line %d: no protocol", i+1)
		}
		for j := 1; j < len(names); j++ {
			if err := fn(proto, names[j], values[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkSNMP6 calls fn with each protocol ("Ip6", "Icmp6", "Udp6", ...),
// field name and value of /proc/net/snmp6.
func walkSNMP6(b []byte, fn func(proto, name, value []byte) error) error {
	var f [][]byte
	for line := range bytes.Lines(b) {
		f = appendFields(f[:0], line)
		if len(f) < 2 {
			continue
		}
		i := bytes.IndexByte(f[0], '6')
		if i < 0 {
			continue
		}
		if err := fn(f[0][:i+1], f[0][i+1:], f[1]); err != nil {
			return err
		}
	}
	return nil
}

// appendFields is bytes.Fields into dst, without allocating for lines of
// ASCII.
func appendFields(dst [][]byte, s []byte) [][]byte {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return append(dst, bytes.Fields(s)...)
		}
	}
	for {
		i := 0
		for i < len(s) && asciiSpace[s[i]] {
			i++
		}
		s = s[i:]
		if len(s) == 0 {
			return dst
		}
		j := 0
		for j < len(s) && !asciiSpace[s[j]] {
			j++
		}
		dst = append(dst, s[:j:j])
		s = s[j:]
	}
}

// asciiSpace is unicode.IsSpace for ASCII, as bytes.Fields uses it.
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// fieldCache is a field expression with its answers remembered, and each
// matching field's metric description: the kernel's field names are a
// fixed set of a few hundred, and matching each against node_exporter's
// long alternation every scrape cost more than reading the files. At most
// maxFieldCache names are kept, so a file of unexpected names cannot grow
// it without bound. The caller holds mu.
type fieldCache struct {
	re    *regexp.Regexp
	names func(key string) (name, help string)
	mu    sync.Mutex
	seen  map[string]*fieldInfo
}

type fieldInfo struct {
	key          string
	valid, match bool
	d            *desc // set on first use
}

const maxFieldCache = 4096

func newFieldCache(re *regexp.Regexp, names func(key string) (name, help string)) *fieldCache {
	return &fieldCache{re: re, names: names, seen: make(map[string]*fieldInfo)}
}

// emit emits the field key = value if key matches. A key that cannot be
// part of a metric name is skipped; a value that is not a number is an
// error, matched or not.
func (f *fieldCache) emit(e *emitter, key, value []byte) error {
	fi, ok := f.seen[string(key)]
	if !ok {
		k := string(key)
		fi = &fieldInfo{key: k, valid: validMetricName(k)}
		fi.match = fi.valid && f.re.MatchString(k)
		if len(f.seen) < maxFieldCache {
			f.seen[k] = fi
		}
	}
	if !fi.valid {
		return nil
	}
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		return fmt.Errorf("field %s: %w", fi.key, err)
	}
	if fi.match {
		if fi.d == nil {
			name, help := f.names(fi.key)
			fi.d = e.dyn.get(name, help, prometheus.UntypedValue)
		}
		e.emit(fi.d, v)
	}
	return nil
}
