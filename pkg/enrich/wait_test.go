package enrich

import (
	"context"
	"testing"

	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/event"
)

func bodies(b []event.Log) []string {
	var s []string
	for _, l := range b {
		s = append(s, l.Path[len(l.Path)-12:]+":"+string(l.Body))
	}
	return s
}

// A file whose pod is not in the cache waits, once and alone: lines of other files keep
// flowing, its own lines keep their order, and they go out enriched as soon as the pod arrives
// or with path metadata when the wait ends.
func TestMissWaitIsPerFileAndDoesNotStallOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		known := pod("shop", "known", "uid-known")
		c := fake.NewClientset(known)
		cfg := testConfig()
		cfg.MissWait = 2 * time.Second
		h := start(t, cfg, kubefake.Client{Interface: c})
		h.waitSynced()
		a := logPath(known, "app")
		b := "/var/log/pods/shop_late_uid-late/app/0.log"
		cc := "/var/log/pods/shop_never_uid-never/app/0.log"
		start := time.Now()

		h.send(line(a, 1), line(b, 1), line(a, 2), line(cc, 1), line(b, 2))
		synctest.Wait()
		got := h.recv()
		if len(got) != 2 || got[0].Path != a || got[1].Path != a || got[0].Meta.Owner != (event.Owner{}) || got[0].Meta.Image == "" {
			t.Fatalf("first batch: %v, want the two lines of the known pod, enriched", bodies(got))
		}
		if time.Since(start) != 0 {
			t.Errorf("known pod's lines waited %v", time.Since(start))
		}
		h.send(line(a, 3), line(b, 3))
		synctest.Wait()
		if got := h.recv(); len(got) != 1 || got[0].Path != a {
			t.Fatalf("second batch: %v, want only the known pod's line", bodies(got))
		}
		if got := testGauge(h.e.m.parkedLines); got != 4 {
			t.Errorf("parked lines = %v, want 4", got)
		}

		// The late pod arrives after 1s: its three lines go out at once, in order, enriched.
		time.Sleep(time.Second)
		if _, err := c.CoreV1().Pods("shop").Create(context.Background(), pod("shop", "late", "uid-late"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got = h.recv()
		if len(got) != 3 || got[0].Path != b || string(got[0].Body) != "line 1" || string(got[2].Body) != "line 3" {
			t.Fatalf("late pod's batch: %v, want its 3 lines in order", bodies(got))
		}
		for _, l := range got {
			if l.Meta.Image == "" || l.Meta.Labels["app"] != "late" {
				t.Errorf("late pod's line not enriched: %+v", l.Meta)
			}
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("late pod's lines went out after %v, want 1s (when it arrived)", waited)
		}

		// The pod that never comes: its line goes out when the 2s wait ends, with path metadata.
		got = h.recv()
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("never-seen pod's line went out after %v, want 2s", waited)
		}
		want := event.Meta{Namespace: "shop", Pod: "never", PodUID: "uid-never", Container: "app", Node: testNode}
		if len(got) != 1 || got[0].Path != cc || !cmp.Equal(*got[0].Meta, want) {
			t.Fatalf("never-seen pod's batch: %v %+v", bodies(got), got[0].Meta)
		}
		if m := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); m != 1 {
			t.Errorf("misses = %v, want 1", m)
		}
		// It does not wait a second time.
		h.send(line(cc, 2))
		synctest.Wait()
		if got := h.recv(); len(got) != 1 || got[0].Meta.Pod != "never" || time.Since(start) != 2*time.Second {
			t.Errorf("second line of a missed file: %v after %v", bodies(got), time.Since(start))
		}
		if m := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); m != 2 {
			t.Errorf("misses = %v, want 2", m)
		}
		if got := testGauge(h.e.m.parkedLines); got != 0 {
			t.Errorf("parked lines = %v, want 0", got)
		}
	})
}

// Parked lines are bounded: beyond MaxParkedLines the file is released at once.
func TestParkedLinesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MissWait = time.Minute
		cfg.MaxParkedLines = 3
		h := start(t, cfg, kubefake.Client{Interface: fake.NewClientset()})
		h.waitSynced()
		p := "/var/log/pods/shop_x_uid-x/app/0.log"
		h.send(line(p, 1), line(p, 2))
		synctest.Wait()
		select {
		case b := <-h.out:
			t.Fatalf("released before the bound: %v", bodies(b))
		default:
		}
		h.send(line(p, 3), line(p, 4))
		synctest.Wait()
		if got := h.recv(); len(got) != 4 {
			t.Errorf("released %d lines, want 4", len(got))
		}
	})
}

// Shutdown releases parked lines: closing In drains everything, then Out is closed.
func TestDrainReleasesParkedLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MissWait = time.Hour
		in, out := make(chan []event.Log), make(chan []event.Log, 8)
		e, err := New(cfg, nil, Options{In: in, Out: out, Client: kubefake.Client{Interface: fake.NewClientset()}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- e.Run(context.Background()) }()
		p := "/var/log/pods/shop_x_uid-x/app/0.log"
		in <- []event.Log{line(p, 1)}
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var n int
		for b := range out {
			n += len(b)
		}
		if n != 1 {
			t.Errorf("drained %d lines, want 1", n)
		}
	})
}

// A deleted pod's metadata stays while its files still produce lines, and for DeleteGrace
// after the deletion and after the last line; then it goes. The number kept is bounded.
func TestDeletionGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pod("shop", "gone", "uid-gone", ownedBy("StatefulSet", "gone"))
		c := fake.NewClientset(p)
		cfg := testConfig()
		cfg.DeleteGrace = 60 * time.Second
		cfg.MissWait = 0
		h := start(t, cfg, kubefake.Client{Interface: c})
		h.waitSynced()
		path := logPath(p, "app")
		enriched := func(off int64) bool {
			h.send(line(path, off))
			synctest.Wait()
			return h.recv()[0].Meta.Owner.Name == "gone"
		}
		if !enriched(1) {
			t.Fatal("live pod not enriched")
		}
		if err := c.CoreV1().Pods("shop").Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := h.e.deletedPodCount(); n != 1 {
			t.Fatalf("deleted pods kept = %d, want 1", n)
		}
		if !enriched(2) {
			t.Error("line right after deletion not enriched")
		}
		time.Sleep(50 * time.Second)
		if !enriched(3) {
			t.Error("line 50s after deletion not enriched")
		}
		time.Sleep(50 * time.Second) // 100s after deletion, 50s after the last line
		if !enriched(4) {
			t.Error("line 50s after the previous one (file still draining) not enriched")
		}
		time.Sleep(70 * time.Second) // grace passed since the last line
		synctest.Wait()
		if n := h.e.deletedPodCount(); n != 0 {
			t.Errorf("deleted pods kept = %d after grace, want 0", n)
		}
		if enriched(5) {
			t.Error("line after grace still enriched")
		}

		// Bounded: only MaxDeletedPods are kept, the oldest deletions go first.
		h.stop()
		cfg.MaxDeletedPods = 2
		var pods []*corev1.Pod
		c2 := fake.NewClientset()
		for _, name := range []string{"a", "b", "c"} {
			q := pod("shop", name, "uid-"+name)
			pods = append(pods, q)
			if _, err := c2.CoreV1().Pods("shop").Create(context.Background(), q, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		h2 := start(t, cfg, kubefake.Client{Interface: c2})
		h2.waitSynced()
		for _, q := range pods {
			time.Sleep(time.Second)
			if err := c2.CoreV1().Pods("shop").Delete(context.Background(), q.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		if n := h2.e.deletedPodCount(); n != 2 {
			t.Errorf("deleted pods kept = %d, want 2", n)
		}
		if h2.e.lookupPod("uid-a") != nil || h2.e.lookupPod("uid-c") == nil {
			t.Errorf("the oldest deletion should go first")
		}
	})
}
