package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SmokeBounds are the highest ratios to the ceiling a smoke run accepts.
// They are ratios of CPU time to CPU time measured in the same run, so a
// slower or busier machine moves both sides; see bench/README.md for how
// they were chosen.
type SmokeBounds struct {
	File   float64 // ferry's CPU-s/GiB to the file sink over the ceiling's
	Kafka  float64 // the same to Kafka (kfake, lz4, acks=all)
	Steady float64 // ferry's steady CPU per line read over the ceiling's CPU per line
}

// smokeCheck is one figure of a smoke run against its bound.
type smokeCheck struct {
	name          string
	ratios        []float64 // one per round
	bound         float64
	median, worst float64
}

func (c *smokeCheck) done() {
	c.median = median(c.ratios)
	for _, r := range c.ratios {
		c.worst = max(c.worst, r)
	}
}

func (c *smokeCheck) ok() bool { return c.median <= c.bound }

// runSmoke measures the ceiling, then ferry over the corpus to the file
// sink and to Kafka rounds times (interleaved) and behind the steady writer
// steadyRounds times (file sink), and fails when the median ratio of any of
// the three to the ceiling exceeds its bound.
func runSmoke(ctx context.Context, w io.Writer, bin, ceilBin, work string, c *Corpus, ceilRuns, rounds, steadyRounds, files, rate int, warmup, window, poll, timeout time.Duration, b SmokeBounds) error {
	ceil, err := runCeiling(ceilBin, c, ceilRuns)
	if err != nil {
		return err
	}
	ceilPerLine := ceil.CPU.Seconds() / float64(ceil.Lines)
	fmt.Fprintf(w, "smoke: ceiling %.3f CPU-s/GiB, %.1f ns CPU per line (best of %d)\n", ceil.CPUPerGiB(), 1e9*ceilPerLine, ceilRuns)
	checks := []*smokeCheck{
		{name: "CPU-s/GiB to the file sink", bound: b.File},
		{name: "CPU-s/GiB to Kafka (lz4, acks=all)", bound: b.Kafka},
		{name: fmt.Sprintf("steady CPU per line (%d lines/s, %d files)", rate, files), bound: b.Steady},
	}
	for round := range rounds {
		for i, name := range []string{"file", "kafka"} {
			s, err := newSink(name, "lz4")
			if err != nil {
				return err
			}
			f, err := runCorpus(ctx, bin, work, c, s, nil, nil, poll, timeout)
			s.stop()
			if err != nil {
				return err
			}
			r := f.CPUPerGiB() / ceil.CPUPerGiB()
			checks[i].ratios = append(checks[i].ratios, r)
			fmt.Fprintf(w, "  round %d: %-40s %6.2f CPU-s/GiB = %5.1fx the ceiling; load1 %.2f\n", round+1, f.Name, f.CPUPerGiB(), r, f.Load1)
		}
	}
	for round := range steadyRounds {
		s, err := fileSink()
		if err != nil {
			return err
		}
		f, err := runSteady(ctx, bin, work, files, rate, warmup, window, s, nil)
		s.stop()
		if err != nil {
			return err
		}
		if f.ReadRate <= 0 {
			return errors.New("smoke: steady run read no line")
		}
		perLine := f.CPUPercent / 100 / f.ReadRate
		r := perLine / ceilPerLine
		checks[2].ratios = append(checks[2].ratios, r)
		fmt.Fprintf(w, "  steady %d: %.2f%% of a core for %.0f lines/s = %.0f ns per line = %5.1fx the ceiling's; load1 %.2f\n", round+1, f.CPUPercent, f.ReadRate, 1e9*perLine, r, f.Load1)
	}
	var failed []string
	fmt.Fprintf(w, "%-48s %10s %10s %8s\n", "smoke: ratio to the ceiling (median of rounds)", "median", "worst", "bound")
	for _, ch := range checks {
		ch.done()
		verdict := "ok"
		if !ch.ok() {
			verdict = "REGRESSED"
			failed = append(failed, ch.name)
		}
		fmt.Fprintf(w, "%-48s %9.1fx %9.1fx %7.1fx  %s\n", ch.name, ch.median, ch.worst, ch.bound, verdict)
	}
	if len(failed) > 0 {
		return fmt.Errorf("smoke: over the bound: %s (a regression, or a machine unlike the one the bounds were set on: see bench/README.md)", strings.Join(failed, "; "))
	}
	fmt.Fprintf(w, "smoke: all %d figures within their bounds\n", len(checks))
	return nil
}

// defaultSmokeBounds are the bounds .ci/run's smoke applies (bench/README.md
// has the measurements they come from).
var defaultSmokeBounds = SmokeBounds{File: 40, Kafka: 70, Steady: 220}
