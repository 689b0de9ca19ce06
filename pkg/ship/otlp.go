package ship

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ferry-dev/ferry/pkg/event"
)

// The OTLP encodings (kafka.encoding otlp_proto and otlp_json) write each
// record as the OpenTelemetry Collector's Kafka exporter writes a message,
// and as its Kafka receiver reads one with the same encoding name: the
// value is one ExportLogsServiceRequest (a log record) or one
// ExportMetricsServiceRequest (a metric sample), marshalled by
// go.opentelemetry.io/collector/pdata (the Collector's own wire code:
// protobuf, or OTLP/JSON), with no header or framing of its own. Keys and
// partitions are those of the json encoding. Most log records are written
// by hand instead, the same bytes (otlpproto.go, otlpjson.go).

// Encoding names, the values of kafka.encoding.
const (
	encodingJSON      = "json"
	encodingOTLPProto = "otlp_proto"
	encodingOTLPJSON  = "otlp_json"
)

// otlpScope is the instrumentation scope of every record.
const otlpScope = "github.com/ferry-dev/ferry"

// The attributes of every log record.
const (
	attrIOStream  = "log.iostream"
	attrFilePath  = "log.file.path"
	attrLines     = "ferry.lines"     // the lines of a grouped record, when more than one
	attrTruncated = "ferry.truncated" // a record cut at a cap
)

// bootTimeMetric is the node_exporter metric whose value is the node's
// boot time: the start time of the node's cumulative counters.
const bootTimeMetric = "node_boot_time_seconds"

// otlpEncoder builds one OTLP request per record with pdata. Marshalling a
// request costs mostly its resource (a pod's attributes, labels included),
// which is the same for every line of a container: so the encoder marshals
// each *event.Meta's resource once (a Meta is immutable and shared by many
// lines) and, for each line, marshals a request whose resource is empty and
// puts the cached resource in its place. The result is byte for byte what
// pdata writes for the whole request (both are pdata's bytes: pdata writes
// the resource as the last field of a ResourceLogs, and "resource" as the
// first key of its JSON object); TestOTLPSpliceMatchesPdata checks it, and a request whose
// bytes do not start as expected is marshalled whole. An otlpEncoder is not
// safe for concurrent use.
type otlpEncoder struct {
	json  bool // otlp_json rather than otlp_proto
	whole bool // marshal every request whole (tests)
	slow  bool // leave out the hand-written log encodings: splice pdata's (tests)

	// Logs: one request of one log record, its resource empty, and the
	// encoded resources by Meta (noMeta: records without metadata).
	logs   plog.Logs
	rec    plog.LogRecord
	res    map[*event.Meta][]byte
	noMeta []byte
	// resLogs is a request with only a resource, to marshal resources.
	resLogs plog.Logs

	// Metrics: one request with a gauge and one with a cumulative sum,
	// each of one data point, their resource empty; nodeRes is the encoded
	// resource of node.
	gauge, sum otlpMetric
	node       string
	nodeRes    []byte
	nodeSet    bool
	resMetrics pmetric.Metrics
	// start is the start time of cumulative sums: the node's boot time
	// when the snapshot carries node_boot_time_seconds, else the time of
	// the first snapshot encoded.
	start time.Time

	pl    plog.ProtoMarshaler
	pm    pmetric.ProtoMarshaler
	jl    plog.JSONMarshaler
	jm    pmetric.JSONMarshaler
	utf   []byte     // scratch for bodies that are not valid UTF-8
	lr    []byte     // scratch: the LogRecord appendLogProto writes
	attrs []otlpAttr // scratch: logAttrs' list
}

type otlpMetric struct {
	metrics pmetric.Metrics
	metric  pmetric.Metric
	point   pmetric.NumberDataPoint
}

func newOTLPEncoder(encoding string) *otlpEncoder {
	e := &otlpEncoder{json: encoding == encodingOTLPJSON, res: make(map[*event.Meta][]byte)}
	e.logs = plog.NewLogs()
	sl := e.logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(otlpScope)
	e.rec = sl.LogRecords().AppendEmpty()
	e.resLogs = plog.NewLogs()
	e.resLogs.ResourceLogs().AppendEmpty()
	e.noMeta = e.encodeResource(nil)
	e.gauge = newOTLPMetric(false)
	e.sum = newOTLPMetric(true)
	e.resMetrics = pmetric.NewMetrics()
	e.resMetrics.ResourceMetrics().AppendEmpty()
	return e
}

func newOTLPMetric(sum bool) otlpMetric {
	ms := pmetric.NewMetrics()
	sm := ms.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(otlpScope)
	m := sm.Metrics().AppendEmpty()
	var dp pmetric.NumberDataPoint
	if sum {
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s.SetIsMonotonic(true)
		dp = s.DataPoints().AppendEmpty()
	} else {
		dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
	}
	return otlpMetric{metrics: ms, metric: m, point: dp}
}

// The JSON a request of one resource starts with, and what follows the
// resource of a request of only a resource.
const (
	logsJSONPrefix    = `{"resourceLogs":[{"resource":`
	metricsJSONPrefix = `{"resourceMetrics":[{"resource":`
	resourceJSONEnd   = `}]}`
	emptyResourceJSON = `{}`
)

// encodeResource returns the encoded resource of m's container: in
// protobuf the resource field of a ResourceLogs (tag, length, Resource), in
// JSON the resource object.
func (e *otlpEncoder) encodeResource(m *event.Meta) []byte {
	attrs := e.resLogs.ResourceLogs().At(0).Resource().Attributes()
	attrs.Clear()
	putResource(attrs, m)
	if e.json {
		b, _ := e.jl.MarshalLogs(e.resLogs)
		return resourceJSON(b, logsJSONPrefix)
	}
	b, _ := e.pl.MarshalLogs(e.resLogs)
	return resourceProto(b)
}

// resourceProto returns the resource field of a request of one resource
// and nothing else (nil if b is not one): b is the request's field 1 (the
// ResourceLogs or ResourceMetrics), whose only field is the resource.
func resourceProto(b []byte) []byte {
	body, ok := field1(b)
	if !ok {
		return nil
	}
	return body
}

// resourceJSON returns the resource object of the JSON request b of one
// resource and nothing else (nil if b is not one).
func resourceJSON(b []byte, prefix string) []byte {
	if !bytes.HasPrefix(b, []byte(prefix)) || !bytes.HasSuffix(b, []byte(resourceJSONEnd)) {
		return nil
	}
	return b[len(prefix) : len(b)-len(resourceJSONEnd)]
}

// field1 returns the contents of b when b is exactly one length-delimited
// field number 1 (tag 0x0a, varint length, contents).
func field1(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != 0x0a {
		return nil, false
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) != n {
		return nil, false
	}
	return b[1+k:], true
}

// splice appends the request b (marshalled with an empty resource) with
// res in place of its resource; ok is false when b does not start as
// expected (then nothing was appended).
func (e *otlpEncoder) splice(dst, b, res []byte, jsonPrefix string) ([]byte, bool) {
	if res == nil || e.whole {
		return dst, false
	}
	if e.json {
		head := jsonPrefix + emptyResourceJSON
		if !bytes.HasPrefix(b, []byte(head)) {
			return dst, false
		}
		dst = append(dst, jsonPrefix...)
		dst = append(dst, res...)
		return append(dst, b[len(head):]...), true
	}
	// b is field 1 (one ResourceLogs or ResourceMetrics) whose last field
	// is the empty resource (0x0a 0x00): pdata writes a message's fields
	// from its end, so its first field comes last.
	body, ok := field1(b)
	if !ok || len(body) < 2 || body[len(body)-2] != 0x0a || body[len(body)-1] != 0 {
		return dst, false
	}
	rest := body[:len(body)-2]
	dst = append(dst, 0x0a)
	dst = binary.AppendUvarint(dst, uint64(len(rest)+len(res)))
	dst = append(dst, rest...)
	return append(dst, res...), true
}

// putResource sets the resource attributes of the container m describes,
// named by the OpenTelemetry semantic conventions for Kubernetes and
// containers; empty values are left out (a record without metadata has an
// empty resource).
func putResource(attrs pcommon.Map, m *event.Meta) {
	if m == nil {
		return
	}
	put := func(k, v string) {
		if v != "" {
			attrs.PutStr(k, v)
		}
	}
	put("k8s.namespace.name", m.Namespace)
	put("k8s.pod.name", m.Pod)
	put("k8s.pod.uid", m.PodUID)
	put("k8s.container.name", m.Container)
	put("k8s.node.name", m.Node)
	put("container.id", containerID(m.ContainerID))
	if m.Image != "" {
		name, tag := splitImage(m.Image)
		put("container.image.name", name)
		if tag != "" {
			attrs.PutEmptySlice("container.image.tags").AppendEmpty().SetStr(tag)
		}
	}
	if k := ownerKey(m.Owner.Kind); k != "" {
		put(k, m.Owner.Name)
	}
	putPrefixed(attrs, "k8s.pod.label.", m.Labels)
	putPrefixed(attrs, "k8s.pod.annotation.", m.Annotations)
	putPrefixed(attrs, "k8s.namespace.label.", m.NamespaceLabels)
}

// putPrefixed puts m's entries under prefix+key, keys sorted.
func putPrefixed(attrs pcommon.Map, prefix string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		attrs.PutStr(prefix+k, m[k])
	}
}

// containerID strips the runtime's scheme ("containerd://") from a
// container status ID: container.id is the bare ID.
func containerID(id string) string {
	if _, after, ok := strings.Cut(id, "://"); ok {
		return after
	}
	return id
}

// splitImage splits an image reference into its name and tag (a digest
// reference, name@sha256:..., has no tag: its name is what precedes @).
func splitImage(image string) (name, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		return image[:i], ""
	}
	slash := strings.LastIndexByte(image, '/')
	if colon := strings.LastIndexByte(image, ':'); colon > slash {
		return image[:colon], image[colon+1:]
	}
	return image, ""
}

// ownerKey is the semantic conventions' attribute naming a pod's owner
// workload of this kind ("" for kinds they do not name).
func ownerKey(kind string) string {
	switch kind {
	case "Deployment":
		return "k8s.deployment.name"
	case "ReplicaSet":
		return "k8s.replicaset.name"
	case "StatefulSet":
		return "k8s.statefulset.name"
	case "DaemonSet":
		return "k8s.daemonset.name"
	case "Job":
		return "k8s.job.name"
	case "CronJob":
		return "k8s.cronjob.name"
	}
	return ""
}

// severity maps processing's normalised level to OTLP's severity number.
func severity(level string) plog.SeverityNumber {
	switch level {
	case "trace":
		return plog.SeverityNumberTrace
	case "debug":
		return plog.SeverityNumberDebug
	case "info":
		return plog.SeverityNumberInfo
	case "warn":
		return plog.SeverityNumberWarn
	case "error":
		return plog.SeverityNumberError
	case "fatal":
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}

// resource returns the encoded resource of m's container.
func (e *otlpEncoder) resource(m *event.Meta) []byte {
	if m == nil {
		return e.noMeta
	}
	if b, ok := e.res[m]; ok {
		return b
	}
	if len(e.res) >= maxMetaCache {
		clear(e.res)
	}
	b := e.encodeResource(m)
	e.res[m] = b
	return b
}

// appendLog appends the ExportLogsServiceRequest of l.
func (e *otlpEncoder) appendLog(dst []byte, l *event.Log) []byte {
	if !e.whole && !e.slow {
		appendFast := e.appendLogProto
		if e.json {
			appendFast = e.appendLogJSON
		}
		if out, ok := appendFast(dst, l, e.resource(l.Meta)); ok {
			return out
		}
	}
	r := e.rec
	r.SetTimestamp(pcommon.NewTimestampFromTime(l.Time))
	r.SetObservedTimestamp(pcommon.Timestamp(l.ReadAt))
	r.SetSeverityNumber(severity(l.Level))
	r.SetSeverityText(l.Level)
	// The body is only read by the marshaller below, before l can be
	// recycled: no copy.
	r.Body().SetStr(e.validUTF8(l.Body))
	// log.iostream and log.file.path stay the first two attributes, their
	// values replaced in place (no allocation); what a record adds after
	// them is removed once it is marshalled.
	attrs := r.Attributes()
	if attrs.Len() < 2 {
		attrs.Clear()
		attrs.PutStr(attrIOStream, "")
		attrs.PutStr(attrFilePath, "")
	}
	iostream, _ := attrs.Get(attrIOStream)
	iostream.SetStr(l.Stream.String())
	path, _ := attrs.Get(attrFilePath)
	path.SetStr(l.Path)
	for i := range l.Fields {
		if k := l.Fields[i].Key; k != attrIOStream && k != attrFilePath {
			putField(attrs, &l.Fields[i])
		}
	}
	if l.Lines > 1 {
		attrs.PutInt(attrLines, int64(l.Lines))
	}
	if l.Truncated {
		attrs.PutBool(attrTruncated, true)
	}
	defer func() {
		// Drop the references to l's memory (path may point into the
		// attributes' former array: get it again).
		r.Body().SetStr("")
		if v, ok := attrs.Get(attrFilePath); ok {
			v.SetStr("")
		}
		if attrs.Len() > 2 {
			attrs.RemoveIf(func(k string, _ pcommon.Value) bool { return k != attrIOStream && k != attrFilePath })
		}
	}()
	b := e.marshalLogs()
	if out, ok := e.splice(dst, b, e.resource(l.Meta), logsJSONPrefix); ok {
		return out
	}
	// Not expected (TestOTLPSpliceMatchesPdata): the whole request.
	res := e.logs.ResourceLogs().At(0).Resource().Attributes()
	putResource(res, l.Meta)
	b = e.marshalLogs()
	res.Clear()
	return append(dst, b...)
}

func (e *otlpEncoder) marshalLogs() []byte {
	var b []byte
	if e.json {
		b, _ = e.jl.MarshalLogs(e.logs) // cannot fail: every value is valid
	} else {
		b, _ = e.pl.MarshalLogs(e.logs)
	}
	return b
}

// validUTF8 returns b as a string, with each byte of an invalid UTF-8
// sequence replaced by U+FFFD as the json encoding does (protobuf strings
// must be UTF-8). The string shares b's memory when b is valid.
func (e *otlpEncoder) validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	e.utf = e.utf[:0]
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			e.utf = utf8.AppendRune(e.utf, utf8.RuneError)
		} else {
			e.utf = append(e.utf, b[i:i+size]...)
		}
		i += size
	}
	return unsafe.String(unsafe.SliceData(e.utf), len(e.utf))
}

// putField puts a field processing parsed from the message as a log
// attribute: a string as a string, a JSON number as an int (when it is an
// integer that fits) or a double, true/false as a bool, null as an empty
// value, an object or an array as a map or a slice.
func putField(attrs pcommon.Map, f *event.Field) {
	if !f.Raw {
		attrs.PutStr(f.Key, f.Value)
		return
	}
	v, ok := rawOTLPValue(f.Value)
	if !ok {
		var raw any
		if err := json.Unmarshal([]byte(f.Value), &raw); err != nil || attrs.PutEmpty(f.Key).FromRaw(raw) != nil {
			attrs.PutStr(f.Key, f.Value) // not expected: Value is valid JSON
		}
		return
	}
	switch v.kind {
	case 'b':
		attrs.PutBool(f.Key, v.i != 0)
	case 'n':
		attrs.PutEmpty(f.Key)
	case 'i':
		attrs.PutInt(f.Key, v.i)
	case 'd':
		attrs.PutDouble(f.Key, v.d)
	default:
		attrs.PutStr(f.Key, v.s)
	}
}

// snapshot prepares the encoding of snap's samples: the resource of its
// node, and the start time of its counters.
func (e *otlpEncoder) snapshot(snap *event.Snapshot) {
	if !e.nodeSet || snap.Node != e.node {
		e.node, e.nodeSet = snap.Node, true
		attrs := e.resMetrics.ResourceMetrics().At(0).Resource().Attributes()
		attrs.Clear()
		putNode(attrs, snap.Node)
		if e.json {
			b, _ := e.jm.MarshalMetrics(e.resMetrics)
			e.nodeRes = resourceJSON(b, metricsJSONPrefix)
		} else {
			b, _ := e.pm.MarshalMetrics(e.resMetrics)
			e.nodeRes = resourceProto(b)
		}
	}
	e.start = counterStart(snap, e.start)
	// Every counter's sum starts then: set once per snapshot.
	e.sum.point.SetStartTimestamp(pcommon.NewTimestampFromTime(e.start))
}

// counterStart is the start time of a snapshot's cumulative sums: the
// node's boot time when it carries node_boot_time_seconds, else prev, else
// the snapshot's time.
func counterStart(snap *event.Snapshot, prev time.Time) time.Time {
	for i := range snap.Metrics {
		if m := &snap.Metrics[i]; m.Name == bootTimeMetric && len(m.Labels) == 0 && m.Value > 0 && !math.IsInf(m.Value, 0) {
			sec, frac := math.Modf(m.Value)
			return time.Unix(int64(sec), int64(frac*1e9))
		}
	}
	if prev.IsZero() {
		return snap.Time
	}
	return prev
}

// putNode sets the resource attributes of a node's metrics.
func putNode(attrs pcommon.Map, node string) {
	if node != "" {
		attrs.PutStr("k8s.node.name", node)
		attrs.PutStr("host.name", node)
	}
}

// appendMetric appends the ExportMetricsServiceRequest of one sample taken
// at t (snapshot must have been called for its snapshot): a gauge, or a
// monotonic cumulative sum for a counter.
func (e *otlpEncoder) appendMetric(dst []byte, m *event.Metric, t time.Time) []byte {
	om := e.gauge
	if m.Type == event.Counter {
		om = e.sum // its start time set by snapshot
	}
	om.metric.SetName(m.Name)
	om.metric.SetUnit(metricUnit(m.Name))
	p := om.point
	p.SetTimestamp(pcommon.NewTimestampFromTime(t))
	p.SetDoubleValue(m.Value)
	attrs := p.Attributes()
	attrs.Clear()
	attrs.EnsureCapacity(len(m.Labels))
	for _, l := range m.Labels {
		attrs.PutStr(l.Name, l.Value)
	}
	b := e.marshalMetrics(om.metrics)
	if out, ok := e.splice(dst, b, e.nodeRes, metricsJSONPrefix); ok {
		return out
	}
	res := om.metrics.ResourceMetrics().At(0).Resource().Attributes()
	putNode(res, e.node)
	b = e.marshalMetrics(om.metrics)
	res.Clear()
	return append(dst, b...)
}

func (e *otlpEncoder) marshalMetrics(ms pmetric.Metrics) []byte {
	var b []byte
	if e.json {
		b, _ = e.jm.MarshalMetrics(ms)
	} else {
		b, _ = e.pm.MarshalMetrics(ms)
	}
	return b
}

// metricUnit is the UCUM unit of a node_exporter metric, read from the
// base unit its name ends with (before _total), as Prometheus names carry
// it; "" when the name carries none.
func metricUnit(name string) string {
	name = strings.TrimSuffix(name, "_total")
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return ""
	}
	switch name[i+1:] {
	case "seconds":
		return "s"
	case "bytes":
		return "By"
	case "celsius":
		return "Cel"
	case "hertz":
		return "Hz"
	case "joules":
		return "J"
	case "watts":
		return "W"
	case "volts":
		return "V"
	case "amperes":
		return "A"
	case "ratio":
		return "1"
	}
	return ""
}
