package e2eharness

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricsSumAndBalance(t *testing.T) {
	m := ParseMetrics(`# HELP ferry_tail_lines_read_total x
# TYPE ferry_tail_lines_read_total counter
ferry_tail_lines_read_total{stream="stderr"} 3
ferry_tail_lines_read_total{stream="stdout"} 7
ferry_ship_records_sent_total{record="log"} 8
ferry_ship_records_sent_total{record="metric"} 100
ferry_ship_dropped_records_total{reason="too_large",record="log"} 2
ferry_ship_dropped_records_total{reason="shutdown",record="metric"} 5
ferry_tail_inflight_bytes 0
go_gc_duration_seconds{quantile="0.5"} 1.5e-05
`)
	got := BalanceOf(m)
	if diff := cmp.Diff(Balance{Read: 10, Sent: 8, Dropped: 2}, got); diff != "" {
		t.Errorf("balance (-want +got):\n%s", diff)
	}
	if !got.Balanced() {
		t.Errorf("%s: not balanced", got)
	}
	if s := m.Sum("ferry_ship_records_sent_total"); s != 108 {
		t.Errorf("sum over every label: %v", s)
	}
	if s := m.Sum("ferry_tail_lines_read"); s != 0 {
		t.Errorf("a name prefix matched: %v", s)
	}
	m["ferry_tail_inflight_bytes"] = 10
	if BalanceOf(m).Balanced() {
		t.Error("balanced with bytes in flight")
	}
}

func TestAgentConfigYAML(t *testing.T) {
	y := AgentConfig{Root: "/r", StateDir: "/s", Broker: "127.0.0.1:9", Listen: "127.0.0.1:8", QueueBytes: 1 << 20,
		Logs: []string{"delete_wait: 1s"}}.YAML()
	for _, want := range []string{`state_dir: "/s"`, `include: ["/r/*/*/*.log"]`, "  delete_wait: 1s\n",
		"memory: {queue_bytes: 1048576}", `brokers: ["127.0.0.1:9"]`, `http: {listen: "127.0.0.1:8"}`} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
}
