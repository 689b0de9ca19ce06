package e2eharness

import "syscall"

// dieWithParent has the kernel send SIGKILL to the child when the thread
// that started it exits. The Go runtime does not end its threads (only one
// locked by a goroutine that exits locked), so that is the test process's
// end.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
