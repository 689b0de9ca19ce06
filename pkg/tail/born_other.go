//go:build !linux

package tail

import (
	"os"
	"time"
)

// bornAfter needs statx's birth time (Linux); elsewhere it knows nothing.
func bornAfter(string, time.Time) bool { return false }

// born needs statx's birth time (Linux); elsewhere it knows nothing.
func born(string) (time.Time, bool) { return time.Time{}, false }

// bornAs needs statx's birth time (Linux); elsewhere it knows nothing.
func bornAs(string, fileKey) (time.Time, bool) { return time.Time{}, false }

// bornOf needs statx's birth time (Linux); elsewhere it knows nothing.
func bornOf(*os.File) (time.Time, bool) { return time.Time{}, false }

// changedOf is not read here: nothing is told by file times.
func changedOf(*os.File) (time.Time, bool) { return time.Time{}, false }

// fsNow is time.Now: nothing is told by birth times here.
func fsNow() time.Time { return time.Now() }

// bornSinceState is false: nothing is told by birth times here.
func (t *Tailer) bornSinceState(*os.File) bool { return false }
