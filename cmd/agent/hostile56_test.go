//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
)

// TestHostile56SwappedRelro: a relocated read-only page (the GOT of an
// externally linked build, a PIE build's RELRO) swapped out is no longer
// counted in Anonymous but in Swap. Unmapping that mapping drops the swap
// entry, and the next access reads the file's unrelocated bytes: a cgo call
// through the GOT jumped to address 0 (SIGSEGV) on a node with swap.
func TestHostile56SwappedRelro(t *testing.T) {
	const exe = "/usr/bin/ferry"
	smaps := `00400000-00402000 r--p 00000000 fe:00 7 /usr/bin/ferry
Anonymous:             0 kB
Swap:                  0 kB
02549000-0254a000 r--p 02146000 fe:00 7 /usr/bin/ferry
Rss:                   0 kB
Anonymous:             0 kB
Swap:                  4 kB
SwapPss:               4 kB
VmFlags: rd mr mw me ac
0254a000-025de000 rw-p 02147000 fe:00 7 /usr/bin/ferry
Anonymous:           132 kB
`
	got, err := textSpans(strings.NewReader(smaps), exe)
	if err != nil {
		t.Fatal(err)
	}
	if want := []span{{0x400000, 0x402000}}; !slices.Equal(got, want) {
		t.Fatalf("spans %x, want %x: the mapping whose copy-on-write page is in swap was kept for unmapping", got, want)
	}
}
