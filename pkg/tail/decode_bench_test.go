package tail

import (
	"bytes"
	"fmt"
	"testing"
)

// benchCorpus returns about 4 MiB of log lines in the given format, with
// message lengths from 20 to 300 bytes, one in 50 lines split as a partial.
func benchCorpus(f format) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 4<<20; i++ {
		msg := fmt.Sprintf("level=info seq=%d msg=%q", i, bytes.Repeat([]byte("x"), 20+(i*37)%280))
		partial := i%50 == 0
		if f == formatCRI {
			tag := "F"
			if partial {
				tag = "P"
			}
			fmt.Fprintf(&b, "2026-11-26T03:55:09.%09dZ stdout %s %s\n", i%1e9, tag, msg)
			continue
		}
		nl := `\n`
		if partial {
			nl = ""
		}
		fmt.Fprintf(&b, `{"log":"%s%s","stream":"stdout","time":"2026-11-26T03:55:09.%09dZ"}`+"\n", bytes.ReplaceAll([]byte(msg), []byte(`"`), []byte(`\"`)), nl, i%1e9)
	}
	return b.Bytes()
}

func benchDecode(b *testing.B, f format) {
	data := benchCorpus(f)
	work := make([]byte, len(data))
	d := &decoder{maxLine: 256 << 10, path: "p"}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, data) // docker unescaping rewrites lines with escapes in place
		d.logs, d.marks = d.logs[:0], d.marks[:0]
		d.format = formatUnknown
		if n := d.splitLines(work, 0); n != len(work) {
			b.Fatalf("consumed %d of %d", n, len(work))
		}
	}
	b.ReportMetric(float64(len(d.logs)), "lines/op")
}

func BenchmarkDecodeCRI(b *testing.B)    { benchDecode(b, formatCRI) }
func BenchmarkDecodeDocker(b *testing.B) { benchDecode(b, formatDocker) }

// BenchmarkSplitIndexByte is the floor the decoders are compared with: the
// same corpus split into lines with bytes.IndexByte and nothing else.
func BenchmarkSplitIndexByte(b *testing.B) {
	data := benchCorpus(formatCRI)
	work := make([]byte, len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	lines := 0
	for b.Loop() {
		copy(work, data)
		lines = 0
		for rest := work; ; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			lines++
			rest = rest[i+1:]
		}
	}
	b.ReportMetric(float64(lines), "lines/op")
}
