//go:build unix

package process

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// benchLines is a batch like the bench corpus: plain and JSON lines, and
// one line in twenty belongs to a Java stack trace.
func benchLines(json bool) []event.Log {
	meta := &event.Meta{Namespace: "shop", Pod: "cart-1", Container: "app", Labels: map[string]string{"app": "cart"}}
	var sb strings.Builder
	for i := 0; sb.Len() < 400<<10; i++ {
		switch {
		case i%100 == 0:
			sb.WriteString(javaTrace[:strings.LastIndexByte(javaTrace, '\n')] + "\n") // 7 lines
			i += 6
		case json:
			fmt.Fprintf(&sb, `{"ts":"2026-12-04T20:50:00.%06dZ","level":"info","msg":"GET /cart/%d 200","user":"u%d@example.com","took_ms":%d}`+"\n", i, i, i%50, i%97)
		default:
			fmt.Fprintf(&sb, "2026-12-04T20:50:00.%06dZ INFO GET /cart/%d 200 user=u%d took=%dms\n", i, i, i%50, i%97)
		}
	}
	return linesOf([]byte(sb.String()), meta, event.Stdout)
}

// BenchmarkProcess measures each step alone and the default set together
// (multiline + json + one redaction rule), per line: wall time (ns/line)
// and the process's CPU time (cpu-ns/line, from getrusage, garbage
// collection included), which a busy machine disturbs less. Reproduce with
//
//	go test -run '^$' -bench Process -benchmem -cpu 1 ./pkg/process/
func BenchmarkProcess(b *testing.B) {
	steps := []struct {
		name string
		json bool
		set  func(*Config)
	}{
		{"off", false, func(*Config) {}},
		{"multiline", false, func(c *Config) { c.Multiline.Rule = "java" }},
		{"json", true, func(c *Config) { c.Parser.Format = "json" }},
		{"logfmt", false, func(c *Config) { c.Parser.Format = "logfmt" }},
		{"detect_level", false, func(c *Config) { c.Parser.DetectLevel = true }},
		{"filter", false, func(c *Config) {
			c.Filters = []FilterRule{{Name: "health", Action: "drop", Namespaces: []string{"shop"}, Message: `GET /healthz`}}
		}},
		{"redact_email", false, func(c *Config) { c.Redact.Builtins = []string{"email"} }},
		{"redact_all", false, func(c *Config) { c.Redact.Builtins = redactNames() }},
		{"default_set", true, func(c *Config) {
			c.Multiline.Rule, c.Parser.Format, c.Redact.Builtins = "java", "json", []string{"email"}
		}},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			cfg := DefaultConfig()
			s.set(&cfg)
			p, _ := newTest(b, cfg)
			src := benchLines(s.json)
			var bytes int64
			for _, l := range src {
				bytes += int64(len(l.Body)) + 1
			}
			batch := make([]event.Log, len(src))
			b.SetBytes(bytes)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				copy(batch, src)
				out := p.Process(batch)
				for i := range out {
					if out[i].Lines > 1 {
						p.Ack([]event.Cursor{out[i].Cursor})
					}
				}
				p.flush(time.Time{})
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src)), "ns/line")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(src)), "cpu-ns/line")
		})
	}
}

// cpuTime is the user and system time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
