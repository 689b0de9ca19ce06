package tail

import "time"

// Liveness. Run's loop goes round at least once per poll_interval however
// idle the node (the poll is one of its deadlines) and however full the
// consumer (backpressure stops reading, never the loop): a loop that has not
// gone round for several poll intervals is stuck (an open or a read that
// blocks, a bug), which is what a liveness probe exists to catch. The loop
// itself records each round, so the signal cannot come from another
// goroutine that is still well.

//
// Before the loop, Run loads the checkpoint and scans the include globs,
// which on a node with many files takes a while and can block the same way
// (a hung mount). That work beats too, once when Run starts and once per
// file it discovers or resumes: a long scan that makes progress is alive,
// one that blocks is stuck.

// heartbeat records a round of Run's loop.
func (t *Tailer) heartbeat() {
	if t.loopHook != nil {
		t.loopHook()
	}
	t.progress()
}

// progress records that Run is working (a round, or a file of the scan).
// The stamp is on the monotonic clock: a step of the wall clock (NTP, an
// hour back) must not make a hung loop look alive for the step's length,
// nor a step forward a live one dead.
func (t *Tailer) progress() { t.beat.Store(int64(time.Since(t.beatEpoch)) + 1) }

// LastLoop returns when Run last showed progress: its loop's last round,
// or during the start-up scan the last file it took up. Zero before Run
// starts and after it returns. While Run works it is at most about
// poll_interval old (plus the time one round of reading, or one file of
// the scan, takes).
//
// It carries a monotonic clock reading: time.Since of it (or
// time.Now().Sub) ignores steps of the wall clock.
func (t *Tailer) LastLoop() time.Time {
	ns := t.beat.Load()
	if ns == 0 {
		return time.Time{}
	}
	return t.beatEpoch.Add(time.Duration(ns - 1))
}

// PollInterval is the configured poll_interval, the period LastLoop is
// expected to keep to.
func (t *Tailer) PollInterval() time.Duration { return t.cfg.PollInterval }

// Behind is behind_bytes: the bytes between the read offsets and the ends
// of the open files at the last poll. About what read_interval lets
// accumulate while the agent keeps up; more while it catches up (after a
// start, a burst, or backpressure from the sink).
func (t *Tailer) Behind() int64 { return t.behind.Load() }
