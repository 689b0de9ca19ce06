package tail

import (
	"bytes"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/pkg/event"
)

// format is the on-disk framing of one log file, detected from its first line.
type format uint8

const (
	formatUnknown format = iota
	formatCRI
	formatDocker
)

// detectFormat guesses the framing from one raw line: docker json-file lines
// are JSON objects, everything else is taken as CRI.
func detectFormat(line []byte) format {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r':
			continue
		case '{':
			return formatDocker
		default:
			return formatCRI
		}
	}
	return formatUnknown
}

// mark is what the follower needs to acknowledge one emitted line: the end
// offset of the line in the file, and the safe offset, which is where reading
// must resume if everything up to and including this line was delivered. It is
// below end while a partial line of the other stream is still being merged.
type mark struct {
	end   int64
	safe  int64
	heap  int64 // bytes of the record's own body (a merged line), beside the file bytes it was read from
	lines int64 // lines of the file it was made of (its partial fragments), 1 or more
}

// linkedMark is a record of marks[i] that began in rotated files: their
// trailing fragments it covers (see carryOver). Rare, so kept beside the
// marks rather than in each.
type linkedMark struct {
	i     int
	links []link
}

// link is the trailing fragments of a rotated file carried into the next
// file's merge: the rotated file's tracker holds an entry ending at end for
// them, acknowledged when the line they are merged into is (checkpoint.go
// settle).
type link struct {
	tr  *tracker
	end int64
}

// pending is a partial line being merged, one per stream.
type pending struct {
	buf       []byte
	start     int64 // file offset where the first fragment began
	time      time.Time
	active    bool
	truncated bool
	frags     int64  // fragments merged so far
	links     []link // rotated files it began in, oldest first (carried over a rotation)
	fragsIn   int64  // frags when it was carried into this file
}

// decoder turns raw lines of one file into records. It is not safe for
// concurrent use; a follower owns one.
type decoder struct {
	format  format
	maxLine int
	pend    [2]pending
	tc      tsCache
	// cont marks a stream whose first line in this file continues a line
	// cut by rotation in the previous file: it is flagged truncated.
	cont [2]bool
	// cutStream is set by flush(…, true) for each stream it cut.
	cutStream [2]bool
	heap      int64  // for the next emit: bytes of a body allocated for it
	frags     int64  // for the next emit: the fragments merged into it (0: one line)
	links     []link // for the next emit: the rotated files' fragments merged into it

	logs   []event.Log  // output: records, appended
	marks  []mark       // output: one per record
	linked []linkedMark // output: the marks of records begun in rotated files, in order
	path   string
	now    int64 // ReadAt for records produced now
	// counters since the last reset by the follower
	parseErrors int
	truncated   int
}

// safeOffset is the lowest offset a restart may resume from without splitting
// a merge in progress.
func (d *decoder) safeOffset(end int64) int64 {
	s := end
	for i := range d.pend {
		if d.pend[i].active && d.pend[i].start < s {
			s = d.pend[i].start
		}
	}
	return s
}

func (d *decoder) emit(l event.Log, end int64) {
	if s := l.Stream; (s == event.Stdout || s == event.Stderr) && d.cont[s] && !l.ParseError {
		l.Truncated, d.cont[s] = true, false
	}
	l.ReadAt = d.now
	l.Path = d.path
	if l.Truncated {
		d.truncated++
	}
	if l.ParseError {
		d.parseErrors++
	}
	d.logs = append(d.logs, l)
	if d.links != nil {
		d.linked = append(d.linked, linkedMark{i: len(d.marks), links: d.links})
	}
	d.marks = append(d.marks, mark{end: end, safe: d.safeOffset(end), heap: d.heap, lines: max(d.frags, 1)})
	d.heap, d.frags, d.links = 0, 0, nil
}

// clip returns b cut to max bytes (never splitting a UTF-8 sequence when a
// boundary is near) and whether it was cut.
func clip(b []byte, max int) ([]byte, bool) {
	if len(b) <= max {
		return b, false
	}
	n := max
	// Step back over at most 3 continuation bytes to keep the cut valid UTF-8.
	for i := 0; i < 3 && n > 0 && !utf8.RuneStart(b[n]); i++ {
		n--
	}
	if n == 0 || !utf8.RuneStart(b[n]) {
		n = max
	}
	return b[:n:n], true
}

// line decodes one raw line (without its newline). start and end are the
// file offsets of the line's first byte and just past its newline. cut says
// the line was longer than the follower's raw limit and ends early. The
// bytes of raw may be rewritten in place (JSON unescaping) and are
// referenced by the emitted records: the caller must not reuse them.
func (d *decoder) line(raw []byte, start, end int64, cut bool) {
	if d.format == formatUnknown {
		d.format = detectFormat(raw)
		if d.format == formatUnknown { // empty or blank first line
			d.raw(raw, end, cut)
			return
		}
	}
	var (
		ts      time.Time
		stream  event.Stream
		partial bool
		msg     []byte
		ok      bool
	)
	if d.format == formatDocker {
		ts, stream, partial, msg, ok = parseDocker(raw, &d.tc)
	} else {
		ts, stream, partial, msg, ok = parseCRI(raw, &d.tc)
	}
	if !ok {
		d.raw(raw, end, cut)
		return
	}
	p := &d.pend[stream]
	if partial || p.active {
		if !p.active {
			p.active = true
			p.start = start
			p.time = ts
			p.buf = p.buf[:0]
			p.frags = 0
		}
		p.frags++
		room := d.maxLine - len(p.buf)
		if p.truncated {
			msg = nil
		} else if len(msg) > room {
			msg, _ = clip(msg, room)
			p.truncated = true
		}
		if need := len(p.buf) + len(msg); need > cap(p.buf) && need > 64<<10 {
			// A long line: one buffer with room for the longest line, so
			// its fragments are not copied again as it grows.
			nb := make([]byte, len(p.buf), max(need, d.maxLine))
			copy(nb, p.buf)
			p.buf = nb
		}
		p.buf = append(p.buf, msg...)
		if cut {
			p.truncated = true
		}
		if partial {
			return
		}
		// The merge buffer becomes the record's body (no copy); the next
		// merge starts a new one.
		body := p.buf[:len(p.buf):len(p.buf)]
		l := event.Log{Time: p.time, Body: body, Stream: stream, Truncated: p.truncated}
		d.heap, d.frags, d.links = int64(cap(p.buf)), p.frags, p.links
		p.active, p.truncated, p.buf, p.links = false, false, nil, nil
		d.emit(l, end)
		return
	}
	body, tr := clip(msg, d.maxLine)
	d.emit(event.Log{Time: ts, Body: body, Stream: stream, Truncated: tr || cut}, end)
}

// raw emits a line that did not parse, as read.
func (d *decoder) raw(raw []byte, end int64, cut bool) {
	body, tr := clip(raw, d.maxLine)
	d.emit(event.Log{Time: time.Unix(0, d.now), Body: body, Stream: event.Stdout, Truncated: tr || cut, ParseError: true}, end)
}

// flush emits merges still in progress as they are, for a file that will not
// grow any more (closed after rotation or deletion, or truncated), and
// returns how many. cut flags them truncated (their end will never come
// from this file) and records which streams were cut in cutStream.
func (d *decoder) flush(end int64, cut bool) int {
	n := 0
	for s := range d.pend {
		p := &d.pend[s]
		d.cutStream[s] = false
		if !p.active {
			continue
		}
		body := p.buf[:len(p.buf):len(p.buf)]
		l := event.Log{Time: p.time, Body: body, Stream: event.Stream(s), Truncated: p.truncated || cut}
		d.heap, d.frags, d.links = int64(cap(p.buf)), p.frags, p.links
		p.active, p.truncated, p.buf, p.links = false, false, nil, nil
		d.emit(l, end)
		d.cutStream[s] = cut
		n++
	}
	return n
}

// carrying says whether a merge in progress began in a rotated file: its
// first fragments are in memory only (the file it was read from is closed),
// so they cannot be given back and read again (held.go spill).
func (d *decoder) carrying() bool {
	return len(d.pend[0].links) > 0 || len(d.pend[1].links) > 0
}

// splitLines feeds every complete line of data to d. data starts at file
// offset base. It returns how many bytes were consumed (up to and including
// the last newline). Lines keep their bytes in data (no copy).
func (d *decoder) splitLines(data []byte, base int64) int {
	consumed := 0
	for {
		i := bytes.IndexByte(data[consumed:], '\n')
		if i < 0 {
			return consumed
		}
		start := base + int64(consumed)
		d.line(data[consumed:consumed+i:consumed+i], start, start+int64(i)+1, false)
		consumed += i + 1
	}
}

// parseCRI parses `<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <message>`.
func parseCRI(line []byte, tc *tsCache) (ts time.Time, stream event.Stream, partial bool, msg []byte, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return
	}
	if ts, ok = tc.parse(line[:sp]); !ok {
		return
	}
	ok = false
	rest := line[sp+1:]
	switch {
	case len(rest) >= 7 && string(rest[:7]) == "stdout ":
		stream = event.Stdout
	case len(rest) >= 7 && string(rest[:7]) == "stderr ":
		stream = event.Stderr
	default:
		return
	}
	rest = rest[7:]
	// Tag: P or F, optionally followed by ":"-separated extra tags.
	if len(rest) == 0 || (rest[0] != 'P' && rest[0] != 'F') {
		return
	}
	partial = rest[0] == 'P'
	i := 1
	if i < len(rest) && rest[i] == ':' {
		for i < len(rest) && rest[i] != ' ' {
			i++
		}
	}
	switch {
	case i == len(rest): // "... F" with an empty message and no separator
		msg = rest[i:]
	case rest[i] == ' ':
		msg = rest[i+1:]
	default:
		return
	}
	ok = true
	return
}

// parseDocker parses one docker json-file line:
// {"log":"...\n","stream":"stdout","time":"..."} in any key order, other
// keys ignored. The log value is unescaped in place; msg aliases line.
func parseDocker(line []byte, tc *tsCache) (ts time.Time, stream event.Stream, partial bool, msg []byte, ok bool) {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return
	}
	i++
	var (
		logStart, logEnd = -1, -1
		logEsc           bool
		haveStream       bool
		haveTime         bool
	)
	for {
		i = skipWS(line, i)
		if i >= len(line) {
			return
		}
		if line[i] == '}' {
			i++
			break
		}
		if line[i] != '"' {
			return
		}
		ks := i + 1
		ke, kesc, sok := scanString(line, ks)
		if !sok {
			return
		}
		i = skipWS(line, ke+1)
		if i >= len(line) || line[i] != ':' {
			return
		}
		i = skipWS(line, i+1)
		if i >= len(line) {
			return
		}
		key := line[ks:ke]
		switch {
		case !kesc && string(key) == "log":
			if line[i] != '"' {
				return
			}
			e, esc, sok := scanString(line, i+1)
			if !sok {
				return
			}
			logStart, logEnd, logEsc = i+1, e, esc
			i = e + 1
		case !kesc && string(key) == "stream":
			if line[i] != '"' {
				return
			}
			e, _, sok := scanString(line, i+1)
			if !sok {
				return
			}
			switch string(line[i+1 : e]) {
			case "stdout":
				stream = event.Stdout
			case "stderr":
				stream = event.Stderr
			default:
				return
			}
			haveStream = true
			i = e + 1
		case !kesc && string(key) == "time":
			if line[i] != '"' {
				return
			}
			e, _, sok := scanString(line, i+1)
			if !sok {
				return
			}
			var tok bool
			if ts, tok = tc.parse(line[i+1 : e]); !tok {
				return
			}
			haveTime = true
			i = e + 1
		default:
			var vok bool
			if i, vok = skipValue(line, i); !vok {
				return
			}
		}
		i = skipWS(line, i)
		if i >= len(line) {
			return
		}
		if line[i] == ',' {
			i++
			continue
		}
		if line[i] == '}' {
			i++
			break
		}
		return
	}
	if skipWS(line, i) != len(line) || logStart < 0 || !haveStream || !haveTime {
		return
	}
	v := line[logStart:logEnd]
	if logEsc {
		// Fast path: the only escape is the final \n; nothing is rewritten.
		if len(v) >= 2 && v[len(v)-2] == '\\' && v[len(v)-1] == 'n' && bytes.IndexByte(v[:len(v)-2], '\\') < 0 {
			msg = v[: len(v)-2 : len(v)-2]
			ok = true
			return
		}
		v = unescapeInPlace(v)
	}
	if len(v) > 0 && v[len(v)-1] == '\n' {
		msg = v[: len(v)-1 : len(v)-1]
	} else {
		msg = v[:len(v):len(v)]
		partial = true
	}
	ok = true
	return
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString finds the closing quote of a JSON string whose content starts
// at i. It reports whether any escape was seen. It is linear in the string's
// length whatever the number of escapes.
func scanString(b []byte, i int) (end int, esc bool, ok bool) {
	q := -1
	for j := i; ; {
		if q < j {
			n := bytes.IndexByte(b[j:], '"')
			if n < 0 {
				return 0, false, false
			}
			q = j + n
		}
		bs := bytes.IndexByte(b[j:q], '\\')
		if bs < 0 {
			return q, esc, true
		}
		esc = true
		j += bs + 2 // skip the escaped byte (which may be the quote at q)
		if j > len(b) {
			return 0, false, false
		}
	}
}

// skipValue skips one JSON value of a key we do not use (objects and arrays
// are skipped by bracket depth).
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			e, _, ok := scanString(b, i+1)
			if !ok {
				return 0, false
			}
			i = e + 1
			if depth == 0 {
				return i, true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		}
		i++
	}
	return 0, false
}

// unescapeInPlace decodes JSON string escapes; the result is never longer
// than the input, so it is written over it. Runs without escapes are moved
// with copy. Invalid escapes are kept as written; invalid \u sequences become
// U+FFFD.
func unescapeInPlace(b []byte) []byte {
	r := bytes.IndexByte(b, '\\')
	if r < 0 {
		return b
	}
	w := r
	for r < len(b) {
		// b[r] is a backslash.
		if r+1 >= len(b) { // a lone backslash at the end stays
			b[w] = '\\'
			w++
			break
		}
		c := b[r+1]
		r += 2
		switch c {
		case '"', '\\', '/':
			b[w] = c
			w++
		case 'b':
			b[w] = '\b'
			w++
		case 'f':
			b[w] = '\f'
			w++
		case 'n':
			b[w] = '\n'
			w++
		case 'r':
			b[w] = '\r'
			w++
		case 't':
			b[w] = '\t'
			w++
		case 'u':
			cp, ok := hex4(b, r)
			if !ok {
				b[w], b[w+1] = '\\', 'u'
				w += 2
				break
			}
			r += 4
			if utf16IsHigh(cp) {
				if lo, ok := hex4(b, r+2); ok && r+1 < len(b) && b[r] == '\\' && b[r+1] == 'u' && utf16IsLow(lo) {
					cp = 0x10000 + (cp-0xD800)<<10 + (lo - 0xDC00)
					r += 6
				} else {
					cp = utf8.RuneError
				}
			} else if utf16IsLow(cp) {
				cp = utf8.RuneError
			}
			w += utf8.EncodeRune(b[w:], cp)
		default:
			b[w], b[w+1] = '\\', c
			w += 2
		}
		next := bytes.IndexByte(b[r:], '\\')
		if next < 0 {
			w += copy(b[w:], b[r:])
			break
		}
		w += copy(b[w:], b[r:r+next])
		r += next
	}
	return b[:w:w]
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func utf16IsLow(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// parseTime parses an RFC 3339 timestamp with optional fraction (up to 9
// digits are kept) and a Z or ±hh:mm zone, without allocating. The result is
// in UTC.
func parseTime(b []byte) (time.Time, bool) {
	return (*tsCache)(nil).parse(b)
}

// tsCache remembers the seconds of the last "YYYY-MM-DDTHH:MM:SS" seen:
// consecutive lines of a log mostly share it, and then only the fraction and
// the zone are parsed.
type tsCache struct {
	key [19]byte
	sec int64
	ok  bool
}

func (c *tsCache) parse(b []byte) (time.Time, bool) {
	if len(b) < 20 {
		return time.Time{}, false
	}
	var sec int64
	if c != nil && c.ok && string(b[:19]) == string(c.key[:]) {
		sec = c.sec
	} else {
		var ok bool
		if sec, ok = parseSeconds(b[:19]); !ok {
			return time.Time{}, false
		}
		if c != nil {
			copy(c.key[:], b[:19])
			c.sec, c.ok = sec, true
		}
	}
	nsec, off, ok := parseFracZone(b[19:])
	if !ok {
		return time.Time{}, false
	}
	// A zone offset can carry a time at the edge of years 0000-9999 out of
	// them, where it has no RFC 3339 form: such a stamp does not parse.
	if u := sec - int64(off); u < minRFC3339Unix || u > maxRFC3339Unix {
		return time.Time{}, false
	}
	return time.Unix(sec-int64(off), int64(nsec)).UTC(), true
}

// The first and last second of years 0000-9999 in UTC, what RFC 3339 can
// write.
const (
	minRFC3339Unix = -62167219200 // 0000-01-01T00:00:00Z
	maxRFC3339Unix = 253402300799 // 9999-12-31T23:59:59Z
)

// parseSeconds parses "YYYY-MM-DDTHH:MM:SS" as seconds since the epoch.
func parseSeconds(b []byte) (int64, bool) {
	if b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).Unix(), true
}

// parseFracZone parses "[.fraction](Z|±hh:mm)" into nanoseconds and the
// zone's offset east of UTC in seconds.
func parseFracZone(b []byte) (nsec, off int, ok bool) {
	i := 0
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if n < 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			n++
			i++
		}
		if n == 0 {
			return 0, 0, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return 0, 0, false
	}
	switch b[i] {
	case 'Z', 'z':
		if i+1 != len(b) {
			return 0, 0, false
		}
	case '+', '-':
		if i+6 != len(b) || b[i+3] != ':' {
			return 0, 0, false
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, 0, false
		}
		off = (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
	default:
		return 0, 0, false
	}
	return nsec, off, true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
