package hostile

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileInflateAllAtOnce: the agent was down for a while; kubelet
// went on rotating and gzipping, so every container has a rotated .gz
// written since the checkpoint (here 8 containers, each .gz inflating to
// 32 MiB; kubelet's default is up to four of 10 MiB per container, on
// hundreds of containers). The agent decompresses each into an unlinked
// temporary file in state_dir, on the node's disk, invisible to du. It
// reads one file at a time, so it needs one inflated at a time (or a few);
// inflating every one at start takes the sum of their sizes from the
// node's disk at once, which on a real node is gigabytes: disk pressure
// makes kubelet evict pods. The space it holds must stay within a few
// files' worth.
func TestHostileInflateAllAtOnce(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	stop(t, p)
	const pods, size = 8, 32 << 20
	line := "2026-11-26T03:55:09.123456789Z stdout F " + strings.Repeat("z", 4000) + "\n"
	for i := 0; i < pods; i++ {
		path := filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, path)
		f, err := os.Create(path + ".20261126-035509.gz")
		must(t, err)
		zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
		must(t, err)
		for n := 0; n < size; n += len(line) {
			_, err = zw.Write([]byte(line))
			must(t, err)
		}
		must(t, zw.Close())
		must(t, f.Close())
		w.lines(path, 1000*(i+1), 1000*(i+1)+1)
	}
	p = w.agent.Start()
	// Until the agent holds more than four files' worth, or has read four
	// files' worth (by then it has shown whether it inflates ahead).
	var peak int64
	waitFor(t, "four files inflated at once, or read", 120*time.Second, func() bool {
		peak = max(peak, inflated(t, p.Cmd.Process.Pid))
		m, err := w.agent.Scrape()
		return peak > 4*size || (err == nil && m.Sum("ferry_tail_read_bytes_total") >= 4*size)
	})
	t.Logf("%d compressed files of %d MiB inflated: the agent held %d MiB of unlinked temporary files at once", pods, size>>20, peak>>20)
	if peak > 4*size {
		t.Errorf("%d MiB of inflated files held at once in state_dir, for %d files of %d MiB", peak>>20, pods, size>>20)
	}
	stop(t, p)
}

// inflated sums the sizes of the unlinked inflate files pid holds open.
func inflated(t *testing.T, pid int) int64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum int64
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.Contains(target, ".tail-inflate-") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
			sum += fi.Size()
		}
	}
	return sum
}
