package hostmetrics

import (
	"bytes"
	"path/filepath"
	"strconv"

	"github.com/prometheus/procfs"
)

// readProcStat reads <proc>/stat. A file of the kernel's lines is parsed
// here; anything else (and any error) is left to procfs (fs), whose
// answer it then is. procfs opens the file through os.Open and reads each
// cpu line with fmt.Sscanf: its parse was half of cpu's and stat's cost
// on the reference machine.
func readProcStat(proc string, fs procfs.FS) (procfs.Stat, error) {
	var st procfs.Stat
	ok := false
	if err := withFile(filepath.Join(proc, "stat"), func(b []byte) error {
		st, ok = parseProcStat(b)
		return nil
	}); err == nil && ok {
		return st, nil
	}
	return fs.Stat()
}

// procfsUserHZ is procfs' USER_HZ, by which it divides the cpu lines'
// ticks.
const procfsUserHZ = 100

// maxProcStatLine is procfs' bufio.Scanner's buffer: it refuses a line
// of that length or more (it needs room for the newline, or to see the
// end of the file).
const maxProcStatLine = 1 << 20

// procfsReadLimit is how much of a file procfs' parsers.ReadFileNoStat
// reads (<proc>/stat, meminfo, loadavg, net/sockstat): a larger file is
// procfs' to read as far as that, never parsed here whole.
const procfsReadLimit = 1 << 20

// parseProcStat parses <proc>/stat as procfs' parseStat does, for the
// kernel's form only: lines of printable ASCII; "cpu" and "cpuN" (N
// decimal) followed by exactly ten decimal tick counts, in a file procfs
// reads whole (procfsReadLimit) and lines its scanner takes; "intr", "ctxt",
// "btime", "processes", "procs_running", "procs_blocked" and "softirq"
// (with at least eleven counts) with decimal numbers; any other line of
// two or more fields ignored, as procfs ignores it, and lines of fewer
// skipped. ok is false for anything else.
func parseProcStat(b []byte) (st procfs.Stat, ok bool) {
	st.CPU = map[int64]procfs.CPUStat{}
	if len(b) > procfsReadLimit {
		return st, false
	}
	var f [12][]byte
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) >= maxProcStatLine {
			return st, false
		}
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				return st, false
			}
		}
		rest := line
		n := 0
		next := func() []byte {
			for len(rest) > 0 && rest[0] == ' ' {
				rest = rest[1:]
			}
			k := bytes.IndexByte(rest, ' ')
			if k < 0 {
				k = len(rest)
			}
			tok := rest[:k]
			rest = rest[k:]
			return tok
		}
		for n < len(f) {
			tok := next()
			if len(tok) == 0 {
				break
			}
			f[n] = tok
			n++
		}
		if n < 2 {
			continue
		}
		u := func(tok []byte) (uint64, bool) {
			v, err := strconv.ParseUint(string(tok), 10, 64)
			return v, err == nil
		}
		var good bool
		switch key := string(f[0]); key {
		case "btime":
			st.BootTime, good = u(f[1])
		case "ctxt":
			st.ContextSwitches, good = u(f[1])
		case "processes":
			st.ProcessCreated, good = u(f[1])
		case "procs_running":
			st.ProcessesRunning, good = u(f[1])
		case "procs_blocked":
			st.ProcessesBlocked, good = u(f[1])
		case "intr":
			if st.IRQTotal, good = u(f[1]); !good {
				break
			}
			// Every count after the total, from the start of the line:
			// counted, then read into one slice (procfs' empty, not
			// nil, slice when there are none).
			rest = line
			next()
			next()
			counts := rest
			m := 0
			for tok := next(); len(tok) > 0; tok = next() {
				m++
			}
			st.IRQ = make([]uint64, m)
			rest = counts
			for k := range st.IRQ {
				v, g := u(next())
				if !g {
					return st, false
				}
				st.IRQ[k] = v
			}
		case "softirq":
			if n < 12 {
				return st, false
			}
			var v [11]uint64
			for k := range v {
				if !digits(f[k+1]) {
					return st, false
				}
				if v[k], good = u(f[k+1]); !good {
					return st, false
				}
			}
			st.SoftIRQTotal = v[0]
			st.SoftIRQ = procfs.SoftIRQStat{Hi: v[1], Timer: v[2], NetTx: v[3], NetRx: v[4], Block: v[5],
				BlockIoPoll: v[6], Tasklet: v[7], Sched: v[8], Hrtimer: v[9], Rcu: v[10]}
		default:
			id, isCPU := bytes.CutPrefix(f[0], []byte("cpu"))
			if !isCPU {
				good = true // not procfs' to read either
				break
			}
			if n != 11 { // exactly the ten counts of Linux 2.6.33 and later
				return st, false
			}
			var t [10]float64
			for k := range t {
				if !digits(f[k+1]) || len(f[k+1]) > 20 {
					return st, false
				}
				x, err := strconv.ParseFloat(string(f[k+1]), 64)
				if err != nil {
					return st, false
				}
				t[k] = x / procfsUserHZ
			}
			c := procfs.CPUStat{User: t[0], Nice: t[1], System: t[2], Idle: t[3], Iowait: t[4], IRQ: t[5],
				SoftIRQ: t[6], Steal: t[7], Guest: t[8], GuestNice: t[9]}
			if len(id) == 0 {
				st.CPUTotal = c
				good = true
				break
			}
			if !kernelDecimal(id) {
				return st, false
			}
			cpu, err := strconv.ParseInt(string(id), 10, 64)
			if err != nil {
				return st, false
			}
			st.CPU[cpu] = c
			good = true
		}
		if !good {
			return st, false
		}
	}
	return st, true
}
