package tail

import "time"

// Fair reading. Every file due in a read turn reads at most
// read_bytes_per_turn before the next one (round robin); on top of that the
// in-flight budget (max_inflight_bytes) is shared:
//
//   - while other files have lines waiting, a file holding its share of
//     the budget or more (the budget divided by the number of files
//     waiting, itself included) is passed over: an acknowledgement that
//     frees room goes to the files that wait, not back to the firehose;
//   - while no other file waits, one file may fill the budget up to a
//     reserve of one eighth, kept for the lines of the others: a quiet
//     file's new line is read at once, not after the firehose's
//     acknowledgements. A file alone on the node may use it all.
//
// A file's in-flight bytes are counted from the end of its acknowledged
// prefix to its last emitted line, plus the per-line overhead of the lines
// not yet acknowledged: an out-of-order acknowledgement frees the global
// budget at once and the file's share when the prefix reaches it.

// fairReserve is the part of the budget (1/fairReserve) one file never
// takes while others are open.
const fairReserve = 8

// heldBytes is what f's current generation holds of the in-flight budget.
// t.mu is held.
func heldBytes(f *follower) int64 {
	tr := f.tr
	if tr == nil {
		return 0
	}
	n := int64(len(tr.entries) - tr.head)
	if n <= 0 {
		return 0
	}
	return max(tr.lastEnd-tr.ackedEnd, 0) + n*lineOverhead
}

// waiting says f has lines to read in this turn.
func (t *Tailer) due(f *follower, now time.Time) bool {
	if f.st == stClosed || (f.pred != nil && f.pred.st != stClosed) {
		return false
	}
	return f.more || (f.dirty && now.Sub(f.lastRead) >= t.cfg.ReadInterval)
}

// turnFile is what a read turn knows of one file of t.order before it
// starts.
type turnFile struct {
	held     int64 // in-flight bytes (heldBytes)
	due      bool  // has lines to read now
	deferred bool  // held back by its rate limit, or by the sink (Options.Holdback)
}

// planTurn measures the turn into t.turn (by position in t.order): what
// each file holds in flight, whether it is due and whether its rate limit
// defers it. It returns how many files wait to read (due, not deferred)
// and exports the largest holding as ferry_tail_file_inflight_max_bytes.
func (t *Tailer) planTurn(now time.Time) (waiting int) {
	t.turn = t.turn[:0]
	var most int64
	t.mu.Lock()
	for _, f := range t.order {
		h := heldBytes(f)
		t.turn = append(t.turn, turnFile{held: h})
		most = max(most, h)
	}
	t.mu.Unlock()
	t.limitWake = time.Time{}
	for i, f := range t.order {
		if !t.due(f, now) {
			continue
		}
		t.turn[i].due = true
		if t.deferring(f, now) || t.heldBack(f) {
			t.turn[i].deferred = true
			continue
		}
		// Waiting: bytes known to be unread (a poll marks every file
		// due; only those it found grown wait).
		if f.more || f.size > f.off {
			waiting++
		}
	}
	t.m.fileInflightMax.Set(float64(most))
	return waiting
}

// overShare says the file at position i of t.order (due, and counted in
// waiting) holds its share of the budget or more.
func (t *Tailer) overShare(i, waiting int) bool {
	if len(t.order) < 2 || i >= len(t.turn) {
		return false
	}
	held, budget := t.turn[i].held, t.cfg.MaxInflightBytes
	if waiting <= 1 {
		return held >= budget-budget/fairReserve
	}
	return held >= budget/int64(waiting)
}
