// Command logger is the workload of the node test: it writes numbered lines
// to stdout at a set rate, some of them longer than containerd's 16 KiB
// partial-line limit, so that the kubelet rotates and gzips its log file
// while ferry follows it. Every line says who wrote it and its number, so a
// consumer can check that none is missing, doubled or out of order:
//
//	ferry-line tag=<tag> seq=<n> len=<bytes> xxxx...   (the whole line is <bytes> long)
//	ferry-end tag=<tag> lines=<n>                      (after the last numbered line)
//	ferry-term tag=<tag> lines=<n>                     (at SIGTERM: n lines were written)
//
// Environment: TAG (required), LINES (default 1000), RATE lines per second
// (default 500), LINE_BYTES (default 120), LONG_EVERY (every n-th line is
// long; 0: none; default 100), LONG_BYTES (default 40000), EXIT ("1": exit
// after the last line; otherwise wait for SIGTERM).
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func env(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "logger: %s=%q is not a count\n", name, v)
		os.Exit(2)
	}
	return n
}

// line is line number seq of tag, exactly size bytes long (or longer when the
// header alone is longer), without the newline.
func line(tag string, seq, size int) string {
	head := fmt.Sprintf("ferry-line tag=%s seq=%d len=%d ", tag, seq, size)
	if len(head) >= size {
		return head
	}
	return head + strings.Repeat("x", size-len(head))
}

func main() {
	tag := os.Getenv("TAG")
	if tag == "" {
		fmt.Fprintln(os.Stderr, "logger: TAG is required")
		os.Exit(2)
	}
	lines, rate := env("LINES", 1000), env("RATE", 500)
	lineBytes, longEvery, longBytes := env("LINE_BYTES", 120), env("LONG_EVERY", 100), env("LONG_BYTES", 40000)
	if rate == 0 {
		rate = 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)

	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	written := 0
	for written < lines {
		select {
		case <-term:
			fmt.Fprintf(out, "ferry-term tag=%s lines=%d\n", tag, written)
			out.Flush()
			return
		case now := <-tick.C:
			due := min(lines, int(now.Sub(start).Seconds()*float64(rate))+1)
			for ; written < due; written++ {
				size := lineBytes
				if longEvery > 0 && written%longEvery == longEvery-1 {
					size = longBytes
				}
				out.WriteString(line(tag, written, size))
				out.WriteByte('\n')
			}
			if err := out.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "logger:", err)
				os.Exit(1)
			}
		}
	}
	fmt.Fprintf(out, "ferry-end tag=%s lines=%d\n", tag, written)
	out.Flush()
	if os.Getenv("EXIT") == "1" {
		return
	}
	<-term
	fmt.Fprintf(out, "ferry-term tag=%s lines=%d\n", tag, written)
	out.Flush()
}
