package hostmetrics

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
)

// vmstatCollector reports the <proc>/vmstat fields matching the configured
// expression as node_vmstat_<field>, untyped as in node_exporter (shipped
// as gauges).
type vmstatCollector struct {
	path   string
	fields *fieldCache
}

func newVMStatCollector(cfg Config) (*vmstatCollector, error) {
	re, err := regexp.Compile(cfg.VMStat.Fields)
	if err != nil {
		return nil, fmt.Errorf("vmstat.fields: %w", err)
	}
	return &vmstatCollector{path: filepath.Join(cfg.Proc, "vmstat"), fields: newFieldCache(re, func(key string) (string, string) {
		return "node_vmstat_" + key, "/proc/vmstat information field " + key + "."
	})}, nil
}

func (c *vmstatCollector) collect(e *emitter) error {
	c.fields.mu.Lock()
	defer c.fields.mu.Unlock()
	return withFile(c.path, func(b []byte) error {
		if err := walkVMStat(b, func(name, value []byte) error { return c.fields.emit(e, name, value) }); err != nil {
			return fmt.Errorf("%s: %w", c.path, err)
		}
		return nil
	})
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
	err := walkVMStat(b, func(name, value []byte) (err error) {
		out, err = appendKeyValue(out, string(name), value) // netstat.go
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkVMStat calls fn with the name and value of each line.
func walkVMStat(b []byte, fn func(name, value []byte) error) error {
	var f [][]byte
	for line := range bytes.Lines(b) {
		f = appendFields(f[:0], line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return fmt.Errorf("malformed line %q", bytes.TrimSpace(line))
		}
		if err := fn(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}
