package process

import (
	"bytes"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// streamKey names the lines grouped together: one file (a container
// instance's log, known by the tailer's source id) and one stream.
type streamKey struct {
	source uint64
	stream event.Stream
}

// group is the record being assembled for one stream. It holds at most
// max_lines lines and max_bytes bytes.
type group struct {
	rule    *mlRule
	state   uint8
	res     *resolved
	first   event.Log // the first line (its Body is valid until acknowledged)
	body    []byte    // the joined message, once there are two lines
	cursors []event.Cursor
	last    event.Cursor
	lines   int
	bytes   int
	trunc   bool // a line was truncated by the tailer
	perr    bool
	lastAt  time.Time
	owned   bool // first.Body is the group's own copy (own)
}

func (g *group) empty() bool { return g.lines == 0 }

// stream is the grouping state of one streamKey.
type stream struct {
	key      streamKey
	g        group
	lastSeen time.Time
	batch    uint64 // the last batch (Processor.serial) that fed it
}

// cut reasons of ferry_process_multiline_cut_total.
const (
	cutLines = "lines"
	cutBytes = "bytes"
)

// groupLimits are the caps of a group.
type groupLimits struct {
	maxLines, maxBytes int
}

// add feeds one line. When the line does not continue the held group (or
// the group is at a cap), the held group is finished and returned (ok),
// and the line begins the next group. cut names the cap that split a
// group, if one did.
func (s *stream) add(l *event.Log, rule *mlRule, res *resolved, lim groupLimits, now time.Time) (rec event.Log, extra []event.Cursor, ok bool, cut string) {
	s.lastSeen = now
	g := &s.g
	began, st := false, uint8(0) // the state of a group l begins, when known
	if !g.empty() {
		cont := false
		if g.rule == rule {
			var nst uint8
			cont, nst = rule.stepOf(g.state, g.first.Body, l.Body)
			if cont {
				switch {
				case g.lines >= lim.maxLines:
					cont, cut = false, cutLines
				case g.bytes+1+len(l.Body) > lim.maxBytes:
					cont, cut = false, cutBytes
				default:
					g.state = nst
				}
			} else {
				began, st = true, nst
			}
		}
		if cont {
			g.append(l, now)
			return event.Log{}, nil, false, ""
		}
		rec, extra = g.finish(cut != "")
		ok = true
	}
	if !began {
		st = rule.begin(l.Body)
	}
	g.start(l, rule, res, st, now)
	return rec, extra, ok, cut
}

// start begins a group with l, in state st (rule.begin(l.Body)).
func (g *group) start(l *event.Log, rule *mlRule, res *resolved, st uint8, now time.Time) {
	g.rule, g.res = rule, res
	g.state = st
	g.first = *l
	g.body = nil
	g.cursors = g.cursors[:0]
	g.last = l.Cursor
	g.lines, g.bytes = 1, len(l.Body)
	g.trunc, g.perr = l.Truncated, l.ParseError
	g.lastAt = now
	g.owned = false
}

// own makes the held group's first line its own copy. A line's body is a
// slice of the tailer's read chunk (up to 128 KiB), which memory.queue_bytes
// does not count beyond the line: a line held past its batch would keep the
// whole chunk alive, and thousands of quiet files each holding one would
// hold hundreds of MiB. The joined body of two lines or more already is the
// group's own, and begins with the first line.
func (g *group) own() {
	if g.empty() || g.owned {
		return
	}
	n := len(g.first.Body)
	if g.body != nil {
		g.first.Body = g.body[:n:n]
	} else {
		g.first.Body = bytes.Clone(g.first.Body)
	}
	g.owned = true
}

func (g *group) append(l *event.Log, now time.Time) {
	if g.body == nil {
		g.body = make([]byte, 0, 2*(len(g.first.Body)+len(l.Body))+64)
		g.body = append(g.body, g.first.Body...)
	}
	g.body = append(g.body, '\n')
	g.body = append(g.body, l.Body...)
	g.cursors = append(g.cursors, g.last)
	g.last = l.Cursor
	g.lines++
	g.bytes += 1 + len(l.Body)
	g.trunc = g.trunc || l.Truncated
	g.perr = g.perr || l.ParseError
	g.lastAt = now
}

// finish returns the held group as one record and empties the group. The
// record carries the cursor of its last line; extra are the cursors of the
// other lines (nil for a group of one line), which belong to the record.
func (g *group) finish(cut bool) (event.Log, []event.Cursor) {
	rec := g.first
	var extra []event.Cursor
	if g.lines > 1 {
		rec.Body = g.body
		rec.Cursor = g.last
		rec.Lines = int32(g.lines)
		extra = make([]event.Cursor, len(g.cursors))
		copy(extra, g.cursors)
	}
	rec.Truncated = g.trunc || cut
	rec.ParseError = g.perr
	g.first = event.Log{}
	g.body = nil
	g.lines, g.bytes = 0, 0
	return rec, extra
}
