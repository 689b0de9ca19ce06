package main

import (
	"os"
	"strconv"
	"testing"
)

// TestRSSWindowStopTwice: a window's stop may be called again (a deferred
// stop after the one that read the figures): it returns the same figures
// rather than closing its channel a second time.
func TestRSSWindowStopTwice(t *testing.T) {
	stop := rssWindow(strconv.Itoa(os.Getpid()))
	mean, most := stop()
	if mean <= 0 || most < mean {
		t.Fatalf("own process: mean %d, largest %d", mean, most)
	}
	var m2, x2 int64
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("second stop panicked: %v", r)
			}
		}()
		m2, x2 = stop()
	}()
	if m2 != mean || x2 != most {
		t.Errorf("second stop: %d, %d; the first said %d, %d", m2, x2, mean, most)
	}
}

// TestRSSWindowNoProcess: a process that is gone gives no sample: 0, 0.
func TestRSSWindowNoProcess(t *testing.T) {
	stop := rssWindow("0") // /proc/0 does not exist
	if mean, most := stop(); mean != 0 || most != 0 {
		t.Errorf("no process: mean %d, largest %d; want 0, 0", mean, most)
	}
}
