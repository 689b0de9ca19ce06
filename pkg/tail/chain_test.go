package tail

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestRotationsKeepNoChain: a file rotated again and again (a chatty
// container: kubelet rotates at its size limit every few seconds) is
// followed by a new follower each time; the ones read and closed are
// forgotten, not kept linked behind the live one for the agent's life.
func TestRotationsKeepNoChain(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, err := New(testConfig(dir, t.TempDir()), nil, make(chan []event.Log, 100000), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	now := time.Now()
	tl.loadState(now)
	appendFile(t, path, lines(0, 1))
	tl.rescan(now, true)
	tl.readTurn(now)
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
