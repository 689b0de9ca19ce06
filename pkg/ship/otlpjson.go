package ship

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/ferry-dev/ferry/pkg/event"
)

// The OTLP/JSON of a log record's request, written by hand as
// appendLogProto writes its protobuf: the bytes pdata's JSON marshaller
// writes for the same request (its fields in declaration order, zero
// values and empty keys left out, 64-bit integers as quoted decimals,
// strings escaped as below; TestOTLPJSONMatchesPdata and FuzzOTLPJSON
// check it byte for byte), for records whose fields are strings, integers,
// booleans or nulls; logAttrs says which records it leaves to pdata.

// logsJSONScope is what follows a log request's resource up to its record.
const logsJSONScope = `,"scopeLogs":[{"scope":{"name":"` + otlpScope + `"},"logRecords":[{`

// appendOTLPJSONString appends s as pdata's JSON writer does: '"' and '\'
// escaped, \n \r \t by their short escapes, other control characters as
// \u00xx (lower-case hex), every other byte as it is (no HTML escaping,
// no UTF-8 repair).
func appendOTLPJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		// Skip plain ASCII eight bytes at a time (special8 also stops at
		// bytes of 0x80 and above, which are then passed one by one).
		for i+8 <= len(s) {
			m := special8(binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8)))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONAttr appends one attribute: {"key":...,"value":{...}} (an empty
// value for null, the key left out when empty).
func appendJSONAttr(dst []byte, key string, v *otlpValue) []byte {
	dst = append(dst, '{')
	if key != "" {
		dst = append(dst, `"key":`...)
		dst = appendOTLPJSONString(dst, key)
		dst = append(dst, ',')
	}
	dst = append(dst, `"value":{`...)
	switch v.kind {
	case 's':
		dst = append(dst, `"stringValue":`...)
		dst = appendOTLPJSONString(dst, v.s)
	case 'b':
		dst = append(dst, `"boolValue":`...)
		dst = strconv.AppendBool(dst, v.i != 0)
	case 'i':
		dst = append(dst, `"intValue":"`...)
		dst = strconv.AppendInt(dst, v.i, 10)
		dst = append(dst, '"')
	}
	return append(dst, '}', '}')
}

// appendLogJSON appends the OTLP/JSON ExportLogsServiceRequest of l with
// res as its resource object, or returns ok false (nothing appended) for a
// record the fast path does not write.
func (e *otlpEncoder) appendLogJSON(dst []byte, l *event.Log, res []byte) ([]byte, bool) {
	if res == nil {
		return dst, false
	}
	attrs, ok := e.logAttrs(l, true)
	if !ok {
		return dst, false
	}
	dst = append(dst, logsJSONPrefix...)
	dst = append(dst, res...)
	dst = append(dst, logsJSONScope...)
	// The fields before the body, each followed by its comma.
	if ts := uint64(l.Time.UnixNano()); ts != 0 {
		dst = append(dst, `"timeUnixNano":"`...)
		dst = strconv.AppendUint(dst, ts, 10)
		dst = append(dst, `",`...)
	}
	if l.ReadAt != 0 {
		dst = append(dst, `"observedTimeUnixNano":"`...)
		dst = strconv.AppendUint(dst, uint64(l.ReadAt), 10)
		dst = append(dst, `",`...)
	}
	if n := severity(l.Level); n != 0 {
		dst = append(dst, `"severityNumber":`...)
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, ',')
	}
	if l.Level != "" {
		dst = append(dst, `"severityText":`...)
		dst = appendOTLPJSONString(dst, l.Level)
		dst = append(dst, ',')
	}
	dst = append(dst, `"body":{"stringValue":`...)
	dst = appendOTLPJSONString(dst, e.validUTF8(l.Body))
	dst = append(dst, `},"attributes":[`...)
	for i := range attrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONAttr(dst, attrs[i].key, &attrs[i].v)
	}
	clear(attrs) // hold nothing of l once encoded
	return append(dst, `]}]}]}]}`...), true
}
