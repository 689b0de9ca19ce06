//go:build linux

package hostmetrics

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNetclassOtherNamespaceLive is a pod without hostNetwork given the
// host's /sys: this test's thread moves to a network namespace of its own
// (the dump then answers for it: lo alone), while /sys stays the mount of
// the namespace it came from. Every collection must report what sysfs
// alone reports, the dump must never be taken, and it must be given up
// after maxNetlinkChecks collections. It needs CAP_SYS_ADMIN; without it, it is skipped.
func TestNetclassOtherNamespaceLive(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skipf("no sysfs here: %v", err)
	}
	// The thread is left in the new namespace: locked and never unlocked,
	// it ends with this test's goroutine.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
			t.Skipf("cannot make a network namespace: %v", err)
		}
		t.Fatal(err)
	}
	own, err := dumpLinks()
	if err != nil {
		t.Fatalf("dump in the new namespace: %v", err)
	}
	if len(own) != 1 || own[0].name != "lo" {
		t.Fatalf("the new namespace's dump is %d devices, want lo alone", len(own))
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 2 {
		t.Skip("sysfs lists lo alone: it cannot be told from the new namespace")
	}

	c := &netclassCollector{sys: "/sys", dump: dumpLinks}
	sysfsOnly := &netclassCollector{sys: "/sys"}
	for k := 0; k < maxNetlinkChecks+2; k++ {
		got, want := collectText(t, c), collectText(t, sysfsOnly)
		if got != want {
			// A counter of the host may change between the two; once.
			if got, want = collectText(t, c), collectText(t, sysfsOnly); got != want {
				t.Fatalf("collection %d from another namespace:\n%s\nsysfs alone:\n%s", k, got, want)
			}
		}
	}
	if c.nl.verified.Load() {
		t.Fatal("the dump of another namespace was taken")
	}
	if n := c.nl.failed.Load(); n != maxNetlinkChecks {
		t.Errorf("%d checks, want %d and none after", n, maxNetlinkChecks)
	}
}
