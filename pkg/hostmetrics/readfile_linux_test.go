//go:build linux

package hostmetrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestReadFileSizes: readFile and withFile give a file's exact content at
// every size around the pooled buffer's (4 KiB at first, kept up to
// maxReadBuf), from several goroutines at once, so a buffer handed to two
// readers, or kept grown past the bound, shows.
func TestReadFileSizes(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{0, 1, 4095, 4096, 4097, 8192, maxReadBuf - 1, maxReadBuf, maxReadBuf + 1, 3 * maxReadBuf}
	paths := make([]string, len(sizes))
	for k, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + (i+k)%26)
		}
		paths[k] = filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(paths[k], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for r := range 20 {
				k := (w + r) % len(paths)
				want, _ := os.ReadFile(paths[k])
				got, err := readFile(paths[k])
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("readFile of %d bytes: %d bytes, %v", sizes[k], len(got), err)
					return
				}
				err = withFile(paths[k], func(b []byte) error {
					if !bytes.Equal(b, want) {
						return fmt.Errorf("withFile of %d bytes: %d bytes differ", sizes[k], len(b))
					}
					clear(b) // the buffer is the callback's until it returns
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if got2, _ := readFile(paths[k]); !bytes.Equal(got, got2) || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("a copy from readFile of %d bytes changed after the buffer was reused", sizes[k])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range 8 {
		bp := readBufs.Get().(*[]byte)
		if cap(*bp) > maxReadBuf {
			t.Errorf("the pool keeps a buffer of %d bytes, more than %d", cap(*bp), maxReadBuf)
		}
	}
}
