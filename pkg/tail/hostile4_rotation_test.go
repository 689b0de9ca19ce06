package tail

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// countLog counts the lines of a text log holding every one of want.
func countLog(out string, want ...string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			n++
		}
	}
	return n
}

// rotateKubelet renames path kubelet's way (<path>.<timestamp>, the i-th
// rotation) and starts a new, empty file at path.
func rotateKubelet(t *testing.T, path string, i int) string {
	t.Helper()
	name := fmt.Sprintf("%s.20261205-0700%02d", path, i)
	if err := os.Rename(path, name); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "")
	return name
}

// TestHostile4DropSummaryPerRotation: a container over its limit under
// policy drop, whose log kubelet rotates every 500 ms, gets one summary
// record per summary_interval (README: "every summary_interval the
// container gets one record"), not one per rotation; the summaries add
// up to the drop counter, the shipped lines stay within burst + rate x
// elapsed, and one episode is warned about once.
func TestHostile4DropSummaryPerRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate, perTick, seconds = 100, 50, 6
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate, Policy: PolicyDrop})
		cfg.RateLimit.SummaryInterval = 10 * time.Second
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, "")
		logs := &lockedBuffer{}
		r := startPollingLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		synctest.Wait()
		start := time.Now()
		written := 0
		for tick := 1; tick <= seconds*10; tick++ {
			appendFile(t, path, noisyLines(written, written+perTick))
			written += perTick
			if tick%5 == 0 {
				rotateKubelet(t, path, tick/5)
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		elapsed := time.Since(start).Seconds()
		// Every line read, shipped or counted (rotated files are kept).
		time.Sleep(2 * time.Second)
		synctest.Wait()
		early := testutil.ToFloat64(r.tl.m.dropSummaries)
		time.Sleep(cfg.RateLimit.SummaryInterval + 2*time.Second)
		synctest.Wait()
		shipped, summaries := 0, 0
		var summarised int64
		for _, rc := range r.snapshot() {
			if m := summaryRE.FindStringSubmatch(rc.body); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				summarised += n
				summaries++
				continue
			}
			shipped++
		}
		dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
		if float64(shipped)+dropped != float64(written) || float64(summarised) != dropped {
			t.Errorf("written %d: shipped %d, dropped %v, summarised %d", written, shipped, dropped, summarised)
		}
		if float64(shipped) > rate+rate*(elapsed+2) {
			t.Errorf("%d lines shipped in %.0fs at %d/s", shipped, elapsed+2, rate)
		}
		// 8 s of drops at one summary per 10 s: none due before the
		// interval, one (or two) after.
		if early > 0 || summaries > 2 {
			t.Errorf("%v summaries within the first summary_interval (%d in all, %d rotations): one per rotation, not per interval", early, summaries, seconds*2)
		}
		out := logs.String()
		if n := countLog(out, "container over its rate limit", "container=ns/noisy/app"); n != 1 {
			t.Errorf("%d warnings that the container is over its limit, want 1:\n%s", n, out)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v after the drops stopped", g)
		}
		t.Logf("written %d, shipped %d, dropped %v in %d summaries (%v in the first interval)", written, shipped, dropped, summaries, early)
		r.stop()
	})
}

// TestHostile4DeferWarningPerRotation: a container held back by its limit
// (policy defer) while kubelet rotates its log every second is one
// episode: one "over its rate limit" warning and one "back within" once
// it has caught up, not a pair at every rotated file read to its end
// while the new file is still behind. The gauge stays 1 throughout and
// is 0 at the end; every line arrives once, in order.
func TestHostile4DeferWarningPerRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate, perTick, seconds = 1000, 300, 6
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate})
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, "")
		logs := &lockedBuffer{}
		r := startPollingLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		synctest.Wait()
		written := 0
		gaugeDips := 0
		for tick := 1; tick <= seconds*10; tick++ {
			appendFile(t, path, noisyLines(written, written+perTick))
			written += perTick
			if tick%10 == 0 {
				rotateKubelet(t, path, tick/10)
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			if tick > 10 && testutil.ToFloat64(r.tl.m.limitedContainers) != 1 {
				gaugeDips++
			}
		}
		for i := 0; i < 3*written/rate; i++ {
			if n, _ := countPrefix(r.snapshot(), "ns_noisy_uid"); n == written {
				break
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n, inOrder := countPrefix(r.snapshot(), "ns_noisy_uid"); n != written || !inOrder {
			t.Errorf("%d of %d lines arrived (in order %v)", n, written, inOrder)
		}
		out := logs.String()
		over := countLog(out, "container over its rate limit; reading deferred", "container=ns/noisy/app")
		back := countLog(out, "container back within its rate limit", "container=ns/noisy/app")
		if over != 1 || back != 1 || gaugeDips > 0 {
			t.Errorf("%d warnings over the limit, %d back within, the gauge left 1 at %d of %d looks while behind (%d rotations); want one episode",
				over, back, gaugeDips, seconds*10-10, seconds)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v once caught up", g)
		}
		r.stop()
	})
}

// TestHostile4DeletedPodSummaryAtOnce: a drop-limited container whose pod
// is deleted (its directory removed) gets its last summary when its file
// is closed, not a summary_interval later (or when its slow bucket is
// full again): enrichment keeps a deleted pod's metadata for delete_grace
// only (1m by default), so a summary that waits longer goes out without
// the pod's metadata. A rotation (a new file at the path) does not.
func TestHostile4DeletedPodSummaryAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 1, BurstLines: 50, Policy: PolicyDrop})
		cfg.RateLimit.SummaryInterval = 5 * time.Minute
		path := mkContainer(t, dir, "ns_gone_uid")
		appendFile(t, path, noisyLines(0, 200))
		r := startPolling(t, cfg)
		time.Sleep(time.Second)
		synctest.Wait()
		rotateKubelet(t, path, 1)
		appendFile(t, path, noisyLines(200, 300))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := testutil.ToFloat64(r.tl.m.dropSummaries); s != 0 {
			t.Errorf("%v summaries at a rotation, want none before summary_interval", s)
		}
		if err := os.RemoveAll(filepath.Dir(filepath.Dir(path))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		var summarised int64
		for _, rc := range r.snapshot() {
			if m := summaryRE.FindStringSubmatch(rc.body); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				summarised += n
			}
		}
		dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
		if dropped == 0 || float64(summarised) != dropped {
			t.Errorf("2 s after the pod's deletion %d dropped lines summarised of %v", summarised, dropped)
		}
		r.stop()
	})
}

// TestHostile4DeferUndoneRotation: a container held back by its limit
// (policy defer) whose rotation kubelet undoes (the runtime could not
// reopen the log: the rotated file is renamed back) while it is behind:
// every line arrives once and in order, one episode is warned about, and
// the gauge is 0 once it has caught up.
func TestHostile4DeferUndoneRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate = 500
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate})
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, noisyLines(0, 2000))
		logs := &lockedBuffer{}
		r := startPollingLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		name := rotateKubelet(t, path, 1)
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if err := os.Remove(path); err != nil { // the runtime never wrote to it
			t.Fatal(err)
		}
		if err := os.Rename(name, path); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, noisyLines(2000, 2500))
		for i := 0; i < 10; i++ {
			if n, _ := countPrefix(r.snapshot(), "ns_noisy_uid"); n == 2500 {
				break
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, inOrder := countPrefix(r.snapshot(), "ns_noisy_uid"); n != 2500 || !inOrder {
			t.Errorf("%d of 2500 lines arrived (in order %v)", n, inOrder)
		}
		out := logs.String()
		if over, back := countLog(out, "container over its rate limit", "container=ns/noisy/app"), countLog(out, "back within", "container=ns/noisy/app"); over != 1 || back != 1 {
			t.Errorf("%d over-the-limit and %d back-within warnings for one episode:\n%s", over, back, out)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v once caught up", g)
		}
		r.stop()
	})
}

// TestHostile4DeferContainerRestart: a container held back by its limit
// (policy defer) restarts: kubelet's 1.log appears beside 0.log, which is
// still behind. Both files share the container's budget (the two
// together at its rate), every line of both arrives once, and it is one
// episode, ended when both are read.
func TestHostile4DeferContainerRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate = 500
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate})
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, noisyLines(0, 3000))
		logs := &lockedBuffer{}
		r := startPollingLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		start := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		restarted := filepath.Join(filepath.Dir(path), "1.log")
		appendFile(t, restarted, strings.ReplaceAll(noisyLines(0, 1000), "noisy", "again"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := len(r.snapshot()); float64(n) > rate+rate*time.Since(start).Seconds() {
			t.Errorf("%d lines in %v from two files of a container limited to %d/s", n, time.Since(start), rate)
		}
		for i := 0; i < 15; i++ {
			if len(r.snapshot()) == 4000 {
				break
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		time.Sleep(time.Second)
		synctest.Wait()
		first, again := 0, 0
		for _, rc := range r.snapshot() {
			if strings.HasSuffix(rc.body, " again") {
				again++
			} else {
				first++
			}
		}
		if first != 3000 || again != 1000 {
			t.Errorf("%d of 3000 lines of 0.log and %d of 1000 of 1.log arrived", first, again)
		}
		out := logs.String()
		if over, back := countLog(out, "container over its rate limit", "container=ns/noisy/app"), countLog(out, "back within", "container=ns/noisy/app"); over != 1 || back != 1 {
			t.Errorf("%d over-the-limit and %d back-within warnings for one episode:\n%s", over, back, out)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v once caught up", g)
		}
		r.stop()
	})
}

// TestHostile4DropCopyTruncate: a container over its limit (policy drop)
// whose log is rotated by copytruncate (copied to a rotated name, then
// truncated) right after a burst: every line written is shipped or counted
// dropped once, the summaries add up to the counter, and the checkpoint
// reaches the end of the truncated file's new lines.
func TestHostile4DropCopyTruncate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 100, Policy: PolicyDrop})
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, noisyLines(0, 500))
		r := startPolling(t, cfg)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		appendFile(t, path+".20261205-070000", string(data)+noisyLines(500, 700))
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		appendFile(t, path, noisyLines(700, 750))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		shipped, seen := 0, map[int]int{}
		var summarised int64
		for _, rc := range r.snapshot() {
			if m := summaryRE.FindStringSubmatch(rc.body); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				summarised += n
				continue
			}
			s, _ := seqOf(rc.body)
			seen[s]++
			shipped++
		}
		for s, n := range seen {
			if n > 1 {
				t.Errorf("line %d shipped %d times", s, n)
			}
		}
		dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
		if float64(shipped)+dropped != 750 || float64(summarised) != dropped {
			t.Errorf("written 750: shipped %d, dropped %v, summarised %d", shipped, dropped, summarised)
		}
		r.stop()
	})
}
