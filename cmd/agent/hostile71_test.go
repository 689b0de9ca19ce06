package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeFamilies fetches /metrics and parses its text exposition.
func scrapeFamilies(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("/metrics does not parse: %w", err)
	}
	return mfs, nil
}

// TestHostile71ReadToAckThroughAgent: the agent's /metrics, scraped
// without pause while lines are read and shipped, exposes
// ferry_read_to_ack_seconds as a histogram whose buckets never exceed its
// count; once every line is in the sink, its count is the log records the
// sink confirmed (each tailed line has a read time), its +Inf bucket the
// count, its sum finite and not negative.
func TestHostile71ReadToAckThroughAgent(t *testing.T) {
	const lines = 3000
	addr, sink, _, _, stop := inProcess(t, lines, nil)
	var scrapes atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			mfs, err := scrapeFamilies(addr)
			if err != nil {
				t.Error(err)
				return
			}
			if h := mfs["ferry_read_to_ack_seconds"]; h != nil {
				if err := checkHistogram(h); err != nil {
					t.Error(err)
				}
			}
			scrapes.Add(1)
		}
	}()
	waitFor(t, 30*time.Second, "every line in the sink, and five scrapes", func() bool {
		return countLines(sink) >= lines && scrapes.Load() >= 5
	})
	close(done)
	wg.Wait()
	// /metrics answers from a snapshot a few moments old (the shared
	// gatherer): scrape until it shows every line confirmed.
	var count uint64
	var sent float64
	waitFor(t, 10*time.Second, "/metrics showing every line confirmed", func() bool {
		mfs, err := scrapeFamilies(addr)
		if err != nil {
			t.Fatal(err)
		}
		h := mfs["ferry_read_to_ack_seconds"]
		if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("ferry_read_to_ack_seconds: %v", h)
		}
		if err := checkHistogram(h); err != nil {
			t.Error(err)
		}
		count = h.GetMetric()[0].GetHistogram().GetSampleCount()
		for _, m := range mfs["ferry_ship_records_sent_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "record" && l.GetValue() == "log" {
					sent = m.GetCounter().GetValue()
				}
			}
		}
		return sent >= lines
	})
	if float64(count) != sent {
		t.Errorf("read-to-ack counts %d lines, the sink confirmed %v log records (%d lines written)", count, sent, lines)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// checkHistogram checks the one histogram series of mf: buckets
// cumulative within the count, a sum neither negative nor NaN.
func checkHistogram(mf *dto.MetricFamily) error {
	if len(mf.GetMetric()) != 1 {
		return fmt.Errorf("%d series of %s", len(mf.GetMetric()), mf.GetName())
	}
	h := mf.GetMetric()[0].GetHistogram()
	prev := uint64(0)
	for _, b := range h.GetBucket() {
		if c := b.GetCumulativeCount(); c < prev || c > h.GetSampleCount() {
			return fmt.Errorf("bucket le %v: %d after %d, count %d", b.GetUpperBound(), c, prev, h.GetSampleCount())
		}
		prev = b.GetCumulativeCount()
	}
	if s := h.GetSampleSum(); s < 0 || math.IsNaN(s) {
		return fmt.Errorf("sum %v", s)
	}
	return nil
}
