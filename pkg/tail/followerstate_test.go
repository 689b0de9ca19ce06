package tail

import (
	"testing"
	"time"
)

// TestTransition checks every edge of a follower's life, and that every
// other event leaves the state alone.
func TestTransition(t *testing.T) {
	edges := map[followerState]map[followerEvent]followerState{
		stFollowing: {evMoved: stRotated, evUnlinked: stDeleted, evStop: stClosed},
		stRotated:   {evMovedBack: stFollowing, evUnlinked: stDeleted, evEnd: stClosed, evStop: stClosed},
		stDraining:  {evMovedBack: stFollowing, evUnlinked: stDeleted, evEnd: stClosed, evStop: stClosed},
		stDeleted:   {evEnd: stClosed, evDeleteWait: stClosed, evStop: stClosed},
		stClosed:    {},
	}
	for s := stFollowing; s <= stClosed; s++ {
		for ev := evMoved; ev <= evStop; ev++ {
			t.Run(s.String()+"/"+ev.String(), func(t *testing.T) {
				want, edge := edges[s][ev]
				if !edge {
					want = s
				}
				got, ok := transition(s, ev)
				if got != want || ok != edge {
					t.Errorf("transition(%v, %v) = %v, %v; want %v, %v", s, ev, got, ok, want, edge)
				}
			})
		}
	}
}

// TestFireTimes: the times a state needs are kept by fire: since is when the
// file left stFollowing (not moved by a later unlink), deletedAt when it was
// seen unlinked; moving back clears since.
func TestFireTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := &follower{}
	if !f.fire(evMoved, t0) || f.st != stRotated || !f.since.Equal(t0) {
		t.Fatalf("moved: %v since %v", f.st, f.since)
	}
	if !f.fire(evMovedBack, t0.Add(time.Second)) || f.st != stFollowing || !f.since.IsZero() {
		t.Fatalf("moved back: %v since %v", f.st, f.since)
	}
	f.fire(evMoved, t0.Add(2*time.Second))
	if !f.fire(evUnlinked, t0.Add(3*time.Second)) || f.st != stDeleted ||
		!f.since.Equal(t0.Add(2*time.Second)) || !f.deletedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("unlinked after move: %v since %v deleted %v", f.st, f.since, f.deletedAt)
	}
	if f.fire(evMovedBack, t0.Add(4*time.Second)) || f.st != stDeleted {
		t.Fatalf("a deleted file came back: %v", f.st)
	}
	g := &follower{}
	if !g.fire(evUnlinked, t0) || !g.since.Equal(t0) || !g.deletedAt.Equal(t0) {
		t.Fatalf("unlinked while following: since %v deleted %v", g.since, g.deletedAt)
	}
	if !g.fire(evDeleteWait, t0) || g.st != stClosed || g.fire(evStop, t0) {
		t.Fatalf("closed: %v", g.st)
	}
}
