package tail

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for lost bytes.
const (
	lostDeleted   = "deleted"   // file deleted and closed before it was read to its end
	lostTruncated = "truncated" // file truncated before it was read, no copy found
	// lostRotatedUnread: a rotated file of a container held back by its
	// rate limit (policy defer), removed by kubelet before it was read.
	lostRotatedUnread = "rotated_unread"
	// lostVanished: a file in the checkpoint that was neither at its path nor
	// among its rotated siblings (plain or compressed) when the tailer
	// started: deleted while no agent ran. Its size is unknown, so it is
	// counted in files (ferry_tail_lost_files_total).
	lostVanished = "vanished"
	// lostWaiting: a file parked for want of a descriptor (openlimit.go)
	// that was gone from its path and its plain rotated siblings when its
	// turn came: what was written to it after it was parked, if anything,
	// is lost. Counted in files, like vanished.
	lostWaiting = "waiting"
	// lostCorrupt: a compressed file that could not be decompressed to its
	// end (truncated or corrupt): what came before the damage was read, up
	// to its last complete line; the rest is of unknown size.
	lostCorrupt = "corrupt"
)

// Reasons for dropped lines.
const dropRateLimit = "rate_limit" // over its container's rate limit, policy drop

// Reasons for partial lines whose merge was cut short.
const (
	cutTruncated = "truncated" // the file was truncated between fragments
	cutRotated   = "rotated"   // the file was rotated (or deleted) between fragments, and the rest could not be merged from the next file
)

type metrics struct {
	linesRead     *prometheus.CounterVec
	bytesRead     prometheus.Counter
	reads         prometheus.Counter
	truncated     prometheus.Counter
	parseErrors   prometheus.Counter
	rotations     prometheus.Counter
	truncations   prometheus.Counter
	lost          *prometheus.CounterVec
	lostFiles     *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	partialsCut   *prometheus.CounterVec
	openFiles     *openCount
	waiting       prometheus.Gauge
	waits         prometheus.Counter
	openErrors    *prometheus.CounterVec
	openLimit     prometheus.Gauge
	behind        prometheus.Gauge
	inflight      prometheus.GaugeFunc
	inflightLimit prometheus.Gauge
	backpressure  prometheus.Counter
	commitErrors  prometheus.Counter
	commits       prometheus.Counter
	stateInvalid  prometheus.Counter

	behindMax         prometheus.Gauge
	held              prometheus.Gauge
	spills            prometheus.Counter
	fileInflightMax   prometheus.Gauge
	linesDeferred     prometheus.Counter
	linesDropped      *prometheus.CounterVec
	dropSummaries     prometheus.Counter
	limitedContainers prometheus.Gauge
	polledDirs        prometheus.Gauge
}

func newMetrics(inflight func() float64) *metrics {
	const ns, sub = "ferry", "tail"
	m := &metrics{
		linesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lines_read_total", Help: "Log lines emitted, after merging partials, by stream."}, []string{"stream"}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "read_bytes_total", Help: "Bytes read from log files."}),
		reads: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reads_total", Help: "Turns in which one file was read; notifications are coalesced into them."}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lines_truncated_total", Help: "Lines cut to max_line_bytes."}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "parse_errors_total", Help: "Lines that did not match their file's format, emitted raw."}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rotations_total", Help: "Files whose path came to name another file (rename rotation) or vanished."}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "truncations_total", Help: "Files found truncated or rewritten below the read offset."}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lost_bytes_total", Help: "Bytes never read, by reason (deleted, truncated, rotated_unread: rotated away before a rate-limited container's file was read)."}, []string{"reason"}),
		lostFiles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lost_files_total", Help: "Files lost whole, of unknown size, by reason (vanished: deleted while no agent ran; waiting: deleted or compressed while it waited for a descriptor; corrupt: a compressed file that could not be decompressed to its end)."}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "skipped_files_total", Help: "Log files refused when opened, by reason: symlink, outside_root, not_regular."}, []string{"reason"}),
		partialsCut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "partial_lines_cut_total", Help: "Partial lines (CRI P fragments, docker values without a newline) whose merge was cut short, emitted flagged truncated, by reason (truncated: the file was truncated between fragments; rotated: the file was rotated or deleted between fragments and the rest could not be merged from the next file: docker json-file, a file deleted before it was read to its end, no next file open at its path, or a line the next file did not continue). A CRI line whose rest is in the file after a rotation is merged, not counted."}, []string{"reason"}),
		openFiles: &openCount{Gauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "open_files", Help: "Log files open."})},
		openLimit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "open_files_limit", Help: "Limit of open_files (max_open_files); files beyond it wait for a descriptor and take turns."}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "waiting_files", Help: "Log files waiting for a descriptor (max_open_files reached, or none left)."}),
		waits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "descriptor_waits_total", Help: "Times a log file was put to wait for a descriptor: found while max_open_files were open, parked for a waiting file, or refused by EMFILE/ENFILE."}),
		openErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "open_errors_total", Help: "Opens of log files that failed for want of descriptors, by reason (emfile: the process's limit; enfile: the system's); the file waits and is retried."}, []string{"reason"}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "behind_bytes", Help: "Bytes between the read offsets and the ends of the open files, at the last poll."}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "inflight_bytes", Help: "Bytes of emitted lines not yet acknowledged."}, inflight),
		inflightLimit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "inflight_limit_bytes", Help: "Limit of inflight_bytes; reading pauses when it is reached."}),
		backpressure: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "backpressure_seconds_total", Help: "Time reading was paused because the in-flight limit was reached."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoint_errors_total", Help: "Failed writes of the state file."}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoints_total", Help: "Successful writes of the state file."}),
		stateInvalid: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "checkpoint_entries_invalid_total", Help: "Entries of the state file skipped at startup because they were invalid; the other entries are used."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "unfinished_bytes", Help: "Bytes of unfinished lines (no newline yet, or CRI fragments being merged) held in memory; kept under memory.queue_bytes by spilling."}),
		spills: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unfinished_spills_total", Help: "Times a file gave back its unfinished lines' memory (over budget) to read them again from disk once it grows."}),
		behindMax: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "behind_max_bytes", Help: "The largest backlog of one open file (bytes between its read offset and its end), at the last poll."}),
		fileInflightMax: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "file_inflight_max_bytes", Help: "The largest part of inflight_bytes held by one file, at the last read turn."}),
		linesDeferred: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lines_deferred_total", Help: "Lines read late because their container's rate limit (policy defer) held its reading back."}),
		linesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "lines_dropped_total", Help: "Lines read and not emitted, by reason (rate_limit: over the container's rate limit, policy drop)."}, []string{"reason"}),
		dropSummaries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "drop_summaries_total", Help: "Records emitted to say how many lines of a container its rate limit dropped."}),
		limitedContainers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "rate_limited_containers", Help: "Containers over their rate limit now (reading deferred, or lines dropped)."}),
		polledDirs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "polled_dirs", Help: "Directories not watched because every file in them grows at every poll: their files are read each read_interval without notifications."}),
	}
	for _, s := range []string{"stdout", "stderr"} {
		m.linesRead.WithLabelValues(s)
	}
	m.linesDropped.WithLabelValues(dropRateLimit)
	for _, r := range []string{lostDeleted, lostTruncated, lostRotatedUnread} {
		m.lost.WithLabelValues(r)
	}
	for _, r := range []string{lostVanished, lostWaiting, lostCorrupt} {
		m.lostFiles.WithLabelValues(r)
	}
	for _, r := range []string{skipSymlink, skipOutside, skipNotRegular, skipHardLink} {
		m.skipped.WithLabelValues(r)
	}
	for _, r := range []string{cutTruncated, cutRotated} {
		m.partialsCut.WithLabelValues(r)
	}
	for _, r := range []string{openEMFILE, openENFILE} {
		m.openErrors.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.linesRead, m.bytesRead, m.reads, m.truncated, m.parseErrors,
		m.rotations, m.truncations, m.lost, m.lostFiles, m.skipped, m.partialsCut, m.openFiles, m.openLimit, m.waiting, m.waits, m.openErrors, m.behind, m.inflight, m.inflightLimit,
		m.backpressure, m.commitErrors, m.commits, m.stateInvalid,
		m.behindMax, m.fileInflightMax, m.linesDeferred, m.linesDropped, m.dropSummaries, m.limitedContainers,
		m.held, m.spills, m.polledDirs} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
