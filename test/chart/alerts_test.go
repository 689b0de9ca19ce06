package chart

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	promqlengine "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestAlertsFire evaluates every rendered alert expression with Prometheus'
// own PromQL engine over series shaped like the agent's (one sample a
// minute), and checks on which nodes it fires: the node in trouble, and not
// its healthy or merely busy neighbours. (The rules' `for` is not part of the
// expression and is checked by checkMonitoring.)
func TestAlertsFire(t *testing.T) {
	m := render(t, "-f", filepath.Join(chartDir(t), "ci", "monitoring-values.yaml"))
	exprs := map[string]string{}
	for _, g := range m.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr.String()
		}
	}
	engine := promqltest.NewTestEngineWithOpts(t, promqlengine.EngineOpts{
		MaxSamples: promqltest.DefaultMaxSamplesPerQuery,
		Timeout:    time.Minute,
		Parser:     promql,
		// As Prometheus runs by default: no start timestamps, so a counter's
		// first sample is not a rise from zero.
	})

	for _, tc := range []struct {
		alert  string
		series string // promqltest "load 1m" lines
		at     time.Duration
		want   []string // nodes it fires for
	}{
		{
			alert: "FerryTailerStalled", at: 60 * time.Minute, want: []string{"stuck"},
			series: `
	ferry_tail_behind_bytes{node="stuck"} 100x90
	ferry_tail_lines_read_total{node="stuck", stream="stdout"} 0+0x90
	ferry_tail_backpressure_seconds_total{node="stuck"} 0+0x90
	ferry_tail_behind_bytes{node="reading"} 100x90
	ferry_tail_lines_read_total{node="reading", stream="stdout"} 0+10x90
	ferry_tail_backpressure_seconds_total{node="reading"} 0+0x90
	ferry_tail_behind_bytes{node="backpressured"} 100x90
	ferry_tail_lines_read_total{node="backpressured", stream="stdout"} 0+0x90
	ferry_tail_backpressure_seconds_total{node="backpressured"} 0+60x90
	ferry_tail_behind_bytes{node="idle"} 0x90
	ferry_tail_lines_read_total{node="idle", stream="stdout"} 0+0x90
	ferry_tail_backpressure_seconds_total{node="idle"} 0+0x90`,
		},
		{
			alert: "FerrySustainedBackpressure", at: 60 * time.Minute, want: []string{"slow-sink"},
			series: `
	ferry_tail_backpressure_seconds_total{node="slow-sink"} 0+45x90
	ferry_tail_backpressure_seconds_total{node="busy"} 0+6x90`,
		},
		{
			alert: "FerrySinkErrors", at: 60 * time.Minute, want: []string{"failing"},
			series: `
	ferry_ship_send_failures_total{node="failing"} 0+2x90
	ferry_ship_send_failures_total{node="fine"} 0+0x90`,
		},
		{
			// "first": the series is born at the first drop (value 1), which
			// increase() cannot see; "more": a series that rose; "old": a
			// drop more than an hour ago; "none": a series that never rose.
			alert: "FerryDroppingLogs", at: 80 * time.Minute, want: []string{"first", "more"},
			series: `
	ferry_ship_dropped_records_total{node="first", record="log", reason="too_large"} _x40 1x50
	ferry_ship_dropped_records_total{node="more", record="log", reason="shutdown"} 0x40 3x50
	ferry_ship_dropped_records_total{node="old", record="log", reason="too_large"} _x5 1x85
	ferry_ship_dropped_records_total{node="none", record="metric", reason="too_large"} 0x90`,
		},
		{
			alert: "FerryLostLogBytes", at: 60 * time.Minute, want: []string{"rotated-away"},
			series: `
	ferry_tail_lost_bytes_total{node="rotated-away", reason="deleted"} 0x40 4096x50
	ferry_tail_lost_bytes_total{node="fine", reason="deleted"} 0x90`,
		},
		{
			alert: "FerryLostLogFiles", at: 60 * time.Minute, want: []string{"gone-while-down"},
			series: `
	ferry_tail_lost_files_total{node="gone-while-down", reason="vanished"} 0x40 2x50
	ferry_tail_lost_files_total{node="fine", reason="vanished"} 0x90`,
		},
		{
			alert: "FerryDestinationStuck", at: 60 * time.Minute, want: []string{"stuck"},
			series: `
	ferry_ship_destination_unconfirmed_age_seconds{node="stuck", destination="metrics"} 0+60x90
	ferry_ship_destination_unconfirmed_age_seconds{node="fine", destination="logs"} 0.1x90
	ferry_ship_destination_unconfirmed_age_seconds{node="blip", destination="logs"} 0x80 400x1 0x9`,
		},
		{
			alert: "FerryCheckpointErrors", at: 60 * time.Minute, want: []string{"full-disk"},
			series: `
	ferry_tail_checkpoint_errors_total{node="full-disk"} 0+1x90
	ferry_tail_checkpoint_errors_total{node="fine"} 0x90`,
		},
		{
			alert: "FerryAgentUnavailable", at: 60 * time.Minute, want: []string{""},
			series: `
	kube_daemonset_status_number_unavailable{namespace="ferry-system", daemonset="ferry"} 1x90
	kube_daemonset_status_number_unavailable{namespace="ferry-system", daemonset="other"} 3x90
	kube_daemonset_status_number_unavailable{namespace="elsewhere", daemonset="ferry"} 2x90`,
		},
	} {
		t.Run(tc.alert, func(t *testing.T) {
			expr, ok := exprs[tc.alert]
			if !ok {
				t.Fatalf("no alert %s rendered; have %v", tc.alert, keys(exprs))
			}
			storage := promqltest.LoadedStorage(t, "load 1m"+tc.series)
			ctx := context.Background()
			q, err := engine.NewInstantQuery(ctx, storage, nil, expr, time.Unix(0, 0).Add(tc.at))
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			defer q.Close()
			res := q.Exec(ctx)
			if res.Err != nil {
				t.Fatalf("%s: %v", expr, res.Err)
			}
			vec, err := res.Vector()
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			var got []string
			for _, s := range vec {
				if n := s.Metric.Get("node"); !slices.Contains(got, n) {
					got = append(got, n)
				}
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s fires for nodes (-want +got):\n%s\nexpr:\n%s\nresult:\n%v", tc.alert, diff, expr, vec)
			}
		})
	}
	// Every rendered alert is exercised above.
	for a := range exprs {
		if !slices.Contains([]string{"FerryTailerStalled", "FerrySustainedBackpressure", "FerrySinkErrors", "FerryDroppingLogs",
			"FerryLostLogBytes", "FerryLostLogFiles", "FerryDestinationStuck", "FerryCheckpointErrors", "FerryAgentUnavailable"}, a) {
			t.Errorf("alert %s has no case in TestAlertsFire", a)
		}
	}
}
