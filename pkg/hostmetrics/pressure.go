package hostmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	psiCPUWaiting = newDesc("node_pressure_cpu_waiting_seconds_total",
		"Total time in seconds that processes have waited for CPU time", prometheus.CounterValue)
	psiIOWaiting = newDesc("node_pressure_io_waiting_seconds_total",
		"Total time in seconds that processes have waited due to IO congestion", prometheus.CounterValue)
	psiIOStalled = newDesc("node_pressure_io_stalled_seconds_total",
		"Total time in seconds no process could make progress due to IO congestion", prometheus.CounterValue)
	psiMemWaiting = newDesc("node_pressure_memory_waiting_seconds_total",
		"Total time in seconds that processes have waited for memory", prometheus.CounterValue)
	psiMemStalled = newDesc("node_pressure_memory_stalled_seconds_total",
		"Total time in seconds no process could make progress due to memory congestion", prometheus.CounterValue)
	psiIRQStalled = newDesc("node_pressure_irq_stalled_seconds_total",
		"Total time in seconds no process could make progress due to IRQ congestion", prometheus.CounterValue)
)

// errNoPSI: the kernel has no pressure stall information (older than 4.20,
// or CONFIG_PSI off, or psi=0).
var errNoPSI = noData("no pressure stall information under <proc>/pressure (needs Linux >= 4.20 with PSI enabled)")

// errPSIDisabled: the kernel has PSI but it is off (CONFIG_PSI_DEFAULT_DISABLED,
// as RHEL's kernels, without psi=1): the files are there and reading them
// fails with EOPNOTSUPP.
var errPSIDisabled = noData("pressure stall information is disabled (boot with psi=1 to enable it)")

// pressureCollector reports <proc>/pressure/{cpu,io,memory,irq}. A
// resource the kernel lacks (irq before 6.1) is left out; no resource at
// all, or PSI disabled, is no data (as node_exporter's).
type pressureCollector struct {
	proc string
	// read reads one resource; nil: procfs under proc (tests give the
	// errors of a kernel).
	read func(resource string) (procfs.PSIStats, error)
}

var psiResources = []string{"cpu", "io", "memory", "irq"}

func (c *pressureCollector) collect(e *emitter) error {
	read := c.read
	if read == nil {
		pfs, err := newProcFS(c.proc)
		if err != nil {
			return err
		}
		read = func(res string) (procfs.PSIStats, error) { return readPSI(pfs, c.proc, res) }
	}
	found := 0
	for _, res := range psiResources {
		st, err := read(res)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if errors.Is(err, syscall.ENOTSUP) {
			return errPSIDisabled
		}
		if err != nil {
			return err
		}
		if err := emitPressure(e, res, st); err != nil {
			return err
		}
		found++
	}
	if found == 0 {
		return errNoPSI
	}
	return nil
}

const microsecond = 1e-6

// emitPressure reports one resource; a file without the lines its resource
// must have is an error, as in node_exporter.
func emitPressure(e *emitter, res string, st procfs.PSIStats) error {
	if st.Some == nil && res != "irq" {
		return fmt.Errorf("pressure %s: no \"some\" line", res)
	}
	if st.Full == nil && res != "cpu" {
		return fmt.Errorf("pressure %s: no \"full\" line", res)
	}
	switch res {
	case "cpu":
		e.emit(psiCPUWaiting, float64(st.Some.Total)*microsecond)
	case "io":
		e.emit(psiIOWaiting, float64(st.Some.Total)*microsecond)
		e.emit(psiIOStalled, float64(st.Full.Total)*microsecond)
	case "memory":
		e.emit(psiMemWaiting, float64(st.Some.Total)*microsecond)
		e.emit(psiMemStalled, float64(st.Full.Total)*microsecond)
	case "irq":
		e.emit(psiIRQStalled, float64(st.Full.Total)*microsecond)
	}
	return nil
}

// readPSI reads <proc>/pressure/<res>. The kernel writes "some" and "full"
// lines of one shape; a file of exactly those is parsed here, anything
// else (and any error) is left to procfs, whose answer it then is. procfs
// opens the file through os.Open and parses each line with fmt.Sscanf:
// 35 µs a file on the reference machine, for four files a collection.
func readPSI(pfs procfs.FS, proc, res string) (procfs.PSIStats, error) {
	if b, err := readFile(filepath.Join(proc, "pressure", res)); err == nil {
		if st, ok := parsePSI(b); ok {
			return st, nil
		}
	}
	return pfs.PSIStatsForResource(res)
}

// parsePSI parses lines "some|full avg10=D avg60=D avg300=D total=N" (D
// digits, a dot, digits; N at most 19 digits), the last of each kind
// kept, as procfs keeps it. ok is false for anything else.
func parsePSI(b []byte) (st procfs.PSIStats, ok bool) {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		kind, rest, _ := bytes.Cut(line, []byte(" "))
		l, ok := parsePSILine(rest)
		if !ok {
			return st, false
		}
		switch string(kind) {
		case "some":
			st.Some = &l
		case "full":
			st.Full = &l
		default:
			return st, false
		}
	}
	return st, true
}

func parsePSILine(s []byte) (l procfs.PSILine, ok bool) {
	avgs := [...]*float64{&l.Avg10, &l.Avg60, &l.Avg300}
	for i, key := range [...]string{"avg10=", " avg60=", " avg300=", " total="} {
		rest, found := bytes.CutPrefix(s, []byte(key))
		if !found {
			return l, false
		}
		n := 0
		for n < len(rest) && (rest[n] >= '0' && rest[n] <= '9' || rest[n] == '.') {
			n++
		}
		tok := rest[:n]
		s = rest[n:]
		if i < len(avgs) {
			ip, fp, dot := bytes.Cut(tok, []byte("."))
			if !dot || len(ip) == 0 || len(fp) == 0 || bytes.IndexByte(fp, '.') >= 0 {
				return l, false
			}
			v, err := strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return l, false
			}
			*avgs[i] = v
			continue
		}
		if n == 0 || n > 19 || bytes.IndexByte(tok, '.') >= 0 {
			return l, false
		}
		v, err := strconv.ParseUint(string(tok), 10, 64)
		if err != nil {
			return l, false
		}
		l.Total = v
	}
	return l, len(s) == 0
}
