package e2eharness

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// Processing: lines merged into a grouped record, and records a filter
	// dropped, are accounted for too.
	m["ferry_tail_inflight_bytes"] = 0
	m[`ferry_tail_lines_read_total{stream="stdout"}`] = 9 // 3 + 9 read
	m["ferry_process_multiline_merged_lines_total"] = 1
	m[`ferry_process_dropped_total{rule="debug"}`] = 1
	if got := BalanceOf(m); got != (Balance{Read: 12, Sent: 8, Dropped: 3, Merged: 1}) || !got.Balanced() {
		t.Errorf("with processing: %s, balanced %v", got, got.Balanced())
	}
}

func TestAgentConfigYAML(t *testing.T) {
	y := AgentConfig{Root: "/r", StateDir: "/s", Broker: "127.0.0.1:9", Listen: "127.0.0.1:8", QueueBytes: 1 << 20,
		Logs: []string{"delete_wait: 1s"}, Processing: "{multiline: {rule: java}}"}.YAML()
	for _, want := range []string{`state_dir: "/s"`, `include: ["/r/*/*/*.log"]`, "  delete_wait: 1s\n",
		"memory: {queue_bytes: 1048576}", `brokers: ["127.0.0.1:9"]`, `http: {listen: "127.0.0.1:8"}`,
		"processing: {multiline: {rule: java}}\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
	if !strings.Contains(y, "log: {level: info,") {
		t.Errorf("config without LogLevel does not log at info:\n%s", y)
	}
	if y := (AgentConfig{LogLevel: "debug"}).YAML(); !strings.Contains(y, "log: {level: debug,") {
		t.Errorf("LogLevel debug not in the config:\n%s", y)
	}
}

func TestMain(m *testing.M) { Main(m) }

// TestAgentStartsOnAnotherPortIfTaken: the HTTP port picked for an agent is
// taken by another process before it starts (soaks run test processes side
// by side, and the kernel hands the same ports out for outgoing
// connections): Start starts it on another port, not fail the test. The
// process on the port may never answer, or answer /healthz with 200 as
// another soak's agent does: that answer is not this agent's start.
func TestAgentStartsOnAnotherPortIfTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent")
	}
	for _, answers := range []bool{false, true} {
		t.Run(map[bool]string{false: "a listener", true: "another agent"}[answers], func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "pods")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			a := NewAgent(t, dir, AgentConfig{Root: root, StateDir: filepath.Join(dir, "state"), Broker: "127.0.0.1:9"})
			taken := a.Addr
			ln, err := net.Listen("tcp", taken)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if answers {
				other := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte("ok"))
				})}
				go func() { _ = other.Serve(ln) }()
				defer other.Close()
			}
			p := a.Start()
			if a.Addr == taken {
				t.Fatalf("agent still at %s, the port taken", taken)
			}
			if !p.serves(a.Addr) {
				t.Fatalf("agent's log does not say it serves on %s:\n%s", a.Addr, p.Output())
			}
			if c, body := a.Get("/healthz"); c != 200 {
				t.Fatalf("/healthz at %s: %d %.200s", a.Addr, c, body)
			}
			if err := p.Term(10 * time.Second); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
		})
	}
}
