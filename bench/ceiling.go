package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ceilingResult is what the ceiling child reports on stdout.
type ceilingResult struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
	HWM   int64 `json:"hwm,omitempty"` // peak RSS of the child, bytes
}

// ceilingScan is the machine's ceiling on the corpus: every file read once
// in 128 KiB reads (the tailer's chunk size) and split into lines with
// bytes.IndexByte, on one core. Nothing is decoded, merged or written.
func ceilingScan(dir string, paths []string) (ceilingResult, error) {
	runtime.GOMAXPROCS(1)
	var r ceilingResult
	buf := make([]byte, 128<<10)
	for _, p := range paths {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			return r, err
		}
		carry := 0
		for {
			n, err := f.Read(buf[carry:])
			r.Bytes += int64(n)
			data := buf[:carry+n]
			i := 0
			for {
				j := bytes.IndexByte(data[i:], '\n')
				if j < 0 {
					break
				}
				r.Lines++
				i += j + 1
			}
			carry = copy(buf, data[i:])
			if carry == len(buf) { // a line longer than the buffer: skip past it
				carry = 0
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return r, err
			}
		}
		f.Close()
	}
	return r, nil
}

// Figures are the measurements of one run over the corpus.
type Figures struct {
	Name    string
	Wall    time.Duration
	CPU     time.Duration // user + sys of the process
	MaxRSS  int64         // bytes
	Lines   int64
	Bytes   int64
	Load1   float64 // load average when the run ended
	Comment string
}

func (f Figures) LinesPerSec() float64 { return float64(f.Lines) / f.Wall.Seconds() }
func (f Figures) MiBPerSec() float64   { return float64(f.Bytes) / (1 << 20) / f.Wall.Seconds() }
func (f Figures) CPUPerGiB() float64   { return f.CPU.Seconds() / (float64(f.Bytes) / (1 << 30)) }

// runCeiling runs the ceiling scan in a child process (this binary, mode
// ceiling-child) so that its CPU time and peak RSS come from the same
// rusage as the agent's. It takes the best of runs, the first of which also
// warms the page cache.
func runCeiling(c *Corpus, runs int) (Figures, error) {
	self, err := os.Executable()
	if err != nil {
		return Figures{}, err
	}
	best := Figures{Name: "ceiling (read + IndexByte split, 1 core)"}
	for range max(1, runs) {
		manifest := filepath.Join(c.Dir, "manifest.json")
		cmd := exec.Command(self, "-mode", "ceiling-child", "-corpus-manifest", manifest)
		cmd.Stderr = os.Stderr
		var out bytes.Buffer
		cmd.Stdout = &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return Figures{}, fmt.Errorf("ceiling: %w", err)
		}
		wall := time.Since(start)
		var r ceilingResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return Figures{}, fmt.Errorf("ceiling: %w (%q)", err, out.String())
		}
		if r.Lines != c.CRILines || r.Bytes != c.Bytes {
			return Figures{}, fmt.Errorf("ceiling: read %d lines and %d bytes, corpus has %d CRI lines and %d bytes", r.Lines, r.Bytes, c.CRILines, c.Bytes)
		}
		cpu := cpuTime(cmd.ProcessState)
		f := Figures{Name: best.Name, Wall: wall, CPU: cpu, MaxRSS: r.HWM, Lines: c.Lines, Bytes: r.Bytes, Load1: load1()}
		if best.CPU == 0 || f.CPU < best.CPU {
			best = f
		}
	}
	return best, nil
}

func ceilingChild(manifest string) error {
	c, err := loadCorpus(filepath.Dir(manifest))
	if err != nil {
		return err
	}
	r, err := ceilingScan(c.Dir, c.Paths)
	if err != nil {
		return err
	}
	r.HWM = peakRSS("self")
	return json.NewEncoder(os.Stdout).Encode(r)
}

// cpuTime is the user+sys CPU time of an exited child (its rusage).
func cpuTime(ps *os.ProcessState) time.Duration {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return ps.UserTime() + ps.SystemTime()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is VmHWM of /proc/<pid>/status in bytes (pid "self" for this
// process), 0 if unknown. The rusage ru_maxrss of a child is not used: Go
// starts children with vfork semantics, so the kernel folds the parent's
// RSS at exec time into the child's ru_maxrss, which would charge the
// benchmark's own memory (corpus buffers, the in-process broker) to the
// agent. VmHWM belongs to the child's own address space.
func peakRSS(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib << 10
		}
	}
	return 0
}

// load1 is the 1-minute load average (0 if unknown).
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(string(b), "%g", &l)
	return l
}
