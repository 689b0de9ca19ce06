package tail

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFirehoseLeavesRoomForQuietFiles: one file written continuously, fast,
// next to quiet files, and a consumer that acknowledges nothing. The
// firehose stops at its share of the in-flight budget (all of it but the
// reserve kept for the others), so the quiet files' new lines are read and
// delivered at once, while the firehose is still behind - without a single
// acknowledgement. (Without fair reading the firehose takes the whole
// budget and the quiet lines wait for acknowledgements.)
func TestFirehoseLeavesRoomForQuietFiles(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxInflightBytes = 1 << 20
	cfg.ReadBytesPerTurn = 16 << 10
	const quiet = 10
	quietPaths := make([]string, quiet)
	for i := range quietPaths {
		quietPaths[i] = mkContainer(t, dir, fmt.Sprintf("ns_quiet%d_uid", i))
		appendFile(t, quietPaths[i], "")
	}
	hose := mkContainer(t, dir, "ns_hose_uid")
	line := criLine("stdout", "F", "hose "+strings.Repeat("h", 180))
	chunk := strings.Repeat(line, 100)
	appendFile(t, hose, chunk)

	r := startRunner(t, cfg, Options{})
	r.setHold(true)
	var written atomic.Int64
	written.Store(100)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // the firehose: written as fast as it goes, until stopped (or 8 MiB)
		defer close(done)
		for written.Load()*int64(len(line)) < 8<<20 {
			select {
			case <-stop:
				return
			default:
			}
			appendFile(t, hose, chunk)
			written.Add(100)
		}
	}()
	defer func() { close(stop); <-done }()

	budget := float64(cfg.MaxInflightBytes)
	waitFor(t, 20*time.Second, "the firehose to fill its share and pause", func() bool {
		return testutil.ToFloat64(r.tl.m.inflight) >= budget/2 && testutil.ToFloat64(r.tl.m.backpressure) > 0
	})
	for i, p := range quietPaths {
		appendFile(t, p, criLine("stdout", "F", fmt.Sprintf("quiet %d", i)))
	}
	got := map[string]bool{}
	waitFor(t, 20*time.Second, "every quiet line, with no acknowledgement", func() bool {
		for _, rc := range r.snapshot() {
			if strings.HasPrefix(rc.body, "quiet ") {
				got[rc.body] = true
			}
		}
		return len(got) == quiet
	})
	hoseRead := 0
	for _, rc := range r.snapshot() {
		if filepath.Base(filepath.Dir(filepath.Dir(rc.path))) == "ns_hose_uid" {
			hoseRead++
		}
	}
	if w := written.Load(); int64(hoseRead) >= w {
		t.Errorf("the firehose was not behind: %d of %d lines read", hoseRead, w)
	}
	// Its share: the budget minus the reserve, exceeded by at most one
	// read turn (its bytes and their per-line overhead).
	turn := float64(cfg.ReadBytesPerTurn) * (1 + float64(lineOverhead)/float64(len(line)))
	bound := budget - budget/fairReserve + turn + float64(len(line)+int(lineOverhead))
	if most := testutil.ToFloat64(r.tl.m.fileInflightMax); most > bound || most < budget/2 {
		t.Errorf("the firehose holds %.0f in-flight bytes, want between %.0f and its share %.0f", most, budget/2, bound)
	}
	if in := testutil.ToFloat64(r.tl.m.inflight); in > budget+turn {
		t.Errorf("in flight %.0f, over the budget %.0f plus one turn", in, budget)
	}
	t.Logf("firehose: %d of %d lines read; largest holding %.0f bytes of %.0f", hoseRead, written.Load(), testutil.ToFloat64(r.tl.m.fileInflightMax), budget)
	r.setHold(false)
}

// TestOverShare: the share rule, file by file.
func TestOverShare(t *testing.T) {
	const budget = 800
	for _, tc := range []struct {
		name    string
		files   int
		held    int64
		waiting int
		want    bool
	}{
		{"alone, whole budget", 1, 799, 1, false},
		{"others idle, below the reserve", 3, 699, 1, false},
		{"others idle, reaches the reserve", 3, 700, 1, true},
		{"two waiting, below half", 3, 399, 2, false},
		{"two waiting, half", 3, 400, 2, true},
		{"eight waiting, an eighth", 9, 100, 8, true},
		{"eight waiting, nothing held", 9, 0, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &Tailer{cfg: Config{MaxInflightBytes: budget}}
			for range tc.files {
				tl.order = append(tl.order, &follower{})
				tl.turn = append(tl.turn, turnFile{})
			}
			tl.turn[0].held = tc.held
			if got := tl.overShare(0, tc.waiting); got != tc.want {
				t.Errorf("overShare = %v, want %v", got, tc.want)
			}
		})
	}
}
