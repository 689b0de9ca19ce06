package hostmetrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// hangingStatfs answers like fakeStatfs, except that statfs on /mnt/nfs
// blocks until release is closed, as on a dead NFS server.
type hangingStatfs struct {
	rootfs  string
	release chan struct{}
	calls   atomic.Int32 // statfs calls on /mnt/nfs
}

func (h *hangingStatfs) statfs(path string) (fsStat, error) {
	if strings.HasSuffix(path, "/mnt/nfs") {
		h.calls.Add(1)
		<-h.release
	}
	return fakeStatfs(h.rootfs)(path)
}

// TestHangingStatfs: a statfs that never returns costs one timeout, once;
// every other collector (and every other mount) is reported meanwhile, the
// mount is then skipped without waiting, and it comes back once its call
// returns.
func TestHangingStatfs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fixtureConfig(t)
		cfg.Filesystem.StatfsTimeout = 5 * time.Second
		h := &hangingStatfs{rootfs: cfg.RootFS, release: make(chan struct{})}
		c := newFixture(t, cfg, h.statfs, Options{})
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)

		// A snapshot overlapping the scrape shares the hanging call.
		start := time.Now()
		snapped := make(chan struct{})
		go func() { c.Snapshot(); close(snapped) }()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		<-snapped
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("first collections took %v, want the 5s timeout", d)
		}
		checkNFS(t, mfs, "mountpoint timeout")
		for _, col := range []string{"cpu", "meminfo", "loadavg", "diskstats", "netdev", "filesystem", "pressure", "vmstat", "stat", "filefd", "uname", "sockstat", "conntrack"} {
			if v, _ := value(mfs, "node_scrape_collector_success", "collector", col); v != 1 {
				t.Errorf("collector %s: success %v while a mount hangs", col, v)
			}
			if col == "filesystem" {
				continue
			}
			// The others did not wait for the hanging mount.
			if d, _ := value(mfs, "node_scrape_collector_duration_seconds", "collector", col); d != 0 {
				t.Errorf("collector %s took %vs (fake time) while a mount hangs", col, d)
			}
		}
		if v, ok := value(mfs, "node_filesystem_avail_bytes", "mountpoint", "/"); !ok || v == 0 {
			t.Errorf("root filesystem not reported while another mount hangs (%v, %v)", v, ok)
		}

		// Second collection: the stuck mount is skipped, without a new
		// call and without waiting.
		start = time.Now()
		mfs, err = reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("second collection waited %v for a mount known to hang", d)
		}
		if n := h.calls.Load(); n != 1 {
			t.Errorf("%d statfs calls on the hanging mount, want 1 (one outstanding at most)", n)
		}
		checkNFS(t, mfs, "mountpoint timeout")

		// The server comes back: the pending call returns and clears the
		// mark; the next collection stats the mount again.
		close(h.release)
		synctest.Wait()
		mfs, err = reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		checkNFS(t, mfs, "")
		if v, ok := value(mfs, "node_filesystem_size_bytes", "mountpoint", "/mnt/nfs"); !ok || v == 0 {
			t.Errorf("recovered mount has no size (%v, %v)", v, ok)
		}
		if n := h.calls.Load(); n != 2 {
			t.Errorf("%d statfs calls on the mount after it recovered, want 2", n)
		}
	})
}

func checkNFS(t *testing.T, mfs []*dto.MetricFamily, wantErr string) {
	t.Helper()
	want := 0.0
	if wantErr != "" {
		want = 1
	}
	v, ok := value(mfs, "node_filesystem_device_error", "mountpoint", "/mnt/nfs", "device_error", wantErr)
	if !ok || v != want {
		t.Errorf("device_error{mountpoint=/mnt/nfs,device_error=%q} = %v (present %v), want %v", wantErr, v, ok, want)
	}
	_, hasSize := value(mfs, "node_filesystem_size_bytes", "mountpoint", "/mnt/nfs")
	if hasSize == (wantErr != "") {
		t.Errorf("size of /mnt/nfs present = %v with device error %q", hasSize, wantErr)
	}
}

// TestStatAllRace: an answer arriving exactly at the deadline is used, not
// marked stuck forever; run many times under -race.
func TestStatAllRace(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.Filesystem.StatfsTimeout = time.Microsecond
	var mu sync.Mutex
	calls := map[string]int{}
	f, err := newFilesystemCollector(cfg, func(path string) (fsStat, error) {
		mu.Lock()
		calls[path]++
		mu.Unlock()
		time.Sleep(time.Microsecond)
		return fsStat{Blocks: 1, Bsize: 1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := []fsMount{{mountPoint: "/a"}, {mountPoint: "/b"}, {mountPoint: "/c"}}
	for range 200 {
		f.statAll(ms)
	}
	// Every outstanding call eventually returns and clears its marks.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.stuck) + len(f.inflight)
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d marks (stuck or in flight) left after the calls returned", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRootfsStrip(t *testing.T) {
	tests := []struct{ rootfs, mp, want string }{
		{"/", "/var/lib", "/var/lib"},
		{"/host/root", "/host/root", "/"},
		{"/host/root/", "/host/root/var", "/var"},
		{"/host/root", "/host/rootfoo", "/host/rootfoo"},
		{"/host/root", "/var", "/var"},
	}
	for _, tt := range tests {
		if got := rootfsStrip(tt.rootfs, tt.mp); got != tt.want {
			t.Errorf("rootfsStrip(%q, %q) = %q, want %q", tt.rootfs, tt.mp, got, tt.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/mnt/my\040disk`, "/mnt/my disk"},
		{`/a\011b\012c\134d`, "/a\tb\nc\\d"},
		{`/plain`, "/plain"},
		{`/trailing\04`, `/trailing\04`},
		{`/not\999octal`, `/not\999octal`},
		{`/données`, "/données"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, unescapeMount(tt.in)); diff != "" {
			t.Errorf("unescapeMount(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
