package hostmetrics

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	filefdAllocDesc = newDesc("node_filefd_allocated", "File descriptor statistics: allocated.", prometheus.GaugeValue)
	filefdMaxDesc   = newDesc("node_filefd_maximum", "File descriptor statistics: maximum.", prometheus.GaugeValue)
)

// filefdCollector reports <proc>/sys/fs/file-nr.
type filefdCollector struct{ proc string }

func (c *filefdCollector) collect(e *emitter) error {
	path := filepath.Join(c.proc, "sys", "fs", "file-nr")
	b, err := readFile(path)
	if err != nil {
		return err
	}
	alloc, maxFDs, err := parseFileNR(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	e.emit(filefdAllocDesc, alloc)
	e.emit(filefdMaxDesc, maxFDs)
	return nil
}

// parseFileNR reads "allocated unused maximum" (unused is always 0 since
// Linux 2.6).
func parseFileNR(b []byte) (allocated, maximum float64, err error) {
	f := bytes.Fields(b)
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("want 3 fields, got %d", len(f))
	}
	if allocated, err = strconv.ParseFloat(string(f[0]), 64); err != nil {
		return 0, 0, fmt.Errorf("allocated: %w", err)
	}
	if maximum, err = strconv.ParseFloat(string(f[2]), 64); err != nil {
		return 0, 0, fmt.Errorf("maximum: %w", err)
	}
	return allocated, maximum, nil
}
