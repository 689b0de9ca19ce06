package main

// ferry logs: read one pod's log records back from the Kafka sink.
//
// Log records are keyed by the pod UID and partitioned with murmur2 over
// the key (pkg/ship), so all records of one pod instance live in one
// partition. With the UID known (--uid), only that partition is read;
// without it every partition is scanned and filtered by namespace and pod
// name, and -f then follows only the partition of the one UID found. With
// a label selector (-l) the UIDs are not known either: every partition is
// scanned and records are matched by the pod labels they carry. Nothing
// asks the Kubernetes API: the pod and its node may be gone.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/labels"
)

// logsOptions are the parsed flags of ferry logs.
type logsOptions struct {
	brokers   []string
	topic     string
	namespace string // "" matches any namespace (only with --uid)
	pod       string // "" matches any pod name (only with --uid)
	uid       string
	container string
	// selector, when set, matches records by their pod labels; pod is then "".
	selector labels.Selector
	since    time.Duration
	follow   bool
	output   string // "text" or "json"
	// scanFanOut bounds the partitions read at once when scanning.
	scanFanOut int
	// progressEvery is how many records a scan reads between progress
	// lines on stderr (0: none).
	progressEvery int64
}

// logRecord is the part of a stored log record that ferry logs reads.
type logRecord struct {
	Time       time.Time `json:"time"`
	Message    string    `json:"message"`
	Kubernetes struct {
		Namespace string            `json:"namespace"`
		Pod       string            `json:"pod"`
		PodUID    string            `json:"pod_uid"`
		Container string            `json:"container"`
		Labels    map[string]string `json:"labels"`
	} `json:"kubernetes"`
}

// parseLogRecord decodes a record value in any encoding the sink writes:
// ferry's JSON log record, or an OTLP logs request (otlp_json,
// otlp_proto).
func parseLogRecord(b []byte) (logRecord, error) {
	if k := kindOf(b); k != ferryJSON {
		r, _, err := parseOTLPLog(b, k)
		return r, err
	}
	var r logRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return logRecord{}, err
	}
	return r, nil
}

// match says whether a record belongs to the pod and container asked for.
func (o *logsOptions) match(r *logRecord) bool {
	k := &r.Kubernetes
	if o.uid != "" && k.PodUID != o.uid {
		return false
	}
	if o.pod != "" && k.Pod != o.pod {
		return false
	}
	if o.namespace != "" && k.Namespace != o.namespace {
		return false
	}
	if o.selector != nil && !o.selector.Matches(labels.Set(k.Labels)) {
		return false
	}
	return o.container == "" || k.Container == o.container
}

// logLine is one matching record as read.
type logLine struct {
	rec   logRecord
	value []byte
}

const logsSummary = `Read a pod's log records back from the Kafka sink, like 'kubectl logs'.

  ferry logs [--config FILE | --brokers B --topic T] [-n NS] (POD | -l SELECTOR)
             [-c CONTAINER] [--since 1h] [-f] [--output text|json] [--uid UID]

It reads every encoding the sink writes (json, otlp_json, otlp_proto;
--output json prints an OTLP record as OTLP JSON). With --uid only the partition the UID maps to is read (records are keyed by
pod UID, murmur2-partitioned); without it every partition is scanned for
NS/POD, and the UIDs found are printed on stderr; -f then follows only
the partition of the one UID found. -l app=web,tier!=db scans every
partition for the records whose pod labels match, each line prefixed with
[pod/container]. Works for pods and nodes that no longer exist: the
Kubernetes API is not asked.`

func cmdLogs(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logs", logsSummary, stderr)
	cfgPath := fs.String("config", "", "agent config file to take sink.kafka.brokers and sink.kafka.topic from")
	brokers := fs.String("brokers", "", "comma-separated bootstrap brokers (host:port); overrides --config")
	topic := fs.String("topic", "", "topic of log records; overrides --config (default \"logs\")")
	ns := fs.String("n", "default", "namespace of the pod")
	fs.StringVar(ns, "namespace", "default", "namespace of the pod")
	container := fs.String("c", "", "only this container's records (default: all, each line prefixed with its container)")
	fs.StringVar(container, "container", "", "only this container's records")
	since := fs.Duration("since", 0, "only records of the last DURATION (found by timestamp offsets, not by scanning)")
	follow := fs.Bool("f", false, "follow new records until interrupted")
	fs.BoolVar(follow, "follow", false, "follow new records until interrupted")
	output := fs.String("output", "text", "text (the message per line) or json (the record as stored)")
	uid := fs.String("uid", "", "the pod UID: read only its partition")
	sel := fs.String("l", "", "label selector (app=web,tier!=db): the pods whose records carry matching labels")
	fs.StringVar(sel, "selector", "", "label selector")
	// Flags may follow POD, as with kubectl: parse around positionals.
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return flagExit(err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	nsSet := false
	fs.Visit(func(f *flag.Flag) { nsSet = nsSet || f.Name == "n" || f.Name == "namespace" })

	o := logsOptions{
		uid: *uid, container: *container, since: *since, follow: *follow,
		output: *output, namespace: *ns, scanFanOut: 4, progressEvery: 100000,
	}
	switch {
	case *sel != "":
		if len(pos) > 0 || o.uid != "" {
			fmt.Fprintf(stderr, "ferry logs: -l selects pods by label: give no POD or --uid with it\n")
			return 2
		}
		s, err := labels.Parse(*sel)
		if err != nil {
			fmt.Fprintf(stderr, "ferry logs: bad -l selector %q: %v\n", *sel, err)
			return 2
		}
		o.selector = s
	case len(pos) == 1:
		o.pod = pos[0]
	case len(pos) == 0 && o.uid != "":
		if !nsSet {
			o.namespace = ""
		}
	default:
		fmt.Fprintf(stderr, "ferry logs: want one POD (or --uid), got %q\n", pos)
		return 2
	}
	if o.output != "text" && o.output != "json" {
		fmt.Fprintf(stderr, "ferry logs: --output must be text or json, got %q\n", o.output)
		return 2
	}
	if o.since < 0 {
		fmt.Fprintf(stderr, "ferry logs: --since must not be negative\n")
		return 2
	}
	if *cfgPath != "" {
		cfg, err := LoadConfig(*cfgPath)
		if err != nil {
			printProblems(stderr, *cfgPath, err)
			return 1
		}
		k := cfg.Sink.Kafka
		if k == nil {
			fmt.Fprintf(stderr, "ferry logs: %s has no sink.kafka\n", *cfgPath)
			return 1
		}
		if k.TLS.Enabled || k.SASL.Mechanism != "" {
			fmt.Fprintf(stderr, "ferry logs: sink.kafka.tls and sink.kafka.sasl are not supported by ferry logs yet\n")
			return 1
		}
		o.brokers, o.topic = k.Brokers, k.Topic
		if strings.Contains(o.topic, "{{") && *topic == "" {
			fmt.Fprintf(stderr, "ferry logs: sink.kafka.topic is a template (%s): name the pod's topic with --topic\n", o.topic)
			return 2
		}
	}
	if *brokers != "" {
		o.brokers = strings.Split(*brokers, ",")
	}
	if *topic != "" {
		o.topic = *topic
	}
	if o.topic == "" {
		o.topic = "logs"
	}
	if len(o.brokers) == 0 {
		fmt.Fprintf(stderr, "ferry logs: no brokers: give --brokers or --config\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runLogs(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "ferry logs: %v\n", err)
		return 1
	}
	return 0
}

// uidPartition is the partition of a topic with n partitions that pkg/ship
// sends a pod's log records to: murmur2 over the pod UID, as Java's
// producer partitions keyed records.
func uidPartition(uid string, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(uid)}, parts...)
}

// partRange is what to read of one partition: from start, up to end (the
// end offset when the read began; ignored when following).
type partRange struct {
	partition  int
	start, end int64
}

// runLogs reads the records o asks for and writes them to stdout until the
// end offsets as of the start, or, when following, until ctx is done.
func runLogs(ctx context.Context, o logsOptions, stdout, stderr io.Writer) error {
	client := &kafka.Client{Addr: kafka.TCP(o.brokers...), Timeout: 30 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{o.topic}})
	if err != nil {
		return fmt.Errorf("metadata of topic %s: %w", o.topic, err)
	}
	n := 0
	for _, t := range meta.Topics {
		if t.Name == o.topic {
			if t.Error != nil {
				return fmt.Errorf("topic %s: %w", o.topic, t.Error)
			}
			n = len(t.Partitions)
		}
	}
	if n == 0 {
		return fmt.Errorf("topic %s: %w", o.topic, kafka.UnknownTopicOrPartition)
	}
	var parts []int
	if o.uid != "" {
		parts = []int{uidPartition(o.uid, n)}
	} else {
		if o.selector != nil {
			fmt.Fprintf(stderr, "ferry logs: scanning all %d partitions of %s (%d at once) for -l %s in namespace %s\n",
				n, o.topic, max(o.scanFanOut, 1), o.selector, o.namespace)
		} else {
			fmt.Fprintf(stderr, "ferry logs: no --uid: scanning all %d partitions of %s for %s/%s (--uid reads one)\n",
				n, o.topic, o.namespace, o.pod)
		}
		for p := range n {
			parts = append(parts, p)
		}
	}
	ranges, err := offsetRanges(ctx, client, o.topic, parts, o.since)
	if err != nil {
		return err
	}

	w := &lineWriter{w: stdout, o: &o}
	if o.uid != "" || !o.follow {
		_, err := readRanges(ctx, o, ranges, w, stderr)
		return err
	}
	// Following by name: read to the ends first, then follow only the
	// partition of the pod UID found (as a pod's records are keyed), or
	// every partition when none or several instances were found.
	hist := o
	hist.follow = false
	uids, err := readRanges(ctx, hist, ranges, w, stderr)
	if err != nil {
		return err
	}
	for i := range ranges {
		ranges[i].start = ranges[i].end
	}
	switch {
	case o.selector != nil:
		// New pods may come to match: follow every partition.
		fmt.Fprintf(stderr, "ferry logs: following all %d partitions for -l %s\n", len(ranges), o.selector)
	case len(uids) == 1:
		for uid := range uids {
			o.uid = uid
		}
		p := uidPartition(o.uid, n)
		fmt.Fprintf(stderr, "ferry logs: following pod uid %s: partition %d only\n", o.uid, p)
		ranges = slices.DeleteFunc(ranges, func(r partRange) bool { return r.partition != p })
	default:
		fmt.Fprintf(stderr, "ferry logs: %d pod uids found: following all %d partitions\n", len(uids), len(ranges))
	}
	_, err = readRanges(ctx, o, ranges, w, stderr)
	return err
}

// readRanges reads ranges (several at once, bounded unless following),
// writes the matching records to w, and returns the pod UIDs found. A
// scan of several partitions to their ends is printed in time order.
func readRanges(ctx context.Context, o logsOptions, ranges []partRange, w *lineWriter, stderr io.Writer) (map[string]bool, error) {
	var cutoff time.Time
	if o.since > 0 {
		cutoff = time.Now().Add(-o.since)
	}
	scan := len(ranges) > 1
	var (
		mu      sync.Mutex
		lines   []logLine
		uids    = map[string]bool{}
		matched int64
		read    atomic.Int64
		total   int64
	)
	for _, r := range ranges {
		total += max(r.end-r.start, 0)
	}
	// A long scan says how far it got every progressEvery records.
	onRead := func() {
		n := read.Add(1)
		if !scan || o.follow || o.progressEvery <= 0 || n%o.progressEvery != 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "ferry logs: read %d of %d records (%d%%), %d matched\n", n, total, n*100/max(total, 1), matched)
	}
	emit := func(p int, l logLine) error {
		// Broker timestamps are the shipping attempt's, at or after the
		// line's time: the offset lookup may start early, so filter exactly.
		if !cutoff.IsZero() && l.rec.Time.Before(cutoff) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		matched++
		uids[l.rec.Kubernetes.PodUID] = true
		if scan && !o.follow {
			lines = append(lines, l)
			return nil
		}
		return w.write(l)
	}
	g, gctx := errgroup.WithContext(ctx)
	if !o.follow {
		g.SetLimit(max(o.scanFanOut, 1))
	}
	for _, r := range ranges {
		g.Go(func() error {
			read, matched, err := readPartition(gctx, o, r, emit, onRead)
			if scan && err == nil && !o.follow {
				mu.Lock() // stderr is shared with the other partitions
				defer mu.Unlock()
				fmt.Fprintf(stderr, "ferry logs: partition %d: %d records read, %d matched\n", r.partition, read, matched)
			}
			return err
		})
	}
	err := g.Wait()
	if o.follow && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil // interrupted: the way a follow ends
	}
	if err != nil {
		return nil, err
	}
	// Records of different pod instances (a name reused after a delete)
	// sit in different partitions: print them in time order.
	slices.SortStableFunc(lines, func(a, b logLine) int { return a.rec.Time.Compare(b.rec.Time) })
	for _, l := range lines {
		if err := w.write(l); err != nil {
			return nil, err
		}
	}
	if scan && !o.follow {
		for uid := range uids {
			fmt.Fprintf(stderr, "ferry logs: found pod uid %s: --uid %s reads only its partition\n", uid, uid)
		}
	}
	return uids, nil
}

// offsetRanges looks up, for each partition, where to start (the first
// offset, or the first at or after now-since) and the end offset.
func offsetRanges(ctx context.Context, client *kafka.Client, topic string, parts []int, since time.Duration) ([]partRange, error) {
	var reqs []kafka.OffsetRequest
	at := time.Now().Add(-since)
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		if since > 0 {
			reqs = append(reqs, kafka.TimeOffsetOf(p, at))
		}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of topic %s: %w", topic, err)
	}
	byPart := map[int]kafka.PartitionOffsets{}
	for _, po := range res.Topics[topic] {
		byPart[po.Partition] = po
	}
	var out []partRange
	for _, p := range parts {
		po, ok := byPart[p]
		if !ok {
			return nil, fmt.Errorf("offsets of %s/%d: no answer", topic, p)
		}
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p, po.Error)
		}
		r := partRange{partition: p, start: po.FirstOffset, end: po.LastOffset}
		if since > 0 {
			r.start = r.end // no record that recent
			for off := range po.Offsets {
				if off >= 0 {
					r.start = max(off, po.FirstOffset)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// readPartition reads r with kafka-go's Reader, passing each matching
// record to emit. It returns at r.end, or when following at ctx's end.
func readPartition(ctx context.Context, o logsOptions, r partRange, emit func(int, logLine) error, onRead func()) (read, matched int, err error) {
	if !o.follow && r.start >= r.end {
		return 0, 0, nil
	}
	// Closing the Reader waits for its fetch in flight, a long poll of up
	// to MaxWait past the last record: short when reading to an end.
	maxWait := 100 * time.Millisecond
	if o.follow {
		maxWait = time.Second
	}
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         o.brokers,
		Topic:           o.topic,
		Partition:       r.partition,
		MinBytes:        1,
		MaxBytes:        8 << 20,
		MaxWait:         maxWait,
		ReadLagInterval: -1,
		MaxAttempts:     3,
	})
	defer rd.Close()
	if err := rd.SetOffset(r.start); err != nil {
		return 0, 0, fmt.Errorf("partition %d: %w", r.partition, err)
	}
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return read, matched, fmt.Errorf("partition %d: %w", r.partition, err)
		}
		read++
		onRead()
		rec, perr := parseLogRecord(m.Value)
		if perr == nil && o.match(&rec) {
			matched++
			if err := emit(r.partition, logLine{rec: rec, value: m.Value}); err != nil {
				return read, matched, err
			}
		}
		if !o.follow && m.Offset+1 >= r.end {
			return read, matched, nil
		}
	}
}

// lineWriter prints records: the message per line (prefixed with its
// container unless -c chose one, and with a selector with its pod), or the
// stored JSON per line.
type lineWriter struct {
	w io.Writer
	o *logsOptions
}

func (lw *lineWriter) write(l logLine) error {
	var err error
	switch {
	case lw.o.output == "json":
		v := l.value
		if kindOf(v) == otlpProto {
			// The stored request, as OTLP JSON (protobuf is not text).
			if _, ld, perr := parseOTLPLog(v, otlpProto); perr == nil {
				v = otlpLogsText(v, otlpProto, ld)
			}
		}
		_, err = fmt.Fprintf(lw.w, "%s\n", v)
	case lw.o.selector != nil && lw.o.container == "":
		_, err = fmt.Fprintf(lw.w, "[%s/%s] %s\n", l.rec.Kubernetes.Pod, l.rec.Kubernetes.Container, l.rec.Message)
	case lw.o.selector != nil:
		_, err = fmt.Fprintf(lw.w, "[%s] %s\n", l.rec.Kubernetes.Pod, l.rec.Message)
	case lw.o.container == "":
		_, err = fmt.Fprintf(lw.w, "[%s] %s\n", l.rec.Kubernetes.Container, l.rec.Message)
	default:
		_, err = fmt.Fprintln(lw.w, l.rec.Message)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
