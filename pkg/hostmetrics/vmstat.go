package hostmetrics

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// vmstatCollector reports the <proc>/vmstat fields matching the configured
// expression as node_vmstat_<field>, untyped as in node_exporter (shipped
// as gauges).
type vmstatCollector struct {
	path   string
	fields *regexp.Regexp
}

func newVMStatCollector(cfg Config) (*vmstatCollector, error) {
	re, err := regexp.Compile(cfg.VMStat.Fields)
	if err != nil {
		return nil, fmt.Errorf("vmstat.fields: %w", err)
	}
	return &vmstatCollector{path: filepath.Join(cfg.Proc, "vmstat"), fields: re}, nil
}

func (c *vmstatCollector) collect(e *emitter) error {
	b, err := readFile(c.path)
	if err != nil {
		return err
	}
	kvs, err := parseVMStat(b)
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	for _, kv := range kvs {
		if !c.fields.MatchString(kv.key) {
			continue
		}
		d := e.dyn.get("node_vmstat_"+kv.key, "/proc/vmstat information field "+kv.key+".", prometheus.UntypedValue)
		e.emit(d, kv.val)
	}
	return nil
}

type keyValue struct {
	key string
	val float64
}

// parseVMStat reads "name value" lines. A line with a name that cannot be
// part of a metric name is skipped; a line with a value that is not a
// number is an error (the file is not what we think it is).
func parseVMStat(b []byte) ([]keyValue, error) {
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
