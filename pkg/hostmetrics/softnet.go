package hostmetrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	softnetProcessedDesc = newDesc("node_softnet_processed_total", "Number of processed packets",
		prometheus.CounterValue, "cpu")
	softnetDroppedDesc = newDesc("node_softnet_dropped_total", "Number of dropped packets",
		prometheus.CounterValue, "cpu")
	softnetSqueezedDesc = newDesc("node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota",
		prometheus.CounterValue, "cpu")
	softnetCollisionDesc = newDesc("node_softnet_cpu_collision_total", "Number of collision occur while obtaining device lock while transmitting",
		prometheus.CounterValue, "cpu")
	softnetRPSDesc = newDesc("node_softnet_received_rps_total", "Number of times cpu woken up received_rps",
		prometheus.CounterValue, "cpu")
	softnetFlowLimitDesc = newDesc("node_softnet_flow_limit_count_total", "Number of times flow limit has been reached",
		prometheus.CounterValue, "cpu")
	softnetBacklogDesc = newDesc("node_softnet_backlog_len", "Softnet backlog status",
		prometheus.GaugeValue, "cpu")
)

// softnetCollector reports <proc>/net/softnet_stat: per CPU, packets
// processed, dropped because the backlog was full, and the times the
// softirq ran out of budget (squeezed). The file is not per network
// namespace.
type softnetCollector struct{ proc string }

func (c *softnetCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	st, err := fs.NetSoftnetStat()
	if err != nil {
		return err
	}
	emitSoftnet(e, st)
	return nil
}

func emitSoftnet(e *emitter, st []procfs.SoftnetStat) {
	for _, s := range st {
		cpu := strconv.FormatUint(uint64(s.Index), 10)
		e.emit(softnetProcessedDesc, float64(s.Processed), cpu)
		e.emit(softnetDroppedDesc, float64(s.Dropped), cpu)
		e.emit(softnetSqueezedDesc, float64(s.TimeSqueezed), cpu)
		e.emit(softnetCollisionDesc, float64(s.CPUCollision), cpu)
		e.emit(softnetRPSDesc, float64(s.ReceivedRps), cpu)
		e.emit(softnetFlowLimitDesc, float64(s.FlowLimitCount), cpu)
		e.emit(softnetBacklogDesc, float64(s.SoftnetBacklogLen), cpu)
	}
}
