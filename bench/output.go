package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// recordCounter counts the occurrences of a pattern in the bytes written
// to it, including those that straddle two writes. Each agent's output has
// a pattern that occurs once per record: a newline for NDJSON and JSON
// lines, `"body":` for the Collector's OTLP JSON (one line per batch).
// A pattern must not overlap itself (as "aa" does in "aaa").
type recordCounter struct {
	pattern []byte
	carry   []byte // the last len(pattern)-1 bytes written
	buf     []byte
	n       atomic.Int64
}

func newRecordCounter(pattern string) *recordCounter {
	return &recordCounter{pattern: []byte(pattern)}
}

// Write counts; it never fails. Not safe for concurrent writers; Count is.
func (c *recordCounter) Write(p []byte) (int, error) {
	k := len(c.pattern) - 1
	n := bytes.Count(p, c.pattern)
	if k > 0 {
		// A match across the boundary starts in carry and ends in the
		// first k bytes of p; none lies wholly inside either (both are
		// shorter than the pattern), so none is counted twice.
		c.buf = append(append(c.buf[:0], c.carry...), p[:min(len(p), k)]...)
		n += bytes.Count(c.buf, c.pattern)
		if len(p) >= k {
			c.carry = append(c.carry[:0], p[len(p)-k:]...)
		} else {
			b := append(append(c.buf[:0], c.carry...), p...)
			c.carry = append(c.carry[:0], b[max(0, len(b)-k):]...)
		}
	}
	c.n.Add(int64(n))
	return len(p), nil
}

// Count is the number of records seen so far.
func (c *recordCounter) Count() int64 { return c.n.Load() }

// output is a named pipe an agent writes its records into and the
// benchmark reads and counts. Every agent writes to the same kind of
// output, so none is spared the cost of its writes (a pipe costs a copy
// into the kernel, as a file in the page cache does, and no disk).
type output struct {
	path    string
	f       *os.File
	counter *recordCounter
	done    chan error
	once    sync.Once
	err     error
}

// pipeSize is what the pipe's buffer is grown to (Linux's default is 64
// KiB): an agent waits less on the reader.
const pipeSize = 1 << 20

// openOutput makes the named pipe at path and starts counting what is
// written to it. The benchmark opens it for reading and writing, so an
// agent's open never blocks and the reader never sees an end of file
// between two writers.
func openOutput(path, pattern string) (*output, error) {
	return openOutputTee(path, pattern, nil)
}

// openOutputTee is openOutput that also writes what it reads to tee (when
// not nil) before counting it.
func openOutputTee(path, pattern string, tee io.Writer) (*output, error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if rc, err := f.SyscallConn(); err == nil {
		const fSetPipeSz = 1031 // F_SETPIPE_SZ
		_ = rc.Control(func(fd uintptr) { syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize) })
	}
	o := &output{path: path, f: f, counter: newRecordCounter(pattern), done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 256<<10)
		for {
			n, err := f.Read(buf)
			if tee != nil {
				tee.Write(buf[:n])
			}
			o.counter.Write(buf[:n])
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					err = nil
				}
				o.done <- err
				return
			}
		}
	}()
	return o, nil
}

// close stops reading and removes the pipe. It may be called again.
func (o *output) close() error {
	o.once.Do(func() {
		o.f.Close()
		o.err = <-o.done
		os.Remove(o.path)
	})
	return o.err
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the user+system CPU time of process pid so far (all its
// threads), from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself: fields are counted after the
// last ')'.
func parseProcStatCPU(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += t
	}
	return time.Duration(ticks) * clockTick, nil
}
