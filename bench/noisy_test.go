package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNoisyAccounts runs mode noisy small (a noisy container at 3,000
// lines/s rotated at 256 KiB, limit 300 lines/s) with the built agent:
// under defer the container is shipped near its limit and kubelet's
// rotation takes bytes away unread, which the agent counts exactly;
// under drop the drops equal the counter and the summary records. The
// exact accounts are checked by runNoisy itself (its drain fails
// otherwise); the test states what they must show.
func TestNoisyAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent")
	}
	bin, dir := testFerry(t)
	o := noisyOptions{QuietFiles: 4, QuietRate: 10, NoisyRate: 3000, Limit: 300, RotateBytes: 256 << 10, Keep: 2,
		Warmup: time.Second, Window: 3 * time.Second, Drain: 2 * time.Minute,
		// A rotated file is given up a second after kubelet removed
		// (gzipped) it: the deferred container loses bytes.
		Logs: "  delete_wait: 1s\n"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	f, err := runNoisy(ctx, bin, dir, "defer", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("defer: %+v", f)
	if f.QuietLines == 0 || f.Received == 0 {
		t.Errorf("defer: %d quiet lines in the window, %d noisy lines received", f.QuietLines, f.Received)
	}
	// Burst (one second of the limit) plus the limit over the window, at most.
	if most := float64(o.Limit) * (1 + o.Window.Seconds()) / o.Window.Seconds(); f.NoisyShipped > most {
		t.Errorf("defer: noisy shipped %.0f lines/s, over the limit's %.0f", f.NoisyShipped, most)
	}
	if f.Deferred == 0 {
		t.Errorf("defer: no line deferred")
	}
	if f.RotatedUnread == 0 || f.RotatedUnread != f.LostBytes || int64(f.LostBytes) != f.WrittenBytes-f.ReceivedBytes {
		t.Errorf("defer: rotated_unread %.0f, lost %.0f, never received %d bytes: want them equal and above 0 (delete_wait 1s)",
			f.RotatedUnread, f.LostBytes, f.WrittenBytes-f.ReceivedBytes)
	}

	f, err = runNoisy(ctx, bin, dir, "drop", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drop: %+v", f)
	if f.Dropped == 0 || float64(f.Summarised) != f.Dropped || f.Written != f.Received+f.Summarised {
		t.Errorf("drop: %d written, %d received, %.0f dropped, %d summarised", f.Written, f.Received, f.Dropped, f.Summarised)
	}
	if f.LostBytes != 0 {
		t.Errorf("drop: %.0f bytes counted lost; the drop policy reads at full speed", f.LostBytes)
	}
	// The container rotates about twice a second: every file must not
	// bring a new burst (it shipped 2.5x the limit when it did).
	if most := float64(o.Limit) * (1 + o.Window.Seconds()) / o.Window.Seconds(); f.NoisyShipped > most {
		t.Errorf("drop: noisy shipped %.0f lines/s, over the limit's %.0f", f.NoisyShipped, most)
	}
}

// TestNoisyReceiver: records are read whether or not the fast path can
// (an escaped message); a line received twice, a summary record, and a
// record split across writes are each seen for what they are.
func TestNoisyReceiver(t *testing.T) {
	r := newNoisyReceiver("_web-1000-")
	noisyFile := "/p/shop_web-1000-x_uid/app/0.log"
	rec := func(msg, file string) string {
		return `{"time":"2026-12-05T06:00:00.120000000Z","stream":"stdout","message":"` + msg +
			`","kubernetes":{"pod":"a\"b"},"file":"` + file + `","offset":1,"truncated":false}` + "\n"
	}
	in := rec("seq=1 src=x len=40 abc", noisyFile) +
		rec(`seq=2 src=x \"quoted\"`, noisyFile) +
		rec("seq=1 src=x len=40 abc", noisyFile) + // again
		rec("ferry: 7 lines (700 bytes) of this container dropped by its rate limit (lines=1,policy=drop) from a to b", noisyFile) +
		rec("seq=1 src=q", "/p/shop_web-1-x_uid/app/0.log")
	r.window(true)
	for i := 0; i < len(in); i += 50 { // split anywhere
		r.Write([]byte(in[i:min(i+50, len(in))]))
	}
	st := r.state()
	if st.noisy != 2 || st.quiet != 1 || st.summarised != 7 || st.summarisedBytes != 700 {
		t.Errorf("state %+v", st)
	}
	// The writer's timestamp had its trailing zeros trimmed: .12
	if want := int64(len("2026-12-05T06:00:00.12Z stdout F seq=1 src=x len=40 abc\n") + len(`2026-12-05T06:00:00.12Z stdout F seq=2 src=x "quoted"`+"\n")); st.noisyBytes != want {
		t.Errorf("noisy bytes %d, want %d", st.noisyBytes, want)
	}
	if len(r.latencies()) != 1 {
		t.Errorf("latencies %v, want the quiet line's", r.latencies())
	}
	if err := r.err(); err == nil || !strings.Contains(err.Error(), "1 lines received twice") {
		t.Errorf("err = %v, want the line received twice", err)
	}
}

// testFerry builds cmd/agent into a temporary directory, which it returns
// with the binary.
func testFerry(t *testing.T) (bin, dir string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if bin, err = buildFerry(root, dir); err != nil {
		t.Fatal(err)
	}
	return bin, dir
}
