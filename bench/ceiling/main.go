// Command ceiling is the benchmark's ceiling run, a process of its own so
// that its CPU time and peak RSS are measured like the agent's: it scans
// the files named on the command line on one core (linescan.Scan) and
// prints the result and its peak RSS (VmHWM, bytes) as JSON.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/ferry-dev/ferry/bench/internal/linescan"
)

func main() {
	runtime.GOMAXPROCS(1)
	r, err := linescan.Scan(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	out := struct {
		linescan.Result
		HWM int64 `json:"hwm"`
	}{r, hwm()}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

// hwm is this process's peak RSS from /proc/self/status, in bytes.
func hwm() int64 {
	b, err := os.ReadFile("/proc/self/status")
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
