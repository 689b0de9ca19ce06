package hostmetrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// The parsers as they were before they became walks (netstat.go, vmstat.go
// at e8914b1), to hold the walks to the same results and errors.

func refParseNetstat(b []byte) ([]keyValue, error) {
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
func refParseSNMP6(b []byte) ([]keyValue, error) {
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

func refParseVMStat(b []byte) ([]keyValue, error) {
	out := make([]keyValue, 0, 200)
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("malformed line %q", bytes.TrimSpace(line))
		}
		name := string(f[0])
		if !validMetricName(name) {
			continue
		}
		v, err := strconv.ParseFloat(string(f[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		out = append(out, keyValue{name, v})
	}
	return out, nil
}

// FuzzParsersMatchBefore: parseNetstat, parseSNMP6 and parseVMStat give
// what they gave before the walks, error or not, for any bytes.
func FuzzParsersMatchBefore(f *testing.F) {
	for _, name := range []string{"testdata/proc/1/net/netstat", "testdata/proc/1/net/snmp",
		"testdata/proc/1/net/snmp6", "testdata/proc/vmstat"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Tcp: A B\nTcp: 1 x\n"))
	f.Add([]byte("Ip6InReceives 1\nUdp6 2 3\n\u00a0Icmp6X\u00851\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []struct {
			name     string
			got, ref func([]byte) ([]keyValue, error)
		}{{"netstat", parseNetstat, refParseNetstat}, {"snmp6", parseSNMP6, refParseSNMP6},
			{"vmstat", parseVMStat, refParseVMStat}} {
			got, gerr := p.got(b)
			want, werr := p.ref(b)
			// Printed, not reflect.DeepEqual: a NaN value equals itself.
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s of %q: %v, %v; before: %v, %v", p.name, b, got, gerr, want, werr)
			}
		}
	})
}
