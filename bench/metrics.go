package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one reading of the agent's /metrics.
type scrape struct {
	at  time.Time
	mfs map[string]*dto.MetricFamily
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func scrapeMetrics(ctx context.Context, addr string) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return scrape{}, fmt.Errorf("parse /metrics: %w", err)
	}
	return scrape{at: time.Now(), mfs: mfs}, nil
}

// sum adds the values of every series of a counter or gauge (the count of a
// summary) whose labels include all of match.
func (s scrape) sum(name string, match ...string) float64 {
	mf := s.mfs[name]
	if mf == nil {
		return 0
	}
	var t float64
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			t += m.GetCounter().GetValue()
		case m.Gauge != nil:
			t += m.GetGauge().GetValue()
		case m.Untyped != nil:
			t += m.GetUntyped().GetValue()
		case m.Summary != nil:
			t += float64(m.GetSummary().GetSampleCount())
		}
	}
	return t
}

func hasLabels(m *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == match[i] && lp.GetValue() == match[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

// histogram returns the cumulative buckets (with +Inf last) of a histogram
// summed over its series.
func (s scrape) histogram(name string) []bucket {
	mf := s.mfs[name]
	if mf == nil {
		return nil
	}
	byLE := map[float64]float64{}
	var total float64
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		for _, b := range h.GetBucket() {
			byLE[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		total += float64(h.GetSampleCount())
	}
	out := make([]bucket, 0, len(byLE)+1)
	for le, c := range byLE {
		if !math.IsInf(le, 1) {
			out = append(out, bucket{le, c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return append(out, bucket{math.Inf(1), total})
}

// delta is b1 - b0 bucket by bucket (the observations between two scrapes).
func delta(b1, b0 []bucket) []bucket {
	prev := map[float64]float64{}
	for _, b := range b0 {
		prev[b.le] = b.count
	}
	out := make([]bucket, len(b1))
	for i, b := range b1 {
		out[i] = bucket{b.le, b.count - prev[b.le]}
	}
	return out
}

// quantile is Prometheus' histogram_quantile over cumulative buckets sorted
// by upper bound with +Inf last: linear interpolation inside the bucket that
// holds the rank; a rank in the +Inf bucket gives the highest finite bound.
// NaN when there are no observations.
func quantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(bs), func(i int) bool { return bs[i].count >= rank })
	if i >= len(bs)-1 {
		if len(bs) < 2 {
			return math.NaN()
		}
		return bs[len(bs)-2].le
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bs[i-1].le, bs[i-1].count
	} else if bs[0].le <= 0 {
		return bs[0].le
	}
	inBucket := bs[i].count - below
	if inBucket <= 0 {
		return bs[i].le
	}
	return lower + (bs[i].le-lower)*(rank-below)/inBucket
}
