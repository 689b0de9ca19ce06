package hostile

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestHostileProbeStarvation: a client in the cluster network keeps
// http.max_connections (64) connections open, each sending nothing, and
// dials again as soon as the agent closes one (after its 5 s header
// timeout). Meanwhile kubelet probes /healthz every second with a 2 s
// timeout, as the chart's liveness probe does every 10 s with three
// failures allowed. The README says /healthz fails only when a component
// has failed, and that what a client can cost the agent is bounded: the
// probes must keep being answered, or a client that merely connects gets
// a healthy agent restarted, again and again.
func TestHostileProbeStarvation(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := net.DialTimeout("tcp", w.agent.Addr, time.Second)
				if err != nil {
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				_, _ = c.Read(make([]byte, 1)) // until the agent closes it
				stop()
				c.Close()
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	cl := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	failed, run, worst := 0, 0, 0
	const probes = 15
	tick := time.NewTicker(time.Second) // kubelet's pace, not a synchronisation
	defer tick.Stop()
	for range probes {
		<-tick.C
		resp, err := cl.Get("http://" + w.agent.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != 200 {
			failed++
			run++
			worst = max(worst, run)
		} else {
			run = 0
		}
	}
	t.Logf("%d of %d probes failed, at most %d in a row", failed, probes, worst)
	if worst >= 3 {
		t.Errorf("%d probes in a row failed while a client held the connection slots: kubelet restarts a healthy agent", worst)
	}
	cancel()
	wg.Wait()
	stop(t, p)
}
