package ship

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/ferry-dev/ferry/pkg/event"
)

// timeLayout is RFC 3339 with exactly nine fractional digits, always in UTC,
// so that shipped timestamps sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// emptyKubernetes is the "kubernetes" object of a record without metadata.
const emptyKubernetes = `{"namespace":"","pod":"","pod_uid":"","container":"","container_id":"","image":"","node":"","labels":{},"owner":{"kind":"","name":""}}`

// maxMetaCache bounds each of ship's small caches: the encoded metadata
// objects an encoder keeps, the topics a router has resolved, the metadata
// responses of metaCache and the partition lists of the producer. When
// one is full it is cleared and refilled.
const maxMetaCache = 4096

// encoder turns records into JSON documents. It caches the encoded
// "kubernetes" object of each *event.Meta it has seen (a Meta is immutable
// and shared by many lines), so that encoding a line allocates nothing once
// its Meta was seen. An encoder is not safe for concurrent use.
type encoder struct {
	meta map[*event.Meta][]byte
	keys []string // scratch for sorting map keys

	// The seconds part of the last timestamp encoded: lines come in time
	// order, so most share it and only the nanoseconds are formatted.
	sec    int64
	secFmt []byte

	// The members of a record between its message and its offset
	// (kubernetes and file) for the last Meta and path encoded: lines come
	// in runs from one file, so most records share them and the path is
	// not escaped again for each.
	srcMeta *event.Meta
	srcPath string
	src     []byte
}

func newEncoder() *encoder {
	return &encoder{meta: make(map[*event.Meta][]byte)}
}

// appendLog appends the JSON document of l (without a trailing newline).
func (e *encoder) appendLog(dst []byte, l *event.Log) []byte {
	dst = append(dst, `{"time":"`...)
	dst = e.appendTime(dst, l.Time)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, l.Stream.String()...)
	dst = append(dst, `","message":`...)
	dst = appendString(dst, l.Body)
	dst = appendProcessed(dst, l)
	dst = append(dst, e.source(l.Meta, l.Path)...)
	dst = strconv.AppendInt(dst, l.Cursor.Offset, 10)
	if l.Truncated {
		dst = append(dst, `,"truncated":true}`...)
	} else {
		dst = append(dst, `,"truncated":false}`...)
	}
	return dst
}

// appendProcessed appends what processing added to a record, each key only
// when set: "level", "fields" (an object in the order parsed) and "lines".
func appendProcessed(dst []byte, l *event.Log) []byte {
	if l.Level != "" {
		dst = append(dst, `,"level":`...)
		dst = appendString(dst, l.Level)
	}
	if len(l.Fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		dst = appendMembers(dst, l.Fields)
		dst = append(dst, '}')
	}
	if l.Lines > 1 {
		dst = append(dst, `,"lines":`...)
		dst = strconv.AppendInt(dst, int64(l.Lines), 10)
	}
	return dst
}

// appendLineObject appends the parsed line of l as one JSON object: its
// message under MessageKey, then its fields in the order parsed.
func appendLineObject(dst []byte, l *event.Log) []byte {
	dst = append(dst, '{')
	dst = appendString(dst, l.MessageKey)
	dst = append(dst, ':')
	dst = appendString(dst, l.Body)
	if len(l.Fields) > 0 {
		dst = appendMembers(append(dst, ','), l.Fields)
	}
	return append(dst, '}')
}

// appendMembers appends fields as the members of a JSON object, in order.
func appendMembers(dst []byte, fields []event.Field) []byte {
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f.Key)
		dst = append(dst, ':')
		if f.Raw {
			dst = append(dst, f.Value...)
		} else {
			dst = appendString(dst, f.Value)
		}
	}
	return dst
}

// appendTime appends t as timeLayout does (UTC, nine fractional digits),
// formatting the date and clock only when the second changes.
func (e *encoder) appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if sec := t.Unix(); sec != e.sec || e.secFmt == nil {
		e.sec = sec
		e.secFmt = t.AppendFormat(e.secFmt[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, e.secFmt...)
	var frac [10]byte
	frac[0] = '.'
	ns := t.Nanosecond()
	for i := 9; i > 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	dst = append(dst, frac[:]...)
	return append(dst, 'Z')
}

// source returns `,"kubernetes":{...},"file":"<path>","offset":` for m
// and path, built again only when either differs from the last call's.
func (e *encoder) source(m *event.Meta, path string) []byte {
	if e.src != nil && m == e.srcMeta && path == e.srcPath {
		return e.src
	}
	b := append(e.src[:0], `,"kubernetes":`...)
	b = append(b, e.kubernetes(m)...)
	b = append(b, `,"file":`...)
	b = appendString(b, path)
	b = append(b, `,"offset":`...)
	e.srcMeta, e.srcPath, e.src = m, path, b
	return b
}

// kubernetes returns the encoded "kubernetes" object of m.
func (e *encoder) kubernetes(m *event.Meta) []byte {
	if m == nil {
		return []byte(emptyKubernetes)
	}
	if b, ok := e.meta[m]; ok {
		return b
	}
	if len(e.meta) >= maxMetaCache {
		clear(e.meta)
	}
	b := e.encodeMeta(nil, m)
	e.meta[m] = b
	return b
}

func (e *encoder) encodeMeta(dst []byte, m *event.Meta) []byte {
	dst = append(dst, `{"namespace":`...)
	dst = appendString(dst, m.Namespace)
	dst = append(dst, `,"pod":`...)
	dst = appendString(dst, m.Pod)
	dst = append(dst, `,"pod_uid":`...)
	dst = appendString(dst, m.PodUID)
	dst = append(dst, `,"container":`...)
	dst = appendString(dst, m.Container)
	dst = append(dst, `,"container_id":`...)
	dst = appendString(dst, m.ContainerID)
	dst = append(dst, `,"image":`...)
	dst = appendString(dst, m.Image)
	dst = append(dst, `,"node":`...)
	dst = appendString(dst, m.Node)
	dst = append(dst, `,"labels":`...)
	dst = e.appendMap(dst, m.Labels)
	if len(m.Annotations) > 0 {
		dst = append(dst, `,"annotations":`...)
		dst = e.appendMap(dst, m.Annotations)
	}
	if len(m.NamespaceLabels) > 0 {
		dst = append(dst, `,"namespace_labels":`...)
		dst = e.appendMap(dst, m.NamespaceLabels)
	}
	dst = append(dst, `,"owner":{"kind":`...)
	dst = appendString(dst, m.Owner.Kind)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, m.Owner.Name)
	dst = append(dst, `}}`...)
	return dst
}

// appendMap appends a JSON object of m with its keys sorted.
func (e *encoder) appendMap(dst []byte, m map[string]string) []byte {
	e.keys = e.keys[:0]
	for k := range m {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys)
	dst = append(dst, '{')
	for i, k := range e.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	clear(e.keys) // do not keep the strings alive
	return append(dst, '}')
}

// appendMetric appends the JSON document of one metric sample taken at t on
// node (see the package documentation for the schema).
func appendMetric(dst []byte, m *event.Metric, t time.Time, node string) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, m.Name)
	dst = append(dst, `,"labels":{`...)
	for i := range m.Labels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.Labels[i].Name)
		dst = append(dst, ':')
		dst = appendString(dst, m.Labels[i].Value)
	}
	dst = append(dst, `},"value":`...)
	dst = appendFloat(dst, m.Value)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, m.Type.String()...)
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, `","node":`...)
	dst = appendString(dst, node)
	return append(dst, '}')
}

// appendFloat appends v as a JSON number; NaN and infinities, which JSON
// cannot represent, become null.
func appendFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	// Like encoding/json: plain notation for ordinary magnitudes.
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

const hex = "0123456789abcdef"

// safe reports the ASCII bytes that need no escaping inside a JSON string.
var safe = func() (t [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD byte by byte, control characters are escaped, and U+2028/U+2029
// are escaped, exactly as encoding/json does (except that <, > and & are
// left as they are, which decodes to the same string).
func appendString[T string | []byte](dst []byte, s T) []byte {
	var b []byte
	switch v := any(s).(type) {
	case string:
		b = unsafe.Slice(unsafe.StringData(v), len(v)) // read only
	case []byte:
		b = v
	}
	return appendJSONString(dst, b)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 flags, in the high bit of each byte of the 8 bytes of x (little
// endian), the bytes that are not plain ASCII needing no escape: >= 0x80,
// < 0x20, '"' or '\\'. The zero-byte tests ((v - lsb) &^ v & msb) may also
// flag bytes above a true match, never below one, so the lowest flagged
// byte is always a true one.
func special8(x uint64) uint64 {
	ctl := (x - lsb*0x20) &^ x
	q := x ^ (lsb * '"')
	q = (q - lsb) &^ q
	bs := x ^ (lsb * '\\')
	bs = (bs - lsb) &^ bs
	return (x | ctl | q | bs) & msb
}

// specials8 is special8 in two parts, and exact: other flags the bytes >=
// 0x80 or < 0x20, qb the quotes and backslashes (and bytes >= 0x80 whose
// low 7 bits are one; other flags them too). The tests are on the low 7
// bits of each byte, where adding never carries into the next byte.
func specials8(x uint64) (other, qb uint64) {
	x7 := x &^ msb
	ctl := ^(x7 + lsb*(0x80-0x20)) // high bit set: below 0x20
	q := x7 ^ (lsb * '"')
	bs := x7 ^ (lsb * '\\')
	qb = ^(q + lsb*0x7f) | ^(bs + lsb*0x7f) // high bit set: zero
	return (x | ctl) & msb, qb & msb
}

// bytesIndex has k in byte k: added to a prefix sum of escapes (at most 8
// per byte), the place of each byte of a word in its escaped form.
const bytesIndex = 0x0706050403020100

// appendJSONString writes by index into dst's capacity, grown up front to
// the string's length plus strSlack, 8 bytes at a time: as they are while
// they are plain ASCII (most log text is); with a backslash before each
// quote and backslash, without a branch per byte, when the others are
// printable ASCII (JSON text, a quote every few bytes); else up to the
// first byte that needs a look, which is escaped or decoded alone. A
// copy of the short run before each quote and an append per escape cost
// more than the escape itself (BenchmarkAppendString, json330).
//
// The room left is kept at least the input left plus 8 (a word stored
// whole, of which only the plain bytes count): only escapes take more
// room than input (8 more at most for a word, 5 for a byte), and room is
// checked before each. It may write into dst's capacity past the length
// it returns (a word's escaped form is written over 16 bytes).
func appendJSONString(dst []byte, s []byte) []byte {
	n := len(dst)
	if cap(dst)-n < len(s)+strSlack {
		dst = slices.Grow(dst, len(s)+strSlack)
	}
	buf := dst[:cap(dst)]
	buf[n] = '"'
	n++
	i := 0
	for i < len(s) {
		for i+8 <= len(s) {
			x := binary.LittleEndian.Uint64(s[i:])
			other, qb := specials8(x)
			if other != 0 {
				binary.LittleEndian.PutUint64(buf[n:], x)
				k := bits.TrailingZeros64(other|qb) >> 3
				i += k
				n += k
				break
			}
			if qb == 0 {
				binary.LittleEndian.PutUint64(buf[n:], x)
				i += 8
				n += 8
				continue
			}
			if len(buf)-n < len(s)-i+strSlack {
				buf = growBuf(buf, n, len(s)-i+strSlack)
			}
			// Printable ASCII with quotes or backslashes: byte k goes to
			// k plus the escapes among bytes 0..k (a prefix sum taken by
			// one multiplication), over 16 backslashes.
			d := (*[16]byte)(buf[n : n+16])
			pos := (qb>>7)*lsb + bytesIndex
			binary.LittleEndian.PutUint64(d[0:], lsb*'\\')
			binary.LittleEndian.PutUint64(d[8:], lsb*'\\')
			d[byte(pos)&15] = byte(x)
			d[byte(pos>>8)&15] = byte(x >> 8)
			d[byte(pos>>16)&15] = byte(x >> 16)
			d[byte(pos>>24)&15] = byte(x >> 24)
			d[byte(pos>>32)&15] = byte(x >> 32)
			d[byte(pos>>40)&15] = byte(x >> 40)
			d[byte(pos>>48)&15] = byte(x >> 48)
			d[byte(pos>>56)&15] = byte(x >> 56)
			n += int(pos>>56) + 1
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if safe[b] {
				buf[n] = b
				n++
				i++
				continue
			}
			if len(buf)-n < len(s)-i+strSlack {
				buf = growBuf(buf, n, len(s)-i+strSlack)
			}
			switch b {
			case '"', '\\':
				buf[n], buf[n+1] = '\\', b
				n += 2
			case '\n':
				buf[n], buf[n+1] = '\\', 'n'
				n += 2
			case '\r':
				buf[n], buf[n+1] = '\\', 'r'
				n += 2
			case '\t':
				buf[n], buf[n+1] = '\\', 't'
				n += 2
			default:
				n += copy(buf[n:], `\u00`)
				buf[n], buf[n+1] = hex[b>>4], hex[b&0xf]
				n += 2
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			if len(buf)-n < len(s)-i+strSlack {
				buf = growBuf(buf, n, len(s)-i+strSlack)
			}
			n += copy(buf[n:], `\ufffd`)
			i++
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			if len(buf)-n < len(s)-i+strSlack {
				buf = growBuf(buf, n, len(s)-i+strSlack)
			}
			n += copy(buf[n:], `\u202`)
			buf[n] = hex[r&0xf]
			n++
			i += size
			continue
		}
		n += copy(buf[n:], s[i:i+size])
		i += size
	}
	buf[n] = '"'
	return buf[:n+1]
}

// strSlack is the room appendJSONString keeps beyond the input left: 8 for
// a stored word and 8 for the escapes of a word (or 6 for the escape of a
// byte, and the closing quote).
const strSlack = 16

// growBuf returns buf (its whole capacity, the first n bytes written) with
// at least need bytes of room after n.
func growBuf(buf []byte, n, need int) []byte {
	buf = slices.Grow(buf[:n], need)
	return buf[:cap(buf)]
}
