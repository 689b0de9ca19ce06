package hostile

import (
	"os"
	"testing"
	"time"
)

// TestHostileWriteAfterRename: kubelet renames 0.log to 0.log.<ts> and then
// asks the runtime to reopen its log (ReopenContainerLog); until the
// runtime has done so, the container's lines still go to the renamed file
// through the runtime's descriptor. On a loaded node that call can take
// seconds. The README promises that a rename rotation is finished through
// the open descriptor and that nothing is lost silently: every line
// written to the renamed file before the new 0.log appears must arrive,
// or be counted.
func TestHostileWriteAfterRename(t *testing.T) {
	w := newWorld(t, worldOpt{})
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(t, err)
	defer f.Close()
	write := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := f.WriteString(line(i, ""))
			must(t, err)
		}
	}
	write(0, 50)
	p := w.agent.Start()
	w.waitSeqs(0, 50, 30*time.Second)
	must(t, os.Rename(w.path, w.path+".20261126-035509"))
	write(50, 60)
	// The runtime has not reopened yet: it writes on for two seconds
	// (the pace of the container, not a synchronisation).
	pace := time.NewTicker(100 * time.Millisecond)
	for i := 60; i < 80; i++ {
		<-pace.C
		write(i, i+1)
	}
	pace.Stop()
	// The runtime reopens: a new 0.log.
	w.lines(w.path, 1000, 1010)
	w.waitSeqs(1000, 1010, 30*time.Second)
	m := w.settled(60, 20*time.Second)
	lost, _ := w.count(0, 80)
	counted := m.Sum("ferry_tail_lost_bytes_total") + m.Sum("ferry_tail_lost_files_total")
	if lost > 0 {
		t.Errorf("%d of the lines written to the renamed file before the new 0.log appeared never arrived (%s); lost counters %v",
			lost, w.missing(0, 80), counted)
	}
	stop(t, p)
}
