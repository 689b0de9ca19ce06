package hostmetrics

import (
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	entropyAvailDesc = newDesc("node_entropy_available_bits", "Bits of available entropy.", prometheus.GaugeValue)
	entropyPoolDesc  = newDesc("node_entropy_pool_size_bits", "Bits of entropy pool.", prometheus.GaugeValue)
)

// entropyCollector reports <proc>/sys/kernel/random/entropy_avail and
// poolsize. It reads those two files only, not the five procfs'
// KernelRandom reads.
type entropyCollector struct{ proc string }

func (c *entropyCollector) collect(e *emitter) error {
	dir := filepath.Join(c.proc, "sys", "kernel", "random")
	avail, err := readUint(filepath.Join(dir, "entropy_avail"))
	if err != nil {
		return err
	}
	pool, err := readUint(filepath.Join(dir, "poolsize"))
	if err != nil {
		return err
	}
	e.emit(entropyAvailDesc, float64(avail))
	e.emit(entropyPoolDesc, float64(pool))
	return nil
}
