package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// notifier hands the tailer fsnotify's events of the watched directories,
// but only when the tailer asks for them.
//
// fsnotify's goroutine reads the inotify descriptor and offers each event
// on its unbuffered Events channel. Until someone takes the event, that
// goroutine waits on the send and reads nothing more; the kernel queues what
// follows (and merges repeats of the same event). A consumer draining the
// channel continuously would wake the agent once per write, and a container
// writing one line per write call would cost one wakeup per line. Here the
// channel is taken from at two moments only:
//
//   - by Drain, on the tailer's goroutine, when a read is due anyway: it
//     takes everything queued in one pass;
//   - by a small waiter goroutine, only while the tailer is idle and armed
//     it: the waiter takes one event, keeps it for the next Drain, and
//     wakes the tailer. While it is armed Drain takes nothing unless the
//     waiter took an event first, so one goroutine receives at a time and
//     events keep their order.
//
// So while files are being read, the writes between two Drains cost one
// wakeup (fsnotify's goroutine reading the first of them), and an idle
// tailer wakes once per burst of writes: about as often as a raw inotify
// reader that reads only when told would (bench/README.md compares them).
type notifier struct {
	w    *fsnotify.Watcher
	dirs map[string]fileKey // watched directories, and which directory each was when watched
	path []byte             // the path passed to Drain's write, reused

	arm    chan struct{} // the tailer wants a wake-up on the next event
	wake   chan struct{} // the waiter holds an event
	stop   chan struct{}
	exited chan struct{} // the waiter returned
	armed  bool          // an arm was sent and neither Woken nor Drain saw its outcome

	// held is what the waiter took, written before it signals wake and read
	// by Drain after that signal was received.
	held taken
}

// taken is one receive from the watcher: an event or an error.
type taken struct {
	ev  fsnotify.Event
	err error
	ok  bool
}

// drainBatch is how many events make one of Drain's max steps: the most
// one read(2) of fsnotify's gives (4096 events without names).
const drainBatch = 4096

// drainYields is how many times Drain yields the processor, with nothing
// taken in between, before it decides the queue is empty. fsnotify's
// goroutine offers the next event only once it has run after the previous
// one was taken, which a yield lets it do. Stopping too early costs
// nothing but latency: the rest is taken by the next Drain, or at once by
// the waiter if the tailer goes idle.
const drainYields = 3

func newNotifier() (*notifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("file notifications: %w", err)
	}
	n := &notifier{
		w:      w,
		dirs:   make(map[string]fileKey),
		arm:    make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go n.waitLoop()
	return n, nil
}

// waitLoop takes, each time it is armed, the next event (or error), keeps
// it in held and tells the tailer. At most one wake is outstanding: the
// tailer arms again only after it saw the last one (Woken, or Drain).
func (n *notifier) waitLoop() {
	defer close(n.exited)
	for {
		select {
		case <-n.arm:
		case <-n.stop:
			return
		}
		var t taken
		select {
		case ev, ok := <-n.w.Events:
			if !ok {
				return // closed
			}
			t = taken{ev: ev, ok: true}
		case err, ok := <-n.w.Errors:
			if !ok {
				return
			}
			t = taken{err: err, ok: true}
		case <-n.stop:
			return
		}
		n.held = t
		select {
		case n.wake <- struct{}{}: // buffered, and empty: see above
		case <-n.stop:
			return
		}
	}
}

// Wake returns the channel that fires once after Arm when events are ready.
func (n *notifier) Wake() <-chan struct{} { return n.wake }

// Arm asks for one wake-up when events are (or become) ready.
func (n *notifier) Arm() {
	if n.armed {
		return
	}
	n.armed = true
	n.arm <- struct{}{}
}

// Woken records that the wake-up fired (the waiter is no longer armed).
func (n *notifier) Woken() { n.armed = false }

// Add watches dir; watching it again is a no-op. A missing directory or a
// file is an error (fs.ErrNotExist, syscall.ENOTDIR).
func (n *notifier) Add(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "watch", Path: dir, Err: syscall.ENOTDIR}
	}
	if err := n.w.Add(dir); err != nil {
		return &os.PathError{Op: "watch", Path: dir, Err: err}
	}
	n.dirs[dir], _ = keyOf(fi)
	return nil
}

// forgetStale stops watching, after events were lost, each directory that
// is no longer at its path: the events that would have told (its deletion
// or move, the end of its watch) may be among those lost, and its watch
// would otherwise be taken for one of whatever is at that path now.
func (n *notifier) forgetStale() {
	for d, id := range n.dirs {
		if stale(d, id) {
			n.remove(d)
		}
	}
}

// Remove stops watching dir, and the watched directories under it that are
// no longer at their paths. A directory moved away takes its
// subdirectories with it, and their watches (on the inodes, named by the
// old paths) would report what happens there while a new directory made
// under the old name went unwatched, and its kept listing (glob.go
// dirCache) used. Those still there (moved away and back) keep theirs.
func (n *notifier) Remove(dir string) {
	if _, ok := n.dirs[dir]; !ok {
		return
	}
	n.remove(dir)
	prefix := dir + string(filepath.Separator)
	for d, id := range n.dirs {
		if strings.HasPrefix(d, prefix) && stale(d, id) {
			n.remove(d)
		}
	}
}

// stale reports whether the directory watched as dir, id, is no longer
// there.
func stale(dir string, id fileKey) bool {
	k, err := statKey(dir)
	return err != nil || k != id
}

func (n *notifier) remove(dir string) {
	delete(n.dirs, dir)
	// fsnotify already dropped the watch of a directory that was deleted
	// or moved (ErrNonExistentWatch, or EINVAL from the kernel).
	_ = n.w.Remove(dir)
}

// Drain takes every queued event: a write to a file calls write with the
// file's path (in a buffer valid only during the call: it must not be
// kept), a directory entry created, moved in, moved out or deleted calls
// entry. At most max*drainBatch events are taken, so a storm of events
// cannot hold the tailer. It reports whether events may have been lost
// since the last call (the kernel's queue overflowed, or fsnotify could not
// read): then rescan and poll. After a loss the directories no longer at
// their paths are no longer watched (forgetStale), so watch them again.
//
// While the waiter is armed and has taken nothing, Drain takes nothing
// either: fsnotify has nothing to offer (the waiter takes the first event
// as soon as it is offered), and what comes next wakes the tailer.
func (n *notifier) Drain(max int, write func(path []byte), entry func(notifyEvent)) (overflowed bool) {
	defer func() {
		if overflowed {
			n.forgetStale()
		}
	}()
	if n.armed {
		select {
		case <-n.wake: // the waiter took an event and is no longer receiving
			n.armed = false
		default:
			return false
		}
	}
	if t := n.held; t.ok {
		n.held = taken{}
		overflowed = n.take(t, write, entry) || overflowed
	}
	for count, yields := 0, 0; count < max*drainBatch; {
		var t taken
		select {
		case t.ev, t.ok = <-n.w.Events:
		case t.err, t.ok = <-n.w.Errors:
		default:
			if yields == drainYields {
				return overflowed
			}
			yields++
			runtime.Gosched() // let fsnotify's goroutine offer the next one
			continue
		}
		if !t.ok {
			return overflowed // closed
		}
		yields = 0
		count++
		overflowed = n.take(t, write, entry) || overflowed
	}
	return overflowed
}

// take hands one event to Drain's callbacks; true if it is an error.
func (n *notifier) take(t taken, write func(path []byte), entry func(notifyEvent)) (lost bool) {
	if t.err != nil {
		return true // fsnotify.ErrEventOverflow, or a failed read
	}
	ev := t.ev
	switch {
	case ev.Has(fsnotify.Write):
		n.path = append(n.path[:0], ev.Name...)
		write(n.path)
	case ev.Has(fsnotify.Create):
		// A watched directory of that name was replaced (rename(2) over an
		// empty directory): its watch is on the old one, which
		// fsnotify does not report as deleted when the parent is watched.
		if id, ok := n.dirs[ev.Name]; ok && stale(ev.Name, id) {
			n.Remove(ev.Name)
		}
		entry(notifyEvent{Name: ev.Name, Op: opCreate})
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		entry(notifyEvent{Name: ev.Name, Op: opRemove})
		// A watched directory deleted or moved away has lost its watch.
		n.Remove(ev.Name)
	}
	return false
}

// Watching reports whether dir has a live watch (a deleted directory loses
// its watch).
func (n *notifier) Watching(dir string) bool {
	_, ok := n.dirs[dir]
	return ok
}

// Dirs lists the watched directories.
func (n *notifier) Dirs() []string {
	ds := make([]string, 0, len(n.dirs))
	for d := range n.dirs {
		ds = append(ds, d)
	}
	return ds
}

// Close stops the waiter and fsnotify's goroutine and closes the
// descriptor.
func (n *notifier) Close() error {
	close(n.stop)
	err := n.w.Close()
	<-n.exited
	return err
}
