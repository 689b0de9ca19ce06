package tail

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// growingAnnotation is a pod whose owner rewrites an invalid 100 KB
// ferry.dev/rate-limit annotation (Kubernetes allows 256 KB of
// annotations) with a new value at every look.
type growingAnnotation struct {
	mu sync.Mutex
	n  int
}

func (g *growingAnnotation) RateLimitAnnotation(string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return "lines=" + strings.Repeat("9", 100<<10) + "x" + strconv.Itoa(g.n), true
}

func (g *growingAnnotation) PodLabels(string) map[string]string { return nil }

// TestHostile4HugeInvalidAnnotation: a tenant's invalid annotation is
// warned about, but what the agent keeps and logs for it is bounded: not
// the whole value in the warned-once set (up to 10,000 keys) and in every
// warning, which a pod owner rewriting a 100 KB value every rescan_interval
// turns into a gigabyte of the agent's memory and of its log.
func TestHostile4HugeInvalidAnnotation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.Default = RateLimit{LinesPerSecond: 100}
	logs := &lockedBuffer{}
	tl, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), make(chan<- []event.Log), Options{Limits: &growingAnnotation{}})
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{}
	f.dec.path = "/l/shop_web_u1/app/0.log"
	f.lim = tl.limiterFor(f, time.Now())
	for range 50 {
		tl.resolve(f.lim, time.Now())
	}
	kept := 0
	for k := range tl.warned {
		kept += len(k)
	}
	if kept > 64<<10 {
		t.Errorf("%d KB kept in the warned set for one container's 51 invalid annotations", kept>>10)
	}
	if n := len(logs.String()); n > 256<<10 {
		t.Errorf("%d KB logged for one container's 51 invalid annotations", n>>10)
	}
	if f.lim.lim != cfg.RateLimit.Default {
		t.Errorf("limit %v, want the default", f.lim.lim)
	}
}
