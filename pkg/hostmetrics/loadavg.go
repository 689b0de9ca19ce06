package hostmetrics

import (
	"bytes"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	load1Desc  = newDesc("node_load1", "1m load average.", prometheus.GaugeValue)
	load5Desc  = newDesc("node_load5", "5m load average.", prometheus.GaugeValue)
	load15Desc = newDesc("node_load15", "15m load average.", prometheus.GaugeValue)
)

// loadavgCollector reports <proc>/loadavg.
type loadavgCollector struct{ proc string }

func (c *loadavgCollector) collect(e *emitter) error {
	var l procfs.LoadAvg
	ok := false
	if err := withFile(filepath.Join(c.proc, "loadavg"), func(b []byte) error {
		l, ok = parseLoadavg(b)
		return nil
	}); err != nil || !ok {
		// Anything but the kernel's line is procfs' to read and judge.
		fs, err := newProcFS(c.proc)
		if err != nil {
			return err
		}
		p, err := fs.LoadAvg()
		if err != nil {
			return err
		}
		l = *p
	}
	emitLoadavg(e, &l)
	return nil
}

// parseLoadavg parses the kernel's line, "D.DD D.DD D.DD R/T P\n" (digits
// and dots for the averages; any printable ASCII after them), as procfs
// reads it: ok is false for anything else (procfs opens the file through
// os.Open: 25 µs a collection on the reference machine, against some 6).
func parseLoadavg(b []byte) (l procfs.LoadAvg, ok bool) {
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	if len(rest) > 0 || len(line) > 256 {
		return l, false
	}
	for _, c := range line {
		if c < 0x20 || c > 0x7e {
			return l, false
		}
	}
	for _, v := range [...]*float64{&l.Load1, &l.Load5, &l.Load15} {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		n := 0
		for n < len(line) && line[n] != ' ' {
			n++
		}
		tok := line[:n]
		line = line[n:]
		ip, fp, dot := bytes.Cut(tok, []byte("."))
		if !dot || !digits(ip) || !digits(fp) {
			return l, false
		}
		x, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return l, false
		}
		*v = x
	}
	return l, true
}

// digits is whether s is one or more decimal digits.
func digits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(s) > 0
}

func emitLoadavg(e *emitter, l *procfs.LoadAvg) {
	e.emit(load1Desc, l.Load1)
	e.emit(load5Desc, l.Load5)
	e.emit(load15Desc, l.Load15)
}
