//go:build linux

package hostmetrics

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// nlSeq numbers dump requests, so that a reply is matched to its request.
var nlSeq atomic.Uint32

// nlBufs are receive buffers: 32 KiB is the most the kernel puts in one
// dump datagram (it sizes them after the reader's buffer, up to that).
var nlBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// dumpLinks asks the kernel for every network device of this process's
// network namespace (RTM_GETLINK, NLM_F_DUMP) on a NETLINK_ROUTE socket.
// nlRecvTimeout bounds each receive of the dump: the kernel answers a
// link dump at once, but a gather must never hang on a socket (it would
// hold every later scrape), so a silent one fails the dump and netclass
// reads sysfs.
const nlRecvTimeout = 2 * time.Second

// linkSocket opens a NETLINK_ROUTE socket whose receives time out.
func linkSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(nlRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink socket timeout: %w", err)
	}
	return fd, nil
}

func dumpLinks() ([]nlLink, error) {
	fd, err := linkSocket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	d := linkDump{seq: nlSeq.Add(1)}
	if err := unix.Sendto(fd, linkRequest(d.seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	bp := nlBufs.Get().(*[]byte)
	defer nlBufs.Put(bp)
	buf := *bp
	for !d.done {
		n, _, rflags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		if rflags&unix.MSG_TRUNC != 0 {
			return nil, errors.New("netlink: datagram larger than the buffer")
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			return nil, errors.New("netlink: datagram not from the kernel")
		}
		if n == 0 {
			return nil, errNetlinkTruncated
		}
		if err := d.add(buf[:n]); err != nil {
			return nil, err
		}
	}
	return d.links, nil
}
