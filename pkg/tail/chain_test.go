package tail

import (
	"fmt"
	"testing"
	"time"
)

// TestRotationsKeepNoChain: a file rotated again and again (a chatty
// container: kubelet rotates at its size limit every few seconds) is
// followed by a new follower each time; the ones read and closed are
// forgotten, not kept linked behind the live one for the agent's life.
func TestRotationsKeepNoChain(t *testing.T) {
	tl, path, now := stepTailer(t, lines(0, 1))
	for i := range 50 {
		mustRename(t, path, fmt.Sprintf("%s.20261126-%06d", path, i))
		appendFile(t, path, lines(i+1, i+2))
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		now = now.Add(time.Second)
		tl.readTurn(now)
		now = now.Add(time.Second)
		tl.readTurn(now)
	}
	n := 0
	for f := tl.byPath[path]; f != nil; f = f.pred {
		n++
	}
	if n > 3 {
		t.Errorf("the live file has %d followers linked behind it after 50 rotations", n)
	}
}
