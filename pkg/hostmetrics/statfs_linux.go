//go:build linux

package hostmetrics

import "golang.org/x/sys/unix"

// statfs is statfs(2). Its error is the bare errno, as node_exporter puts
// it in the device_error label.
func statfs(path string) (fsStat, error) {
	var b unix.Statfs_t
	if err := unix.Statfs(path, &b); err != nil {
		return fsStat{}, err
	}
	return fsStat{Blocks: b.Blocks, Bfree: b.Bfree, Bavail: b.Bavail, Files: b.Files, Ffree: b.Ffree, Bsize: b.Bsize}, nil
}

// machine is uname(2)'s machine field (the kernel's architecture).
func machine() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}

// adjtimex is adjtimex(2) with no modes set: it reads the kernel's clock
// state and changes nothing.
func adjtimex() (int, timex, error) {
	var t unix.Timex
	state, err := unix.Adjtimex(&t)
	if err != nil {
		return 0, timex{}, err
	}
	return state, timex{
		Offset: t.Offset, Freq: t.Freq, Maxerror: t.Maxerror, Esterror: t.Esterror, Status: t.Status,
		Constant: t.Constant, Tick: t.Tick, Ppsfreq: t.Ppsfreq, Jitter: t.Jitter, Shift: t.Shift,
		Stabil: t.Stabil, Jitcnt: t.Jitcnt, Calcnt: t.Calcnt, Errcnt: t.Errcnt, Stbcnt: t.Stbcnt, Tai: t.Tai,
	}, nil
}
