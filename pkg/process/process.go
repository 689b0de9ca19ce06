package process

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Acker receives the cursors of lines that are done with: delivered
// downstream, or dropped here and counted. The tailer is one. Ack may keep
// the slice it is given.
type Acker interface{ Ack(cursors []event.Cursor) }

// Options are the Processor's dependencies.
type Options struct {
	// In carries enriched batches. Run returns once it is closed and
	// drained, after sending every held group.
	In <-chan []event.Log
	// Out receives processed batches; Run closes it when it returns.
	Out chan<- []event.Log
	// Acker receives the cursors of dropped lines at once, and the cursors
	// of a grouped record's lines when the record's own cursor comes back
	// through the Processor's Ack. Required.
	Acker Acker
	// Registerer receives the metrics. Nil: no registration.
	Registerer prometheus.Registerer
}

// Processor groups, parses, filters and masks log records between
// enrichment and the sink. Build it with New, run it with Run, and give it
// the sink's acknowledgements (it is the sink's Acker).
type Processor struct {
	cfg    Config
	log    *slog.Logger
	opts   Options
	active bool
	m      *metrics
	ran    atomic.Bool

	rules      map[string]*mlRule
	base       resolved
	filters    []*filter
	redactions []*redaction
	fieldRed   []*redaction // scratch of fieldRules
	repl       string
	msgKeys    []string
	levelKeys  []string
	regex      *regexParser
	lim        groupLimits

	// Resolution per Meta (a Meta is immutable and shared by a container's
	// lines); bounded, cleared when full.
	resolvedBy map[*event.Meta]*resolved
	lastMeta   *event.Meta
	lastRes    *resolved

	// fieldSlab is where parsed fields are carved from: one allocation
	// for the fields of many records, not one per record. A record's
	// fields are its own (their capacity ends where they end).
	// slabBytes is the size of the messages parsed into it: its fields
	// point into them, so while any record of the slab (or the slab
	// itself, as the current one) lives, they all do.
	fieldSlab []event.Field
	slabBytes int

	streams map[streamKey]*stream
	swept   time.Time // last sweep of idle streams
	held    map[*stream]struct{}
	heldN   int // lines held in groups
	// touched are the streams the batch being processed fed (serial
	// numbers the batches): their held groups are made to own their
	// first line at its end.
	touched []*stream
	serial  uint64

	// pending maps a grouped record's cursor to its other lines' cursors,
	// until the record is acknowledged.
	mu      sync.Mutex
	pending map[event.Cursor][]event.Cursor
	npend   atomic.Int64

	// Counts of the current batch, added to the metrics once per batch.
	groups, merged      int
	cuts                map[string]int
	dropDefault, dropAn int
	drops               []event.Cursor
}

// resolved is what applies to one container: chosen by the cluster config
// and, where allowed, by its pod's annotations.
type resolved struct {
	ml      *mlRule
	parser  parser
	exclude [2]bool // by stream
}

// New builds a Processor; it starts nothing.
func New(cfg Config, logger *slog.Logger, opts Options) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Acker == nil {
		return nil, errors.New("Options.Acker is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Processor{
		cfg: cfg, log: logger.With("component", "process"), opts: opts, active: cfg.Enabled(),
		rules: map[string]*mlRule{}, repl: cfg.Redact.Replacement,
		msgKeys: cfg.Parser.MessageKeys, levelKeys: cfg.Parser.LevelKeys,
		lim:        groupLimits{maxLines: cfg.Multiline.MaxLines, maxBytes: cfg.Multiline.MaxBytes},
		resolvedBy: map[*event.Meta]*resolved{},
		streams:    map[streamKey]*stream{}, held: map[*stream]struct{}{},
		pending: map[event.Cursor][]event.Cursor{}, cuts: map[string]int{},
	}
	for n, r := range builtinRules {
		p.rules[n] = r
	}
	for _, c := range cfg.Multiline.Custom {
		p.rules[c.Name] = customRule(c)
	}
	p.base.ml = p.rules[cfg.Multiline.Rule]
	if cfg.Parser.Regex != "" {
		re := regexp.MustCompile(cfg.Parser.Regex)
		p.regex = &regexParser{re: re, names: re.SubexpNames()}
	}
	p.base.parser = p.parserNamed(cfg.Parser.Format)
	for _, r := range cfg.Filters {
		p.filters = append(p.filters, newFilter(r))
	}
	for _, b := range cfg.Redact.Builtins {
		p.redactions = append(p.redactions, newBuiltinRedaction(b))
	}
	for _, c := range cfg.Redact.Custom {
		p.redactions = append(p.redactions, newRedaction(c.Name, c.Pattern, nil, nil))
	}
	p.m = newMetrics(p, opts.Registerer)
	return p, nil
}

func (p *Processor) parserNamed(name string) parser {
	switch name {
	case "json":
		return jsonParser{}
	case "logfmt":
		return logfmtParser{}
	case "regex":
		if p.regex != nil {
			return p.regex
		}
	}
	return nil
}

// Run processes batches from In to Out until In is closed (it then sends
// every held group, closes Out and returns nil). Held groups are sent
// after flush_timeout without a new line. Cancelling ctx is the hard stop:
// Run closes Out and returns; held lines were not acknowledged and are read
// again after a restart.
func (p *Processor) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("Run called twice")
	}
	defer close(p.opts.Out)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	send := func(b []event.Log) bool {
		if len(b) == 0 {
			event.Recycle(b)
			return true
		}
		select {
		case p.opts.Out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case b, ok := <-p.opts.In:
			if !ok {
				send(p.flush(time.Time{}))
				return nil
			}
			if !send(p.Process(b)) {
				return nil
			}
		case <-timer.C:
			armed = false
			if !send(p.flush(time.Now())) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
		if next, ok := p.nextDeadline(); ok && !armed {
			timer.Reset(time.Until(next))
			armed = true
		}
	}
}

// Process handles one batch in place and returns it, shortened by the
// lines that were dropped or are held in a group (a group held from
// earlier batches can come out in this one). It must not be called
// concurrently, nor while Run runs. When nothing is configured it returns
// the batch untouched and allocates nothing.
func (p *Processor) Process(batch []event.Log) []event.Log {
	if !p.active {
		return batch
	}
	var now time.Time
	k := 0
	p.serial++ // from 1: a new stream's batch is 0
	for i := range batch {
		l := batch[i] // batch[i] may be overwritten from here on (k <= i)
		if l.End {
			p.end(&l, batch, &k)
			continue
		}
		r := p.resolve(l.Meta)
		if r.exclude[l.Stream&1] {
			p.dropAn++
			p.drop(&l, nil)
			continue
		}
		if l.Notice {
			// The agent's own record (a rate limit's summary) about the
			// container: excluded and filtered like its records, never
			// grouped, parsed or masked.
			if !p.filteredOut(&l, nil) {
				batch[k] = l
				k++
			}
			continue
		}
		if r.ml == nil {
			if p.finish(&l, r, nil) {
				batch[k] = l
				k++
			}
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		st := p.stream(streamKey{l.Cursor.Source, l.Stream})
		if st.batch != p.serial {
			st.batch = p.serial
			p.touched = append(p.touched, st)
		}
		wasEmpty, res := st.g.empty(), st.g.res
		rec, extra, ok, cut := st.add(&l, r.ml, r, p.lim, now)
		if wasEmpty {
			p.held[st] = struct{}{}
		}
		p.heldN++
		if !ok {
			continue
		}
		p.heldN -= int(max(rec.Lines, 1))
		if cut != "" {
			p.cuts[cut]++
		}
		if p.finish(&rec, res, extra) {
			batch[k] = rec
			k++
		}
	}
	clear(batch[k:])
	// What stays held past this batch must not keep the tailer's chunks.
	for _, st := range p.touched {
		st.g.own()
	}
	clear(p.touched)
	p.touched = p.touched[:0]
	if !now.IsZero() && now.Sub(p.swept) > streamIdle {
		p.sweep(now)
	}
	p.flushCounts()
	return batch[:k]
}

// end takes the tailer's marker that a file's stream has no more lines:
// the group held for it is finished into batch[*k] (the marker's slot or
// an earlier one), and the stream forgotten. The marker itself goes no
// further.
func (p *Processor) end(l *event.Log, batch []event.Log, k *int) {
	key := streamKey{l.Cursor.Source, l.Stream}
	st := p.streams[key]
	if st == nil {
		return
	}
	delete(p.streams, key)
	if st.g.empty() {
		return
	}
	delete(p.held, st)
	res := st.g.res
	rec, extra := st.g.finish(false)
	p.heldN -= int(max(rec.Lines, 1))
	p.m.endFlushes.Inc()
	if p.finish(&rec, res, extra) {
		batch[*k] = rec
		*k++
	}
}

// sweep forgets the streams idle for streamIdle with nothing held.
func (p *Processor) sweep(now time.Time) {
	p.swept = now
	for k, st := range p.streams {
		if st.g.empty() && now.Sub(st.lastSeen) > streamIdle {
			delete(p.streams, k)
		}
	}
}

func (p *Processor) stream(k streamKey) *stream {
	st := p.streams[k]
	if st == nil {
		st = &stream{key: k}
		p.streams[k] = st
	}
	return st
}

// finish parses, filters and masks one record (a line or a finished
// group whose other cursors are extra). It returns false when the record
// was dropped (its cursors are then acknowledged).
func (p *Processor) finish(l *event.Log, r *resolved, extra []event.Cursor) bool {
	if extra != nil {
		p.groups++
		p.merged += len(extra)
	}
	var from []byte // the message the fields were parsed from
	if r.parser != nil {
		if msg := l.Body; p.parse(l, r.parser) {
			from = msg
		}
	}
	if l.Level == "" && p.cfg.Parser.DetectLevel {
		l.Level = detectLevel(l.Body)
	}
	if p.filteredOut(l, extra) {
		return false
	}
	p.redact(l, from)
	if extra != nil {
		p.mu.Lock()
		p.pending[l.Cursor] = extra
		p.mu.Unlock()
		p.npend.Add(1)
	}
	return true
}

// filteredOut applies the filters to l: the first that matches decides,
// else filter_default. A dropped record is counted by rule and
// acknowledged with extra, the cursors of its other lines.
func (p *Processor) filteredOut(l *event.Log, extra []event.Cursor) bool {
	if len(p.filters) == 0 && p.cfg.FilterDefault != "drop" {
		return false
	}
	keep := p.cfg.FilterDefault == "keep"
	var by *filter
	for _, f := range p.filters {
		if f.match(l) {
			keep, by = !f.drop, f
			break
		}
	}
	if keep {
		return false
	}
	if by != nil {
		by.n++
	} else {
		p.dropDefault++
	}
	p.drop(l, extra)
	return true
}

// parse sets the record's fields, level and (without keep_original) its
// message from a parser's result, and reports whether the parser took it.
func (p *Processor) parse(l *event.Log, ps parser) bool {
	if cap(p.fieldSlab)-len(p.fieldSlab) < minFieldRoom || p.slabBytes >= maxSlabBytes {
		p.fieldSlab, p.slabBytes = make([]event.Field, 0, fieldSlabLen), 0
	}
	p.slabBytes += len(l.Body) // a failed parse's fields may be left in it too
	n := len(p.fieldSlab)
	fields, ok := ps.parse(p.fieldSlab[n:n], l.Body)
	if !ok {
		p.m.failedBy(ps.name())
		return false
	}
	if k := len(fields); k > 0 && k <= cap(p.fieldSlab)-n && &fields[0] == &p.fieldSlab[n : n+1][0] {
		// In the slab: taken, and capped so that nothing appends into
		// the next record's fields.
		p.fieldSlab = p.fieldSlab[:n+k]
		fields = fields[:k:k]
	}
	p.m.parsedBy(ps.name())
	for _, k := range p.levelKeys {
		if f := fieldNamed(fields, k); f != nil {
			if lv := normLevel(trimQuotes(f.Value)); lv != "" {
				l.Level = lv
				break
			}
		}
	}
	if !p.cfg.Parser.KeepOriginal {
		for _, k := range p.msgKeys {
			if i := fieldIndex(fields, k); i >= 0 && !fields[i].Raw {
				l.Body, l.MessageKey = unsafeBytes(fields[i].Value), fields[i].Key
				fields = append(fields[:i], fields[i+1:]...)
				break
			}
		}
	}
	if len(fields) > 0 {
		l.Fields = fields
	}
	return true
}

// The field slab: fieldSlabLen fields per allocation (40 KiB), a new one
// when fewer than minFieldRoom are left (a parser needing more reallocates
// its own), or when the messages parsed into it reach maxSlabBytes: a
// slab keeps every message its fields point into alive, and a record kept
// (ship holds it while its destination fails) keeps its slab, so this
// bounds what one record can keep of others' (outside the tailer's
// in-flight budget) to about maxSlabBytes plus one message.
const (
	fieldSlabLen = 1024
	minFieldRoom = 32
	maxSlabBytes = 64 << 10
)

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func fieldIndex(fs []event.Field, key string) int {
	for i := range fs {
		if fs[i].Key == key {
			return i
		}
	}
	return -1
}

func fieldNamed(fs []event.Field, key string) *event.Field {
	if i := fieldIndex(fs, key); i >= 0 {
		return &fs[i]
	}
	return nil
}

// redact masks the message and the fields' values. The record's fields
// are its own (the parser made them from the message from, nil when there
// are none); its body is copied before any change.
func (p *Processor) redact(l *event.Log, from []byte) {
	if len(p.redactions) == 0 {
		return
	}
	if b, ok := p.redactText(l.Body, p.redactions); ok {
		l.Body = b
	}
	if len(l.Fields) == 0 {
		return
	}
	rules := p.fieldRules(from)
	keyMasked := false
	for i := range l.Fields {
		f := &l.Fields[i]
		for _, r := range rules {
			if r.keyed != nil && !f.Raw && f.Value != "" && f.Value != p.repl && r.keyed(f.Key) {
				// A secret known by its key (password, access_token): the
				// whole string. Not an object or a number under such a key
				// (a Secret's reference, a lexer's token, a count).
				f.Value = p.repl
				r.n++
			}
			if k, ok := r.redactString(f.Key, p.repl); ok {
				f.Key, keyMasked = k, true // a secret used as a key (an address, a key id)
			}
		}
		if f.Raw {
			if v, ok := p.redactText(unsafeBytes(f.Value), rules); ok {
				f.Value, f.Raw = string(v), json.Valid(v)
			}
			continue
		}
		for _, r := range rules {
			if v, ok := r.redactString(f.Value, p.repl); ok {
				f.Value = v
			}
		}
	}
	if keyMasked {
		uniqueKeys(l.Fields)
	}
}

// fieldRules returns the rules that can find something in the fields
// parsed from the message from. A parser takes its keys and values from
// the message as they are written when it has no escapes (JSON, logfmt:
// only a backslash changes what a string holds; invalid UTF-8 becomes
// U+FFFD, no ASCII), so every field is then a part of from: a rule whose
// cheap test is that the text contains a word or a byte (partPre), and
// fails on from, fails on each field, and is left out. A rule that knows
// secrets by their key alone (keyed) always stays. Without from (no
// parser, or it failed), every rule.
func (p *Processor) fieldRules(from []byte) []*redaction {
	if from == nil || bytes.IndexByte(from, '\\') >= 0 {
		return p.redactions
	}
	p.fieldRed = p.fieldRed[:0]
	for _, r := range p.redactions {
		if r.partPre && r.keyed == nil && !r.pre(from) {
			continue
		}
		p.fieldRed = append(p.fieldRed, r)
	}
	return p.fieldRed
}

// uniqueKeys renames the second and later fields of a key (masked keys
// can become equal: two addresses used as keys) "<key>#2", "#3"..., so
// that no value is lost to a decoder that keeps one per key.
func uniqueKeys(fs []event.Field) {
	seen := make(map[string]int, len(fs))
	for i := range fs {
		k := fs[i].Key
		n := seen[k] + 1
		seen[k] = n
		for n > 1 {
			alt := k + "#" + strconv.Itoa(n)
			if seen[alt] == 0 {
				fs[i].Key = alt
				seen[alt] = 1
				break
			}
			n++
		}
	}
}

// redactText masks the secrets of every rule of rules in b (a message, or a parsed
// field's JSON text) and reports whether there were any. JSON text with
// escapes of ASCII characters is looked at with them written out, so that
// bob\u0040example.com or \u0026token=... is found; that form (the same
// JSON to a decoder) is shipped only when something in it was masked.
// Text that is not JSON is looked at as it is. b is never modified.
func (p *Processor) redactText(b []byte, rules []*redaction) ([]byte, bool) {
	if len(rules) == 0 {
		return b, false
	}
	text, masked := b, false
	if u := unescapeASCII(b); u != nil && json.Valid(b) {
		text = u
	}
	for _, r := range rules {
		if out, ok := r.redact(text, p.repl); ok {
			text, masked = out, true
		}
	}
	return text, masked
}

// drop acknowledges a record that will not be sent.
func (p *Processor) drop(l *event.Log, extra []event.Cursor) {
	if l.Cursor != (event.Cursor{}) { // a notice may have none
		p.drops = append(p.drops, l.Cursor)
	}
	p.drops = append(p.drops, extra...)
}

// flush finishes the groups whose last line is older than flush_timeout
// (every group when due is zero) into a new batch.
func (p *Processor) flush(due time.Time) []event.Log {
	var out []event.Log
	for st := range p.held {
		if !due.IsZero() && due.Sub(st.g.lastAt) < p.cfg.Multiline.FlushTimeout {
			continue
		}
		delete(p.held, st)
		res := st.g.res
		rec, extra := st.g.finish(false)
		p.heldN -= int(max(rec.Lines, 1))
		if p.finish(&rec, res, extra) {
			if out == nil {
				out = event.NewBatch()
			}
			out = append(out, rec)
		}
	}
	// Streams come out in file and offset order, whatever the map's order.
	slices.SortFunc(out, func(a, b event.Log) int {
		return cmp.Or(cmp.Compare(a.Cursor.Source, b.Cursor.Source), cmp.Compare(a.Cursor.Offset, b.Cursor.Offset))
	})
	if !due.IsZero() {
		p.m.timeoutFlushes.Add(float64(len(out)))
		if due.Sub(p.swept) > streamIdle {
			p.sweep(due)
		}
	}
	p.flushCounts()
	return out
}

// streamIdle is how long the state of a stream with no held group is kept.
const streamIdle = time.Minute

// nextDeadline returns when the earliest held group is due.
func (p *Processor) nextDeadline() (time.Time, bool) {
	var next time.Time
	for st := range p.held {
		if st.g.empty() {
			delete(p.held, st)
			continue
		}
		if d := st.g.lastAt.Add(p.cfg.Multiline.FlushTimeout); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next, !next.IsZero()
}

// Ack takes the sink's acknowledgements and passes them on to the Acker,
// with the cursors of every line a grouped record held. Safe for
// concurrent use with Run.
func (p *Processor) Ack(cursors []event.Cursor) {
	if p.npend.Load() == 0 {
		p.opts.Acker.Ack(cursors)
		return
	}
	var out []event.Cursor
	p.mu.Lock()
	for i, c := range cursors {
		extra, ok := p.pending[c]
		if !ok {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = make([]event.Cursor, 0, len(cursors)+len(extra))
			out = append(out, cursors[:i]...)
		}
		delete(p.pending, c)
		p.npend.Add(-1)
		out = append(out, extra...)
		out = append(out, c)
	}
	p.mu.Unlock()
	if out == nil {
		out = cursors
	}
	p.opts.Acker.Ack(out)
}

// flushCounts adds the current batch's counts to the metrics and hands the
// dropped lines' cursors to the Acker.
func (p *Processor) flushCounts() {
	p.m.flush(p)
	if len(p.drops) > 0 {
		d := p.drops
		p.drops = nil
		p.opts.Acker.Ack(d)
	}
}
