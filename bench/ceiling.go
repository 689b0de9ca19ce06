package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-dev/ferry/bench/internal/linescan"
)

// ceilingResult is what the ceiling process reports on stdout.
type ceilingResult struct {
	linescan.Result
	HWM int64 `json:"hwm"` // peak RSS of the process, bytes
}

// Figures are the measurements of one run over the corpus.
type Figures struct {
	Name    string
	Wall    time.Duration
	CPU     time.Duration // user + sys of the process
	MaxRSS  int64         // bytes
	Anon    int64         // RssAnon at completion, bytes (0: not measured)
	Lines   int64
	Bytes   int64
	Load1   float64 // load average when the run ended
	Comment string
	// Metrics is the agent's /metrics at completion (corpus runs).
	Metrics scrape
}

func (f Figures) LinesPerSec() float64 { return float64(f.Lines) / f.Wall.Seconds() }
func (f Figures) MiBPerSec() float64   { return float64(f.Bytes) / (1 << 20) / f.Wall.Seconds() }
func (f Figures) CPUPerGiB() float64   { return f.CPU.Seconds() / (float64(f.Bytes) / (1 << 30)) }

// runCeiling runs the ceiling (bench/ceiling, built like the agent) over
// the corpus so that its CPU time and peak RSS are measured as the agent's
// are. It keeps the run of least CPU; the first also warms the page cache.
func runCeiling(bin string, c *Corpus, runs int) (Figures, error) {
	best := Figures{Name: "ceiling (read + IndexByte split, 1 core)"}
	args := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		args[i] = filepath.Join(c.Dir, p)
	}
	for range max(1, runs) {
		cmd := exec.Command(bin, args...)
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
		f := Figures{Name: best.Name, Wall: wall, CPU: cpuTime(cmd.ProcessState), MaxRSS: r.HWM, Lines: c.Lines, Bytes: r.Bytes, Load1: load1()}
		if best.CPU == 0 || f.CPU < best.CPU {
			best = f
		}
	}
	return best, nil
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
func peakRSS(pid string) int64 { return procStatus(pid, "VmHWM") }

// procStatus is a "<key>: N kB" field of /proc/<pid>/status in bytes, 0 if
// unknown. RssAnon is the process's own memory (heap, stacks); RssFile is
// the pages of its binary (and other files) it mapped and touched, shared
// with the page cache.
func procStatus(pid, key string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib << 10
		}
	}
	return 0
}

// threadSwitches is the number of times the threads of process pid gave up
// the CPU voluntarily (each time to sleep until something woke them): the
// sum of voluntary_ctxt_switches over /proc/<pid>/task/*/status. A thread
// that exited no longer counts; Go's threads rarely exit.
func threadSwitches(pid string) int64 {
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				var n int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
				sum += n
			}
		}
	}
	return sum
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

// rssWindow samples a process's VmRSS every second from start until stop
// is called, which returns the mean and the largest sample (0, 0: no
// sample); stop may be called again. RSS is not flat: ferry unmaps its
// binary's pages periodically (cmd/agent textpages_linux.go) and they
// fault back as they are used, so one reading at the end of a window
// depends on when it was taken; the window's mean is what the process held
// over it.
func rssWindow(pid string) (stop func() (mean, most int64)) {
	done := make(chan struct{})
	res := make(chan [2]int64, 1)
	go func() {
		var sum, n, most int64
		sample := func() {
			if v := procStatus(pid, "VmRSS"); v > 0 {
				sum, n, most = sum+v, n+1, max(most, v)
			}
		}
		sample()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sample()
			case <-done:
				sample()
				if n == 0 {
					res <- [2]int64{}
					return
				}
				res <- [2]int64{sum / n, most}
				return
			}
		}
	}()
	// Called again (a deferred stop after the one that read the figures),
	// stop returns the same figures.
	var r [2]int64
	var once sync.Once
	return func() (int64, int64) {
		once.Do(func() {
			close(done)
			r = <-res
		})
		return r[0], r[1]
	}
}
