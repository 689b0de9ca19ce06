// Package event holds the few types that cross package lines in ferry:
// what the tailer emits (Log, Cursor), what enrichment adds (Meta), what
// processing adds (Lines, Level, Fields), and what host metrics produce
// (Metric, Snapshot).
//
// It is a leaf package: it imports only the standard library, so tail,
// enrich, process, ship and hostmetrics can all depend on it without depending on each
// other. Like every package under pkg/, it carries no API stability promise
// before v1.
package event

import "time"

// Stream is the output stream a container wrote a line to.
type Stream uint8

const (
	// Stdout is the container's standard output.
	Stdout Stream = iota
	// Stderr is the container's standard error.
	Stderr
)

// String returns "stdout" or "stderr", the names used in shipped records.
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Cursor is the acknowledgement token of one log line: which file it came
// from and the offset just past its last byte in that file.
//
// The tailer hands out cursors; the sink gives them back (in any order) once
// the line is delivered, or dropped and counted. The tailer commits, per
// file, the end of the longest prefix whose cursors have all come back.
type Cursor struct {
	// Source is the tailer's identifier of the file, unique within one
	// process. It is not a path: a path can name several files over time.
	Source uint64
	// Offset is the byte offset just past the line (including its newline)
	// in the file.
	Offset int64
}

// Log is one log line as read from a container log file, after partial
// lines were merged.
//
// Body is owned by the record and must not be modified by receivers; it
// stays valid until the record is acknowledged.
type Log struct {
	// Time is the timestamp the runtime wrote with the line, or the read
	// time when the line had none that parsed (ParseError is then set).
	Time time.Time
	// ReadAt is when the tailer read the bytes of this line (Unix
	// nanoseconds); the sink measures read-to-ack latency from it.
	ReadAt int64
	// Body is the message without the runtime's framing and without the
	// trailing newline.
	Body []byte
	// Path is the path the file was opened by. It is shared by every line
	// of the file (no allocation per line).
	Path string
	// Cursor is what to acknowledge once the line is delivered.
	Cursor Cursor
	// Meta is who wrote the line. Nil until enrichment (or the pass-through
	// that fills what the path gives) has run. Many lines share one Meta;
	// it is immutable once set.
	Meta *Meta
	// Stream is stdout or stderr.
	Stream Stream
	// Truncated is set when the merged line was longer than the configured
	// maximum and was cut to it.
	Truncated bool
	// ParseError is set when the line did not match its file's format and
	// Body holds the raw bytes as read.
	ParseError bool
	// Notice is set on a record the agent writes itself about the
	// container's log (a rate limit's summary of dropped lines), not a line
	// the container wrote: processing passes it on untouched (no grouping,
	// parsing, filter or masking), so it stays a record of its own.
	Notice bool
	// End marks a record that is not a line: the tailer will emit no more
	// lines of the file Cursor.Source names on Stream (it was truncated,
	// read to its end, or closed). Processing takes it as the end of what
	// a multiline group of that file can wait for; it is never sent nor
	// acknowledged. Only emitted when tail.Options.EndMarkers asks.
	End bool

	// The fields below are set only by processing (pkg/process); they are
	// zero when it is not configured.

	// Lines is how many log lines were merged into this record (multiline
	// grouping); 0 means one line, never grouped. A merged record carries
	// the Cursor of its last line; processing gives back the cursors of the
	// other lines when that one is acknowledged.
	Lines int32
	// Level is the record's severity, normalised to trace, debug, info,
	// warn, error or fatal; empty when unknown.
	Level string
	// Fields are the structured fields parsed from the message (json,
	// logfmt, regex), in the order they were found, keys unique.
	Fields []Field
	// MessageKey is the parsed field the message was taken from (a parser
	// without keep_original: Body is that field's value, and it is not in
	// Fields); empty when Body is the line. Body, MessageKey and Fields
	// together hold the whole parsed line.
	MessageKey string
}

// Field is one structured field parsed from a log line.
type Field struct {
	Key string
	// Value is a string when Raw is false, else JSON text: a number, true,
	// false, null, an object or an array (always valid JSON).
	Value string
	Raw   bool
}

// Meta is the Kubernetes metadata of the container that wrote a line.
// A Meta is shared by many lines and must not be modified once published.
type Meta struct {
	Namespace   string
	Pod         string
	PodUID      string
	Container   string
	ContainerID string
	Image       string
	Node        string
	Labels      map[string]string
	// Annotations holds only the pod annotations that matched the
	// configured patterns.
	Annotations map[string]string
	// NamespaceLabels is filled only when namespace labels are enabled.
	NamespaceLabels map[string]string
	// Owner is the workload that owns the pod (Deployment, StatefulSet,
	// DaemonSet, Job, CronJob, ...), derived without extra API calls.
	Owner Owner
}

// Owner is the workload that owns a pod. Both fields are empty for a bare
// pod.
type Owner struct {
	Kind string
	Name string
}

// MetricType says how a metric's value behaves over time.
type MetricType uint8

const (
	// Gauge is a value that can go up and down.
	Gauge MetricType = iota
	// Counter is a value that only goes up (until a restart resets it).
	Counter
)

// String returns "gauge" or "counter", the names used in shipped records.
func (t MetricType) String() string {
	if t == Counter {
		return "counter"
	}
	return "gauge"
}

// Label is one metric label.
type Label struct {
	Name  string
	Value string
}

// Metric is one sample of a host metric, named as node_exporter names it.
type Metric struct {
	Name   string
	Labels []Label
	Value  float64
	Type   MetricType
}

// Snapshot is one collection of every enabled host metric at one instant on
// one node. It is shipped as one record per Metric, each carrying Time and
// Node.
type Snapshot struct {
	Time    time.Time
	Node    string
	Metrics []Metric
}
