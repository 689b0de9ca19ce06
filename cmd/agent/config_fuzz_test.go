package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds of one `ferry validate` of any input: the promise that no
// config can cost the node more than a second (of CPU: the wall clock of a
// loaded test machine says little) or 64 MiB.
const (
	fuzzMaxTime  = time.Second
	fuzzMaxAlloc = 64 << 20
)

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var r unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// FuzzParseConfig runs the config parser and validation (all of `ferry
// validate` but the file read) on any input: it must not panic, must take
// under a second, allocate under 64 MiB, and say what is wrong in a bounded
// message. The corpus is in testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	if ref, err := os.ReadFile("../../README.md"); err == nil {
		if i := strings.Index(string(ref), "<!-- config-reference -->"); i >= 0 {
			f.Add([]byte(strings.Trim(string(ref[i+len("<!-- config-reference -->"):])[:8000], "`\n yaml")))
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("node_name: n\nlogs: {max_line_bytes: x, include: [1, [2]], read_interval: 1ns}\nsink: {kafka: {brokers: [\"h:99999\", \"a:b:c\"]}}\n"))
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a]\nlogs: {include: *b}\n<<: *a\n"))
	f.Add([]byte("node_name: n\n---\nx: 1\n"))
	f.Add([]byte("logs:\n  include:\n" + strings.Repeat("    - /a\n", 100)))
	f.Add([]byte("logs: {include: [" + strings.Repeat("1,", maxConfigBytes/2-16) + "]}\n"))
	f.Add([]byte(strings.Repeat("[", 5000)))
	f.Add([]byte("sink: {kafka: {brokers: [\"k:1\"], topic: \"{{range 1000000000}}x{{end}}\", fallback_topic: f}}\nnode_name: n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := cpuTime()
		_, err := ParseConfig(data, env(map[string]string{"NODE_NAME": "n"}))
		took := cpuTime() - start
		runtime.ReadMemStats(&after)
		if took > fuzzMaxTime*raceSlowdown {
			t.Errorf("took %s of CPU on %d bytes", took, len(data))
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > fuzzMaxAlloc {
			t.Errorf("allocated %d MiB on %d bytes", a>>20, len(data))
		}
		if err != nil && len(err.Error()) > 64<<10 {
			t.Errorf("error message of %d bytes", len(err.Error()))
		}
	})
}
