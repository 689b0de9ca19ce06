package tail

import "time"

// followerState is where a follower is in the life of its file. Truncation
// is not a state: it starts a new generation of the file in the same state.
type followerState uint8

const (
	// stFollowing: its path names its file; read as it grows.
	stFollowing followerState = iota
	// stRotated: its path names another file or nothing (renamed away);
	// finished through the descriptor, closed read_interval after it was
	// last seen growing. kubelet may rename it back (stFollowing again).
	stRotated
	// stDraining: opened as a rotated sibling or a copytruncate copy;
	// read to its end, then closed. A rotated sibling renamed back to its
	// path (an undone rotation) is followed there (stFollowing).
	stDraining
	// stDeleted: unlinked; what is left is read through the descriptor
	// within delete_wait, then it is closed and the rest counted as lost.
	stDeleted
	// stClosed: done; its successor at the same path may be read.
	stClosed
)

func (s followerState) String() string {
	return [...]string{"following", "rotated", "draining", "deleted", "closed"}[s]
}

// followerEvent is what the tailer observes of a follower's file.
type followerEvent uint8

const (
	evMoved      followerEvent = iota // its path names another file or nothing
	evMovedBack                       // its path names its file again (a rotation undone)
	evUnlinked                        // its link count fell to 0
	evEnd                             // read to its end, and the end is final (see readFile)
	evDeleteWait                      // deleted and not read to its end within delete_wait
	evStop                            // Run ends
)

func (e followerEvent) String() string {
	return [...]string{"moved", "moved back", "unlinked", "end", "delete wait", "stop"}[e]
}

// transition holds every edge of a follower's life: the state after ev in
// s, and ok=false if ev changes nothing in s.
func transition(s followerState, ev followerEvent) (next followerState, ok bool) {
	switch s {
	case stFollowing:
		switch ev {
		case evMoved:
			return stRotated, true
		case evUnlinked:
			return stDeleted, true
		case evStop:
			return stClosed, true
		}
	case stRotated:
		switch ev {
		case evMovedBack:
			return stFollowing, true
		case evUnlinked:
			return stDeleted, true
		case evEnd, evStop:
			return stClosed, true
		}
	case stDraining:
		switch ev {
		case evMovedBack:
			// A rotated sibling opened away from its path, renamed
			// back there (rotated.go backHome).
			return stFollowing, true
		case evUnlinked:
			return stDeleted, true
		case evEnd, evStop:
			return stClosed, true
		}
	case stDeleted:
		switch ev {
		case evEnd, evDeleteWait, evStop:
			return stClosed, true
		}
	}
	return s, false
}

// fire applies ev to f and keeps the times the states need: when f left
// stFollowing (since) and when it was seen unlinked (deletedAt). It
// reports whether the state changed.
func (f *follower) fire(ev followerEvent, now time.Time) bool {
	next, ok := transition(f.st, ev)
	if !ok {
		return false
	}
	switch next {
	case stFollowing:
		f.since, f.succAt = time.Time{}, time.Time{}
	case stRotated:
		f.since = now
	case stDeleted:
		if f.st == stFollowing {
			f.since = now
		}
		f.deletedAt = now
	}
	f.st = next
	return true
}
