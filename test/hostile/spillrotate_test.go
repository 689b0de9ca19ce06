package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileSpilledThenRotated: memory.queue_bytes is 64 KiB and 6
// containers each hold a 24 KiB unfinished line, so some are spilled
// (rewound to where the line began; read again once the file grows).
// Then, with no growth in between, each file is rotated one way: renamed
// with the rest of the line written to the renamed file (the runtime has
// not reopened yet) and a new file; copytruncated after the rest of the
// line is written; the rest written then renamed; deleted after the rest
// is written. Every complete line arrives once.
func TestHostileSpilledThenRotated(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"max_line_bytes: 65536", "delete_wait: 1s"},
		top: "hostmetrics: {enabled: false}\nmemory: {queue_bytes: 65536}\n"})
	const pods = 6
	paths := make([]string, pods)
	long := strings.Repeat("q", 24<<10)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*100, i*100+10)
		w.raw(paths[i], "2026-11-26T03:55:09.123456789Z stdout F long"+itoa(i)+" "+long)
	}
	p := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*100, i*100+10, 30*time.Second)
	}
	var m map[string]float64
	waitFor(t, "spills", 30*time.Second, func() bool {
		mm, err := w.agent.Scrape()
		m = mm
		return err == nil && mm.Sum("ferry_tail_unfinished_spills_total") > 0 &&
			mm.Sum("ferry_tail_read_bytes_total") >= float64(pods*(10*len(line(5, ""))+len(long)))
	})
	t.Logf("spills %v", m["ferry_tail_unfinished_spills_total"])
	for i, pa := range paths {
		rot := pa + ".20261205-010000"
		switch i % 3 {
		case 0: // rename, the rest to the renamed file, then a new file
			must(t, os.Rename(pa, rot))
			w.raw(rot, " end\n")
			w.lines(rot, i*100+10, i*100+20)
			w.lines(pa, i*100+20, i*100+30)
		case 1: // the rest, copy, truncate
			w.raw(pa, " end\n")
			w.lines(pa, i*100+10, i*100+20)
			data, err := os.ReadFile(pa)
			must(t, err)
			must(t, os.WriteFile(rot, data, 0o644))
			must(t, os.Truncate(pa, 0))
			w.lines(pa, i*100+20, i*100+30)
		case 2: // the rest, then deleted
			w.raw(pa, " end\n")
			w.lines(pa, i*100+10, i*100+20)
			must(t, os.Remove(pa))
			w.lines(pa, i*100+20, i*100+30)
		}
	}
	for i := range paths {
		w.waitSeqs(i*100, i*100+30, 60*time.Second)
	}
	w.settled(float64(pods*31), 30*time.Second)
	got := map[string]int{}
	for _, r := range w.records() {
		if strings.HasPrefix(r.Message, "long") {
			got[r.Message[:strings.IndexByte(r.Message, ' ')]]++
		}
	}
	for i := range paths {
		if n := got["long"+itoa(i)]; n != 1 {
			t.Errorf("pod %d: the long line arrived %d times", i, n)
		}
		w.check(i*100, i*100+30, false)
	}
	stop(t, p)
}
