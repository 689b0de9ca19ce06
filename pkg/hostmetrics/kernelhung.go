package hostmetrics

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var kernelHungDesc = newDesc("node_kernel_hung_tasks_total",
	"Total number of tasks that have been detected as hung since the system booted.", prometheus.CounterValue)

// kernelHungCollector reports <proc>/sys/kernel/hung_task_detect_count,
// the tasks the kernel's hung-task detector found blocked for longer than
// kernel.hung_task_timeout_secs. Kernels before 6.10 do not have the file:
// the collector then has no data (node_scrape_collector_success 0, logged
// at debug level only), as node_exporter's.
type kernelHungCollector struct{ proc string }

func (c *kernelHungCollector) collect(e *emitter) error {
	n, err := readUint(filepath.Join(c.proc, "sys", "kernel", "hung_task_detect_count"))
	if errors.Is(err, fs.ErrNotExist) {
		return noData("this kernel has no hung_task_detect_count")
	}
	if err != nil {
		return err
	}
	e.emit(kernelHungDesc, float64(n))
	return nil
}
