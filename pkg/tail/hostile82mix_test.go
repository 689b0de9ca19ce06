package tail

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartBetweenRenameAndCreateMixed: a randomized sequence in which
// agents start and stop (SIGTERM: the final checkpoint; SIGKILL: the last
// periodic one) between kubelet's rename of 0.log and the runtime's
// creation of the next, once or twice in a row; the file renamed often
// ends with the first fragment (P) of a CRI line whose end (F) the
// runtime writes first in the next 0.log; kubelet gzips the older rotated
// files and deletes the oldest before it renames, and sometimes undoes a
// rotation (renamed back, an agent maybe starting or stopping between).
// Every line comes once (a line a killed agent delivered may come again),
// whole, except lines of a file deleted unread while no agent ran (a
// split line's end may then come alone). Each line's end has bytes of its
// own (a real runtime stamps each with its time): ends alike began files
// alike, and a file was taken for another's compressed copy. A few
// sequences run by default; TAIL_WINDOW=N runs N from TAIL_WINDOW_BASE.
// TAIL_WINDOW_STRICT=1 also fails a line's end that came alone, not
// flagged truncated, after a killed agent delivered the line whole, and
// an agent that counts more files vanished than were deleted since the
// agent before it started.
func TestStartBetweenRenameAndCreateMixed(t *testing.T) {
	n, base := 3, 0
	if s := os.Getenv("TAIL_WINDOW"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TAIL_WINDOW: %v", err)
		}
	}
	if s := os.Getenv("TAIL_WINDOW_BASE"); s != "" {
		base, _ = strconv.Atoi(s)
	}
	for seed := base; seed < base+n; seed++ {
		t.Run(strconv.Itoa(seed), func(t *testing.T) { windowMixed82(t, uint64(seed)) })
	}
}

func windowMixed82(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 82))
	strict := os.Getenv("TAIL_WINDOW_STRICT") != ""
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	cfg := testConfig(dir, state)
	if rng.IntN(3) == 0 {
		cfg.MaxOpenFiles = 1
	}
	var debug syncBuffer
	logger := slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var r *runner
	var past []rec
	var ops []string
	dupOK := make(map[int]bool) // delivered by an agent killed after
	killed := false
	logf := func(format string, args ...any) {
		ops = append(ops, time.Now().Format("15:04:05.000000 ")+fmt.Sprintf(format, args...))
	}
	all := func() []rec {
		if r == nil {
			return past
		}
		return append(slices.Clone(past), r.snapshot()...)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var recs []string
		for _, x := range all() {
			n, _ := seqOf(x.body)
			recs = append(recs, fmt.Sprintf("%s %d %s trunc=%v %q", x.at.Format("15:04:05.000000"), n, filepath.Base(x.path), x.truncated, x.body[:min(len(x.body), 40)]))
		}
		t.Logf("operations:\n%s\nlines as they arrived:\n%s\ntailers:\n%s", strings.Join(ops, "\n"), strings.Join(recs, "\n"), debug.String())
	})
	deliveredSet := func() map[int]bool {
		seen := make(map[int]bool)
		for _, s := range seqs(all()) {
			seen[s] = true
		}
		return seen
	}
	pause := func() {
		if r != nil && rng.IntN(2) == 0 {
			waitLooked(t, r)
		}
	}
	content := map[string][]int{path: nil}
	// Files deleted so far, and when the agent before the one running
	// started: an agent counts as vanished only files its checkpoint
	// named that were deleted since that agent started (its checkpoint
	// may be older than its stop).
	// An entry written while its file was empty, not found, may be
	// counted ("if any", doc.go): one more each.
	dels, delsPrevStart, delsStart, emptyAtStart := 0, 0, 0, 0
	checkVanished := func() {
		if !strict || r == nil {
			return
		}
		if n := lostVanished82(t, r); n > float64(dels-delsPrevStart+emptyAtStart) {
			t.Errorf("an agent counted %v files vanished, %d deleted since the agent before it started, %d entries empty (TAIL_WINDOW_STRICT)", n, dels-delsPrevStart, emptyAtStart)
		}
	}
	mayLose := make(map[int]bool)
	next, clock := 0, 0
	pendP := -1                     // the line whose first fragment ends the file at the path
	pFiles := make(map[string]bool) // rotated files that end with a first fragment
	pAt := make(map[int]string)     // the file each split line's first fragment is in
	var rotated []string
	stamp := func() string {
		clock++
		return fmt.Sprintf("%s.20261206-%06d", path, clock)
	}
	write := func(n int, partial bool) {
		if _, ok := content[path]; !ok {
			return
		}
		var b strings.Builder
		if pendP >= 0 {
			b.WriteString(criLine("stdout", "F", fmt.Sprintf("end %d", pendP)))
			content[path] = append(content[path], pendP)
			pendP = -1
		}
		b.WriteString(lines(next, next+n))
		for i := next; i < next+n; i++ {
			content[path] = append(content[path], i)
		}
		if n > 0 {
			logf("write %d..%d", next, next+n-1)
		}
		next += n
		if partial {
			b.WriteString(criLine("stdout", "P", fmt.Sprintf("seq=%d first ", next)))
			content[path] = append(content[path], next)
			pAt[next] = path
			logf("write P of %d", next)
			pendP = next
			next++
		}
		appendFile(t, path, b.String())
	}
	held := func(s int, except string) bool {
		for name, c := range content {
			if name != except && slices.Contains(c, s) {
				return true
			}
		}
		return false
	}
	remove := func(name string) {
		if r != nil {
			waitFor(t, 20*time.Second, "the lines of "+filepath.Base(name), func() bool {
				d := deliveredSet()
				for _, s := range content[name] {
					if !d[s] && !mayLose[s] {
						return false
					}
				}
				return true
			})
		} else {
			d := deliveredSet()
			for _, s := range content[name] {
				if !d[s] && (!held(s, name) || pAt[s] == name) {
					// A split line's first fragment deleted: the line is
					// lost (its end may come as a line of its own).
					mayLose[s] = true
				}
			}
		}
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		delete(content, name)
		dels++
		logf("delete %s", filepath.Base(name))
	}
	gzipOlder := func() {
		for i := range rotated {
			if !strings.HasSuffix(rotated[i], ".gz") {
				if r != nil && pFiles[rotated[i]] {
					// kubelet compresses a rotated file at the next
					// rotation, ten seconds or more after: the file
					// ending with a line's first fragment was read and
					// closed by then, its line carried into the next.
					waitFor(t, 20*time.Second, "the lines of "+filepath.Base(rotated[i]), func() bool {
						d := deliveredSet()
						for _, s := range content[rotated[i]] {
							if !d[s] {
								return false
							}
						}
						return true
					})
				}
				mustGzip(t, rotated[i])
				content[rotated[i]+".gz"] = content[rotated[i]]
				for n, at := range pAt {
					if at == rotated[i] {
						pAt[n] = rotated[i] + ".gz"
					}
				}
				delete(content, rotated[i])
				logf("gzip %s", filepath.Base(rotated[i]))
				rotated[i] += ".gz"
				pause()
			}
		}
	}
	expire := func() {
		for len(rotated) > 2 {
			remove(rotated[0])
			rotated = rotated[1:]
		}
	}
	stop := func(kill bool) {
		r.stop()
		checkVanished()
		if kill {
			// No final checkpoint: the last one written while it ran.
			for _, s := range seqs(r.snapshot()) {
				dupOK[s] = true
			}
			killed = true
		} else if err := r.tl.Close(); err != nil {
			t.Fatal(err)
		}
		past = append(past, r.snapshot()...)
		r = nil
		st, _ := os.ReadFile(filepath.Join(state, stateName))
		logf("stopped (kill %v); state: %s", kill, st)
	}
	start := func() {
		delsPrevStart, delsStart, emptyAtStart = delsStart, dels, 0
		if m, ok, _, _ := loadState(state); ok {
			for _, e := range m {
				if e.FingerprintLen == 0 && !e.Done {
					emptyAtStart++
				}
			}
		}
		r = startRunnerLog(t, cfg, Options{}, logger)
		logf("started")
		if rng.IntN(2) == 0 {
			waitLooked(t, r) // its first scan done
		}
	}
	restart := func() {
		if r != nil {
			stop(rng.IntN(3) == 0)
			return
		}
		start()
	}
	rotate := func() {
		gzipOlder()
		expire()
		name := stamp()
		mustRename(t, path, name)
		content[name] = content[path]
		for n, at := range pAt {
			if at == path {
				pAt[n] = name
			}
		}
		delete(content, path)
		rotated = append(rotated, name)
		logf("rotate -> %s", filepath.Base(name))

		if r != nil && rng.IntN(3) == 0 {
			// The runtime writes to the renamed file until it reopens.
			var b strings.Builder
			if pendP >= 0 {
				b.WriteString(criLine("stdout", "F", fmt.Sprintf("end %d", pendP)))
				content[name] = append(content[name], pendP)
				pendP = -1
			}
			b.WriteString(lines(next, next+2))
			content[name] = append(content[name], next, next+1)
			logf("write %d..%d to the renamed file", next, next+1)
			next += 2
			if rng.IntN(2) == 0 {
				b.WriteString(criLine("stdout", "P", fmt.Sprintf("seq=%d first ", next)))
				content[name] = append(content[name], next)
				pAt[next] = name
				pendP = next
				logf("write P of %d to the renamed file", next)
				next++
			}
			appendFile(t, name, b.String())
		}
		if pendP >= 0 {
			pFiles[name] = true
		}
		pause()
		for range 1 + rng.IntN(2) {
			if rng.IntN(2) == 0 {
				restart() // inside the window
				pause()
			}
		}
		if rng.IntN(5) == 0 {
			mustRename(t, name, path) // undone
			for n, at := range pAt {
				if at == name {
					pAt[n] = path
				}
			}
			content[path] = content[name]
			delete(content, name)
			rotated = rotated[:len(rotated)-1]
			logf("undone: renamed back")
			return
		}
		appendFile(t, path, "")
		content[path] = nil
		logf("created")
		if pendP >= 0 {
			write(rng.IntN(3), false) // the runtime writes the line's end first
		}
	}
	start()
	for range 40 {
		switch op := rng.IntN(10); op {
		case 0, 1, 2:
			write(1+rng.IntN(10), rng.IntN(2) == 0)
		case 3, 4, 5:
			rotate()
		case 6, 7:
			restart()
		case 8:
			gzipOlder()
		case 9:
			write(rng.IntN(3), true)
			rotate()
		}
		pause()
	}
	if r == nil {
		start()
	}
	write(1, false)
	final := next - 1
	waitFor(t, 20*time.Second, "the last line", func() bool { return deliveredSet()[final] })
	for deadline := time.Now().Add(20 * time.Second); ; {
		var missing []int
		d := deliveredSet()
		for s := range next {
			if !d[s] && !mayLose[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines %v never delivered", missing)
		}
		waitLooked(t, r)
	}
	r.settle()
	r.stop()
	checkVanished()
	past = append(past, r.snapshot()...)
	r = nil
	count := make(map[int]int)
	for _, x := range past {
		s, ok := seqOf(x.body)
		if !ok {
			// A split line's end alone: its first fragment was deleted
			// while no agent ran, or a killed agent delivered the line
			// and the next read the file with its end again (its first
			// fragment's file gone: a known gap, doc.go).
			var n int
			if _, err := fmt.Sscanf(x.body, "end %d", &n); err != nil || !(mayLose[n] || dupOK[n]) {
				t.Errorf("a record with no line number: %q", x.body)
			} else if strict && !mayLose[n] && !x.truncated {
				t.Errorf("the end of line %d alone, not flagged truncated (TAIL_WINDOW_STRICT): %q", n, x.body)
			}
			continue
		}
		if x.truncated && !mayLose[s] {
			t.Errorf("line %d cut: %q", s, x.body)
		}
		count[s]++
	}
	for s := range next {
		switch {
		case count[s] == 0 && mayLose[s]:
		case count[s] == 1:
		case count[s] > 1 && dupOK[s]:
		default:
			t.Errorf("line %d delivered %d times", s, count[s])
		}
	}
	_ = killed
}

// lostVanished82 is r's ferry_tail_lost_files_total{reason="vanished"}.
func lostVanished82(t *testing.T, r *runner) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "tail_lost_files_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == lostVanished {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
