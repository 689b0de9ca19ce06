package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
)

var (
	scrapeDurationDesc = newDesc("node_scrape_collector_duration_seconds",
		"node_exporter: Duration of a collector scrape.", prometheus.GaugeValue, "collector")
	scrapeSuccessDesc = newDesc("node_scrape_collector_success",
		"node_exporter: Whether a collector succeeded.", prometheus.GaugeValue, "collector")
)

// source is one collector: it reads its files and emits samples. It must be
// safe to call from several goroutines at once (a scrape can overlap a
// snapshot).
type source interface {
	collect(e *emitter) error
}

// part is a named, enabled source and whether it is currently failing (so
// that a failure is logged once, not on every collection).
type part struct {
	name    string
	src     source
	failing atomic.Bool
}

// Options are the run-time dependencies of a Collector.
type Options struct {
	// Node is the node name stamped on snapshots.
	Node string
	// Out receives one snapshot per interval from Run, which closes it when
	// it returns. It must be buffered; when it is full the oldest snapshot
	// in it is dropped and counted. Nil if only the Prometheus side is used.
	Out chan event.Snapshot
	// Registerer, if not nil, gets the scrape-time collector (node_*
	// families) and the ferry_hostmetrics_* self metrics.
	Registerer prometheus.Registerer
}

// Collector reads host metrics from /proc and /sys. It is a
// prometheus.Collector (collecting at scrape time) and, through Run, a
// source of periodic event.Snapshots. Both outlets share one gather path.
type Collector struct {
	cfg     Config
	logger  *slog.Logger
	node    string
	out     chan event.Snapshot
	maxHeld int
	parts   []*part
	dyn     descCache
	seed    maphash.Seed
	last    atomic.Int64 // samples in the previous collection, to size the next

	snapshots prometheus.Counter
	dropped   prometheus.Counter
}

var _ prometheus.Collector = (*Collector)(nil)

// New validates cfg and builds a Collector. It starts no goroutines and
// reads no files: a source that is missing shows up at collection time as
// node_scrape_collector_success 0 and one warning. With a Registerer, it
// registers the collector and the ferry_hostmetrics_* counters on it.
func New(cfg Config, logger *slog.Logger, opts Options) (*Collector, error) {
	return newCollector(cfg, logger, opts, hooks{statfs: statfs, machine: machine, pageSize: os.Getpagesize(),
		now: time.Now, adjtimex: adjtimex})
}

// hooks are what tests replace: statfs (to make a mount hang), and
// uname's machine field, the page size, the clock and adjtimex(2) (to make
// fixtures independent of the machine).
type hooks struct {
	statfs   statfsFunc
	machine  func() (string, error)
	pageSize int
	now      func() time.Time
	adjtimex func() (int, timex, error)
}

func newCollector(cfg Config, logger *slog.Logger, opts Options, h hooks) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out != nil && cap(opts.Out) == 0 {
		return nil, errors.New("Options.Out must be a buffered channel")
	}
	c := &Collector{
		cfg:     cfg,
		logger:  logger.With("component", "hostmetrics"),
		node:    opts.Node,
		out:     opts.Out,
		maxHeld: cfg.MaxHeldSnapshots,
		seed:    maphash.MakeSeed(),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_hostmetrics_snapshots_total",
			Help: "Host metric snapshots taken for the sink.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_hostmetrics_snapshots_dropped_total",
			Help: "Host metric snapshots dropped, oldest first, because the sink did not take them in time.",
		}),
	}
	if opts.Out != nil && cap(opts.Out) < c.maxHeld {
		c.maxHeld = cap(opts.Out)
	}
	parts, err := buildParts(cfg, h)
	if err != nil {
		return nil, err
	}
	c.parts = parts
	for _, p := range parts {
		if n, ok := p.src.(*netclassCollector); ok {
			n.log = c.logger
		}
	}
	if opts.Registerer != nil {
		for _, col := range []prometheus.Collector{c, c.snapshots, c.dropped} {
			if err := opts.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return c, nil
}

func buildParts(cfg Config, h hooks) ([]*part, error) {
	var parts []*part
	add := func(on bool, name string, src source) {
		if on {
			parts = append(parts, &part{name: name, src: src})
		}
	}
	cc := cfg.Collectors
	add(cc.CPU, "cpu", newCPUCollector(cfg.Proc, cfg.Sys))
	add(cc.Meminfo, "meminfo", &meminfoCollector{proc: cfg.Proc})
	add(cc.Loadavg, "loadavg", &loadavgCollector{proc: cfg.Proc})
	if cc.Diskstats {
		d, err := newDiskstatsCollector(cfg)
		if err != nil {
			return nil, err
		}
		add(true, "diskstats", d)
	}
	if cc.Netdev {
		n, err := newNetdevCollector(cfg)
		if err != nil {
			return nil, err
		}
		add(true, "netdev", n)
	}
	if cc.Filesystem {
		f, err := newFilesystemCollector(cfg, h.statfs)
		if err != nil {
			return nil, err
		}
		add(true, "filesystem", f)
	}
	add(cc.Pressure, "pressure", &pressureCollector{proc: cfg.Proc})
	if cc.VMStat {
		v, err := newVMStatCollector(cfg)
		if err != nil {
			return nil, err
		}
		add(true, "vmstat", v)
	}
	add(cc.Stat, "stat", &statCollector{proc: cfg.Proc})
	add(cc.FileFD, "filefd", &filefdCollector{proc: cfg.Proc})
	add(cc.Uname, "uname", &unameCollector{proc: cfg.Proc, machine: h.machine})
	add(cc.Sockstat, "sockstat", &sockstatCollector{proc: cfg.Proc, pageSize: h.pageSize})
	add(cc.Conntrack, "conntrack", &conntrackCollector{proc: cfg.Proc})
	add(cc.Netclass, "netclass", &netclassCollector{sys: cfg.Sys, dump: dumpLinks})
	if cc.Netstat {
		n, err := newNetstatCollector(cfg)
		if err != nil {
			return nil, err
		}
		add(true, "netstat", n)
	}
	add(cc.Softnet, "softnet", &softnetCollector{proc: cfg.Proc})
	add(cc.Schedstat, "schedstat", &schedstatCollector{proc: cfg.Proc})
	add(cc.Time, "time", &timeCollector{sys: cfg.Sys, now: h.now})
	add(cc.Timex, "timex", &timexCollector{adjtimex: h.adjtimex})
	add(cc.Entropy, "entropy", &entropyCollector{proc: cfg.Proc})
	add(cc.Cpufreq, "cpufreq", &cpufreqCollector{sys: cfg.Sys})
	add(cc.Thermal, "thermal_zone", &thermalZoneCollector{sys: cfg.Sys})
	add(cc.OS, "os", &osCollector{rootfs: cfg.RootFS})
	add(cc.ARP, "arp", &arpCollector{proc: cfg.Proc})
	add(cc.UDPQueues, "udp_queues", &udpQueuesCollector{proc: cfg.Proc})
	add(cc.KernelHung, "kernel_hung", &kernelHungCollector{proc: cfg.Proc})
	add(cc.SELinux, "selinux", &selinuxCollector{proc: cfg.Proc, sys: cfg.Sys, rootfs: cfg.RootFS})
	add(cc.Hwmon, "hwmon", &hwmonCollector{sys: cfg.Sys})
	return parts, nil
}

// Describe sends nothing: the families depend on what the host has (vmstat
// fields, sockstat protocols, meminfo fields of this kernel), so this is an
// unchecked collector, as node_exporter's is in effect.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect gathers every enabled collector now and sends the result.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if !c.cfg.Enabled {
		return
	}
	for _, s := range c.gather() {
		m, err := prometheus.NewConstMetric(s.d.pd, s.d.vt, s.v, s.lv...)
		if err != nil {
			c.logger.Debug("host metric left out", "metric", s.d.name, "err", err)
			continue
		}
		ch <- m
	}
}

// Snapshot gathers every enabled collector now and returns the result as
// one event.Snapshot, the form Run hands to the sink.
func (c *Collector) Snapshot() event.Snapshot {
	now := time.Now()
	var samples []sample
	if c.cfg.Enabled {
		samples = c.gather()
	}
	return toSnapshot(now, c.node, samples)
}

func toSnapshot(t time.Time, node string, samples []sample) event.Snapshot {
	n := 0
	for _, s := range samples {
		n += len(s.lv)
	}
	labels := make([]event.Label, 0, n) // one backing array for all labels
	ms := make([]event.Metric, len(samples))
	for i, s := range samples {
		start := len(labels)
		for j, v := range s.lv {
			labels = append(labels, event.Label{Name: s.d.labels[j], Value: v})
		}
		ms[i] = event.Metric{Name: s.d.name, Labels: labels[start:len(labels):len(labels)], Value: s.v, Type: s.d.eventType()}
		if len(s.lv) == 0 {
			ms[i].Labels = nil
		}
	}
	return event.Snapshot{Time: t, Node: node, Metrics: ms}
}

// gatherWorkers is how many goroutines run the collectors of one gather.
// One fresh goroutine per collector (28) grew 28 stacks every gather: 4%
// of a snapshot's CPU in runtime.newstack on the reference machine, 1.5%
// with four.
const gatherWorkers = 4

type partResult struct {
	samples []sample
	dur     time.Duration
	err     error
}

// gather runs the enabled collectors on gatherWorkers goroutines that
// take them in turn, so a slow one (a filesystem waiting out its statfs
// timeout) holds one goroutine while the others go on (as long as fewer
// than gatherWorkers are slow at once), and returns their
// samples followed by the scrape duration and success of each.
func (c *Collector) gather() []sample {
	res := make([]partResult, len(c.parts))
	var wg sync.WaitGroup
	var next atomic.Int64
	shared := new(gatherShared)
	for range min(gatherWorkers, len(c.parts)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(c.parts)); i = next.Add(1) - 1 {
				res[i] = c.runPart(c.parts[i], shared)
			}
		})
	}
	wg.Wait()

	out := make([]sample, 0, c.last.Load()+int64(2*len(c.parts)))
	for i := range c.parts {
		out = append(out, res[i].samples...)
	}
	out = c.dedup(out)
	for i, p := range c.parts {
		ok := 1.0
		if res[i].err != nil {
			ok = 0
		}
		lv := []string{p.name}
		out = append(out,
			sample{d: scrapeDurationDesc, lv: lv, v: res[i].dur.Seconds()},
			sample{d: scrapeSuccessDesc, lv: lv, v: ok})
	}
	c.last.Store(int64(len(out)))
	return out
}

// runPart runs one collector, turning a panic on a file of unexpected shape
// into an error, and logs a failure once until the collector recovers.
func (c *Collector) runPart(p *part, shared *gatherShared) partResult {
	e := emitter{dyn: &c.dyn, shared: shared}
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return p.src.collect(&e)
	}()
	r := partResult{samples: e.samples, dur: time.Since(start), err: err}
	var nd noDataError
	if errors.As(err, &nd) {
		// Nothing to report on this host: not a failure to warn about.
		// A failure before it has ended (a failure after it is a new one).
		r.samples = nil
		if p.failing.Swap(false) {
			c.logger.Info("host metrics collector no longer failing; it has no data on this host", "collector", p.name, "reason", string(nd))
		} else {
			c.logger.Debug("host metrics collector has no data", "collector", p.name, "reason", string(nd))
		}
	} else if err != nil {
		r.samples = nil
		if !p.failing.Swap(true) {
			c.logger.Warn("host metrics collector failed; its metrics are left out until it recovers",
				"collector", p.name, "err", err)
		} else {
			c.logger.Debug("host metrics collector still failing", "collector", p.name, "err", err)
		}
	} else if p.failing.Swap(false) {
		c.logger.Info("host metrics collector recovered", "collector", p.name)
	}
	return r
}

// noDataError is what a collector returns when the host has nothing for
// it to report (a kernel without the file it reads): its
// node_scrape_collector_success is 0, as node_exporter's, but it is logged
// at debug level only.
type noDataError string

func (e noDataError) Error() string { return string(e) }

func noData(reason string) error { return noDataError(reason) }

// dedup drops a sample whose family and label values were already seen, so
// a malformed file listing a device twice cannot make Prometheus reject the
// whole scrape.
func (c *Collector) dedup(in []sample) []sample {
	seen := make(map[uint64]struct{}, len(in))
	out := in[:0]
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, s := range in {
		h.Reset()
		h.WriteString(s.d.name)
		for _, v := range s.lv {
			h.WriteByte(0xff)
			h.WriteString(v)
		}
		k := h.Sum64()
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, s)
	}
	return out
}

// Run takes a snapshot at once and then every Interval and hands it to
// Options.Out, dropping the oldest held snapshot when more than
// MaxHeldSnapshots wait. It returns nil when ctx is done, after closing Out.
func (c *Collector) Run(ctx context.Context) error {
	if c.out == nil {
		return errors.New("Run needs Options.Out")
	}
	defer close(c.out)
	if !c.cfg.Enabled {
		return nil
	}
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		c.offer(c.Snapshot())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// offer puts s into Out without ever blocking: while Out holds maxHeld
// snapshots or more, the oldest is taken out and counted as dropped.
func (c *Collector) offer(s event.Snapshot) {
	c.snapshots.Inc()
	for {
		if len(c.out) < c.maxHeld {
			select {
			case c.out <- s:
				return
			default:
			}
		}
		select {
		case <-c.out:
			c.dropped.Inc()
		default:
		}
	}
}
