package hostmetrics

import (
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkGatherLive is one full collection (all collectors) of this
// machine's /proc and /sys, with real statfs calls.
func BenchmarkGatherLive(b *testing.B) {
	c, err := New(DefaultConfig(), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(c.gather())
	}
	b.ReportMetric(float64(n), "samples/op")
}

// BenchmarkGatherFixture is one full collection of the fixture tree (15
// CPUs, 5 disks, 6 interfaces, 12 reported mounts).
func BenchmarkGatherFixture(b *testing.B) {
	c := newFixture(b, fixtureConfig(b), nil, Options{})
	b.ReportAllocs()
	for b.Loop() {
		c.gather()
	}
}

// BenchmarkSnapshotLive adds the conversion to event.Snapshot (the sink's
// outlet).
func BenchmarkSnapshotLive(b *testing.B) {
	c, err := New(DefaultConfig(), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		c.Snapshot()
	}
	// Collectors run concurrently, so wall time per op understates the
	// CPU spent: report process CPU time (user+system) as well, and what
	// it comes to per hour at the default 15 s interval.
	perOp := float64(cpuTime(b)-before) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ns/op")
	b.ReportMetric(perOp*3600/15/1e9, "cpu-s/h@15s")
}

// cpuTime is the CPU time (user+system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrapeLive adds the conversion to Prometheus metrics and a
// registry's Gather (the /metrics outlet, before text encoding).
func BenchmarkScrapeLive(b *testing.B) {
	reg := prometheus.NewRegistry()
	if _, err := New(DefaultConfig(), nil, Options{Registerer: reg}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectorLive is each collector alone on this machine, with the
// process CPU time (user+system) it costs per collection.
func BenchmarkCollectorLive(b *testing.B) {
	c, err := New(DefaultConfig(), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range c.parts {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			e := emitter{dyn: &c.dyn}
			before := cpuTime(b)
			for b.Loop() {
				e.samples = e.samples[:0]
				p.src.collect(&e)
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkNetclassLive is netclass on this machine's /sys with the link
// dump (once it matched sysfs, as with hostNetwork) and with sysfs alone
// (as in a pod of its own network namespace, or where netlink fails).
func BenchmarkNetclassLive(b *testing.B) {
	for _, bc := range []struct {
		name string
		dump func() ([]nlLink, error)
	}{{"netlink", dumpLinks}, {"sysfs", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			c := &netclassCollector{sys: "/sys", dump: bc.dump}
			e := emitter{dyn: &descCache{}}
			if err := c.collect(&e); err != nil {
				b.Fatal(err)
			}
			if bc.dump != nil && !c.nl.verified.Load() {
				b.Fatal("the link dump does not match sysfs here")
			}
			b.ReportAllocs()
			before := cpuTime(b)
			for b.Loop() {
				e.samples = e.samples[:0]
				if err := c.collect(&e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
