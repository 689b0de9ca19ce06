package tail

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// notifier reads inotify events of the watched directories, but only when
// the tailer asks for them.
//
// A general-purpose watcher (fsnotify) reads the inotify descriptor as soon
// as it is readable, so a container writing one line per write call wakes
// the agent once per line, and every event costs a string and a channel
// send. Here the descriptor is non-blocking and read by the tailer's own
// goroutine when it is ready to act: while a read is due anyway, writes
// accumulate in the kernel's queue (which merges repeats of the same event)
// and one read(2) takes them all. A small goroutine only waits for the
// descriptor to become readable, and only when the tailer armed it.
type notifier struct {
	fd   int
	file *os.File // keeps the descriptor registered with the runtime's poller
	rc   syscall.RawConn
	wds  map[int32]string
	dirs map[string]int32
	buf  []byte

	arm      chan struct{} // the tailer wants a wake-up on the next event
	wake     chan struct{} // the descriptor has events
	stop     chan struct{}
	done     sync.WaitGroup
	armed    bool
	overflow bool // the kernel's queue overflowed: events were lost
}

// dirMask is what a watched directory reports: entries created, moved in or
// out, deleted, and files written (modify covers truncation too). Unlinked
// children stop reporting: a deleted file's descriptor is polled.
const dirMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE |
	unix.IN_MODIFY | unix.IN_EXCL_UNLINK | unix.IN_ONLYDIR

func newNotifier() (*notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	file := os.NewFile(uintptr(fd), "inotify")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	n := &notifier{
		fd: fd, file: file, rc: rc,
		wds:  make(map[int32]string),
		dirs: make(map[string]int32),
		buf:  make([]byte, 64<<10),
		arm:  make(chan struct{}, 1),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	n.done.Add(1)
	go n.waitLoop()
	return n, nil
}

// waitLoop waits, each time it is armed, until the descriptor has events,
// then tells the tailer. It never reads them.
func (n *notifier) waitLoop() {
	defer n.done.Done()
	for {
		select {
		case <-n.arm:
		case <-n.stop:
			return
		}
		err := n.rc.Read(func(fd uintptr) bool {
			avail, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD: bytes of queued events
			return err != nil || avail > 0
		})
		if err != nil {
			return // closed
		}
		select {
		case n.wake <- struct{}{}:
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

// Add watches dir; watching it again is a no-op.
func (n *notifier) Add(dir string) error {
	wd, err := unix.InotifyAddWatch(n.fd, dir, dirMask)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	n.wds[int32(wd)] = dir
	n.dirs[dir] = int32(wd)
	return nil
}

// Remove stops watching dir.
func (n *notifier) Remove(dir string) {
	wd, ok := n.dirs[dir]
	if !ok {
		return
	}
	delete(n.dirs, dir)
	delete(n.wds, wd)
	_, _ = unix.InotifyRmWatch(n.fd, uint32(wd))
}

// Drain reads every queued event: a write to a file calls write with the
// file's path (in a buffer valid only during the call: it must not be
// kept), any other entry event calls entry. At most max reads are made, so
// a storm of events cannot hold the tailer. It reports whether the queue
// overflowed since the last call (events were lost: rescan and poll).
func (n *notifier) Drain(max int, write func(path []byte), entry func(notifyEvent)) (overflowed bool) {
	var path []byte
	for range max {
		r, err := unix.Read(n.fd, n.buf)
		if err != nil || r <= 0 {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			break
		}
		for off := 0; off+unix.SizeofInotifyEvent <= r; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&n.buf[off]))
			name := n.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				n.overflow = true
				continue
			}
			dir, ok := n.wds[ev.Wd]
			if ev.Mask&unix.IN_IGNORED != 0 {
				if ok && n.dirs[dir] == ev.Wd {
					delete(n.dirs, dir)
				}
				delete(n.wds, ev.Wd)
				continue
			}
			if !ok || len(name) == 0 {
				continue
			}
			path = append(append(append(path[:0], dir...), '/'), name...)
			switch {
			case ev.Mask&unix.IN_MODIFY != 0:
				write(path)
			case ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				entry(notifyEvent{Name: string(path), Op: opCreate})
			case ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
				entry(notifyEvent{Name: string(path), Op: opRemove})
			}
		}
		if r < len(n.buf)-unix.SizeofInotifyEvent-unix.NAME_MAX-1 {
			break // the queue is empty
		}
	}
	overflowed, n.overflow = n.overflow, false
	return overflowed
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

// Close stops the waiter and closes the descriptor.
func (n *notifier) Close() error {
	close(n.stop)
	err := n.file.Close() // wakes the waiter's Read with an error
	n.done.Wait()
	return err
}
