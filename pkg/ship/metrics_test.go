package ship

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRunHistogramMatchesPrometheus: values observed in runs (observeN)
// gather as prometheus's own histogram gathers them observed one by one:
// the same cumulative buckets (a value on a bound is in that bound's
// bucket), count and sum.
func TestRunHistogramMatchesPrometheus(t *testing.T) {
	bounds := prometheus.ExponentialBuckets(0.005, 2.5, 12)
	runs := newRunHistogram("x_seconds", "x", bounds)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Help: "x", Buckets: bounds})
	values := []float64{0, 0.001, 0.005, 0.0051, bounds[3], bounds[11], bounds[11] * 2, 1e9, 0.3}
	for i, v := range values {
		n := uint64(i%4 + 1)
		runs.observeN(v, n)
		for range n {
			ref.Observe(v)
		}
	}
	runs.observeN(0.2, 0) // an empty run observes nothing
	got, want := &dto.Metric{}, &dto.Metric{}
	if err := collectOne(runs).Write(got); err != nil {
		t.Fatal(err)
	}
	if err := ref.Write(want); err != nil {
		t.Fatal(err)
	}
	g, w := got.GetHistogram(), want.GetHistogram()
	if g.GetSampleCount() != w.GetSampleCount() || math.Abs(g.GetSampleSum()-w.GetSampleSum()) > 1e-6 {
		t.Errorf("count %d sum %v, want %d and %v", g.GetSampleCount(), g.GetSampleSum(), w.GetSampleCount(), w.GetSampleSum())
	}
	if len(g.GetBucket()) != len(w.GetBucket()) {
		t.Fatalf("%d buckets, want %d", len(g.GetBucket()), len(w.GetBucket()))
	}
	for i := range w.GetBucket() {
		gb, wb := g.GetBucket()[i], w.GetBucket()[i]
		if gb.GetUpperBound() != wb.GetUpperBound() || gb.GetCumulativeCount() != wb.GetCumulativeCount() {
			t.Errorf("bucket %d: le %v count %d, want le %v count %d", i, gb.GetUpperBound(), gb.GetCumulativeCount(), wb.GetUpperBound(), wb.GetCumulativeCount())
		}
	}
}

// collectOne returns the one metric c collects.
func collectOne(c prometheus.Collector) prometheus.Metric {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	return <-ch
}
