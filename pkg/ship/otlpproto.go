package ship

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/ferry-dev/ferry/pkg/event"
)

// The protobuf of a log record's request, written by hand: pdata builds a
// request and marshals it, which cost four to five times ferry's JSON
// encoding per line. appendLogProto writes the same bytes (pdata writes
// the fields of a message in the reverse of their declaration order in the
// .proto files, repeated fields in order, and a LogRecord's empty trace_id
// and span_id; TestOTLPProtoMatchesPdata and FuzzOTLPProto check it byte
// for byte) for the records it knows: fields that are strings or JSON
// scalars. A record with an object or array field, or a field named like
// one of ferry's own attributes, goes through pdata.

// Protobuf wire tags (field number << 3 | wire type) of the fields written.
const (
	tagField1Bytes = 0x0a // ExportLogsServiceRequest.resource_logs, AnyValue.string_value, KeyValue.key, ...
	tagField2Bytes = 0x12 // ResourceLogs.scope_logs, ScopeLogs.log_records, KeyValue.value
	tagTime        = 0x09 // LogRecord.time_unix_nano, fixed64
	tagObserved    = 0x59 // LogRecord.observed_time_unix_nano (11), fixed64
	tagSevNumber   = 0x10 // LogRecord.severity_number (2), varint
	tagSevText     = 0x1a // LogRecord.severity_text (3)
	tagBody        = 0x2a // LogRecord.body (5)
	tagAttr        = 0x32 // LogRecord.attributes (6)
	tagTraceID     = 0x4a // LogRecord.trace_id (9)
	tagSpanID      = 0x52 // LogRecord.span_id (10)
	tagAnyBool     = 0x10 // AnyValue.bool_value (2)
	tagAnyInt      = 0x18 // AnyValue.int_value (3)
	tagAnyDouble   = 0x21 // AnyValue.double_value (4), fixed64
)

// scopeField is ScopeLogs.scope: an InstrumentationScope named otlpScope.
var scopeField = func() []byte {
	scope := append([]byte{tagField1Bytes}, byte(len(otlpScope)))
	scope = append(scope, otlpScope...)
	return append([]byte{tagField1Bytes, byte(len(scope))}, scope...)
}()

// otlpValue is one attribute value as the fast path writes it.
type otlpValue struct {
	kind byte // 's' string, 'b' bool, 'i' int, 'd' double, 'n' empty
	s    string
	i    int64
	d    float64
}

// rawOTLPValue reads a field whose Value is JSON text (Raw) as an OTLP
// value: true/false a bool, null an empty value, an integer that fits an
// int, another number a double (one out of range a string); ok is false for
// an object or an array.
func rawOTLPValue(v string) (otlpValue, bool) {
	switch {
	case v == "true":
		return otlpValue{kind: 'b', i: 1}, true
	case v == "false":
		return otlpValue{kind: 'b'}, true
	case v == "null":
		return otlpValue{kind: 'n'}, true
	case v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return otlpValue{kind: 'i', i: n}, true
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			return otlpValue{kind: 'd', d: x}, true
		}
		return otlpValue{kind: 's', s: v}, true
	}
	return otlpValue{}, false
}

// anyValueLen is the size of an AnyValue holding v.
func (v *otlpValue) anyValueLen() int {
	switch v.kind {
	case 's':
		return 1 + uvarintLen(uint64(len(v.s))) + len(v.s)
	case 'b':
		return 2
	case 'i':
		return 1 + uvarintLen(uint64(v.i))
	case 'd':
		return 9
	}
	return 0
}

func (v *otlpValue) appendAnyValue(dst []byte) []byte {
	switch v.kind {
	case 's':
		dst = append(dst, tagField1Bytes)
		dst = binary.AppendUvarint(dst, uint64(len(v.s)))
		return append(dst, v.s...)
	case 'b':
		return append(dst, tagAnyBool, byte(v.i))
	case 'i':
		return binary.AppendUvarint(append(dst, tagAnyInt), uint64(v.i))
	case 'd':
		return binary.LittleEndian.AppendUint64(append(dst, tagAnyDouble), math.Float64bits(v.d))
	}
	return dst
}

// appendAttr appends one KeyValue of LogRecord.attributes: its value (an
// AnyValue, written even when it holds nothing), then its key (left out
// when empty, as proto3 leaves out an empty string).
func appendAttr(dst []byte, key string, v *otlpValue) []byte {
	vl := v.anyValueLen()
	kv := 1 + uvarintLen(uint64(vl)) + vl
	if key != "" {
		kv += 1 + uvarintLen(uint64(len(key))) + len(key)
	}
	dst = append(dst, tagAttr)
	dst = binary.AppendUvarint(dst, uint64(kv))
	dst = append(dst, tagField2Bytes)
	dst = binary.AppendUvarint(dst, uint64(vl))
	dst = v.appendAnyValue(dst)
	if key == "" {
		return dst
	}
	dst = append(dst, tagField1Bytes)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// otlpAttr is one attribute of a log record.
type otlpAttr struct {
	key string
	v   otlpValue
}

// logAttrs lists the attributes of l's record in the order pdata writes
// them (log.iostream, log.file.path, the parsed fields but those two keys,
// ferry.lines, ferry.truncated) into e.attrs, for the hand-written
// encodings; ok is false for a record they leave to pdata: an object or
// array field, a double when noDouble (pdata's JSON float formatting), a
// key twice or one named like ferry's own attributes (pdata replaces a key
// put again in place), or more than maxFastFields fields.
func (e *otlpEncoder) logAttrs(l *event.Log, noDouble bool) ([]otlpAttr, bool) {
	if len(l.Fields) > maxFastFields {
		return nil, false
	}
	a := append(e.attrs[:0],
		otlpAttr{attrIOStream, otlpValue{kind: 's', s: l.Stream.String()}},
		otlpAttr{attrFilePath, otlpValue{kind: 's', s: l.Path}})
	for i := range l.Fields {
		f := &l.Fields[i]
		switch f.Key {
		case attrIOStream, attrFilePath:
			continue
		case attrLines, attrTruncated:
			return nil, false
		}
		for j := range i {
			if l.Fields[j].Key == f.Key {
				return nil, false
			}
		}
		v := otlpValue{kind: 's', s: f.Value}
		if f.Raw {
			var ok bool
			if v, ok = rawOTLPValue(f.Value); !ok || noDouble && v.kind == 'd' {
				return nil, false
			}
		}
		a = append(a, otlpAttr{f.Key, v})
	}
	if l.Lines > 1 {
		a = append(a, otlpAttr{attrLines, otlpValue{kind: 'i', i: int64(l.Lines)}})
	}
	if l.Truncated {
		a = append(a, otlpAttr{attrTruncated, otlpValue{kind: 'b', i: 1}})
	}
	e.attrs = a
	return a, true
}

// maxFastFields bounds the pairwise key comparison of logAttrs.
const maxFastFields = 32

// appendLogProto appends the ExportLogsServiceRequest of l with res as its
// resource field, or returns ok false (nothing appended) for a record the
// fast path does not write.
func (e *otlpEncoder) appendLogProto(dst []byte, l *event.Log, res []byte) ([]byte, bool) {
	if res == nil {
		return dst, false
	}
	attrs, ok := e.logAttrs(l, false)
	if !ok {
		return dst, false
	}
	// The LogRecord, in e.lr.
	r := e.lr[:0]
	r = append(r, tagSpanID, 0, tagTraceID, 0)
	for i := range attrs {
		r = appendAttr(r, attrs[i].key, &attrs[i].v)
	}
	clear(attrs) // hold nothing of l once encoded
	body := e.validUTF8(l.Body)
	r = append(r, tagBody)
	r = binary.AppendUvarint(r, uint64(1+uvarintLen(uint64(len(body)))+len(body)))
	r = append(r, tagField1Bytes)
	r = binary.AppendUvarint(r, uint64(len(body)))
	r = append(r, body...)
	if l.Level != "" {
		r = append(r, tagSevText)
		r = binary.AppendUvarint(r, uint64(len(l.Level)))
		r = append(r, l.Level...)
	}
	if n := severity(l.Level); n != 0 {
		r = binary.AppendUvarint(append(r, tagSevNumber), uint64(n))
	}
	if l.ReadAt != 0 {
		r = binary.LittleEndian.AppendUint64(append(r, tagObserved), uint64(l.ReadAt))
	}
	if ts := uint64(l.Time.UnixNano()); ts != 0 { // as pcommon.NewTimestampFromTime
		r = binary.LittleEndian.AppendUint64(append(r, tagTime), ts)
	}
	e.lr = r

	sl := 1 + uvarintLen(uint64(len(r))) + len(r) + len(scopeField)
	rl := 1 + uvarintLen(uint64(sl)) + sl + len(res)
	dst = append(dst, tagField1Bytes)
	dst = binary.AppendUvarint(dst, uint64(rl))
	dst = append(dst, tagField2Bytes)
	dst = binary.AppendUvarint(dst, uint64(sl))
	dst = append(dst, tagField2Bytes)
	dst = binary.AppendUvarint(dst, uint64(len(r)))
	dst = append(dst, r...)
	dst = append(dst, scopeField...)
	return append(dst, res...), true
}
