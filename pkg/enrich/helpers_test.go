package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/event"
)

const testNode = "node-1"

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NodeName = testNode
	return cfg
}

// pod builds a pod on testNode with one container "app" that has a status.
func pod(ns, name, uid string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid),
			Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "registry.example/app:1", ContainerID: "containerd://" + uid + "-app"}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func ownedBy(kind, name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: new(true), APIVersion: "apps/v1", UID: "owner"}}
	}
}

func withLabels(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withAnnotations(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func logPath(p *corev1.Pod, container string) string {
	return fmt.Sprintf("/var/log/pods/%s_%s_%s/%s/0.log", p.Namespace, p.Name, p.UID, container)
}

func line(path string, offset int64) event.Log {
	return event.Log{Path: path, Body: []byte(fmt.Sprintf("line %d", offset)), Cursor: event.Cursor{Source: 1, Offset: offset}}
}

type harness struct {
	t       testing.TB
	e       *Enricher
	client  Client
	reg     *prometheus.Registry
	in      chan []event.Log
	out     chan []event.Log
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// start runs an Enricher over client until the test ends.
func start(t testing.TB, cfg Config, client Client) *harness {
	t.Helper()
	h := &harness{t: t, client: client, reg: prometheus.NewPedanticRegistry(),
		in: make(chan []event.Log), out: make(chan []event.Log, 64), done: make(chan error, 1)}
	e, err := New(cfg, testLogger(t), Options{In: h.in, Out: h.out, Client: client, Registerer: h.reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- e.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func startFake(t testing.TB, cfg Config, objs ...*corev1.Pod) (*harness, *fake.Clientset) {
	t.Helper()
	var ro []runtime.Object
	for _, o := range objs {
		ro = append(ro, o)
	}
	c := fake.NewClientset(ro...)
	return start(t, cfg, kubefake.Client{Interface: c}), c
}

// stop closes In and waits for Run to drain and return.
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	close(h.in)
	out := h.out
	for {
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
			h.cancel()
			return
		case _, ok := <-out:
			if !ok {
				out = nil
			}
		case <-time.After(30 * time.Second):
			h.t.Errorf("Run did not return after In was closed")
			h.cancel()
			return
		}
	}
}

func (h *harness) send(lines ...event.Log) {
	h.t.Helper()
	select {
	case h.in <- lines:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("enricher did not take a batch")
	}
}

func (h *harness) recv() []event.Log {
	h.t.Helper()
	select {
	case b := <-h.out:
		return b
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no batch out of the enricher")
		return nil
	}
}

// waitSynced waits (bounded) for the initial sync.
func (h *harness) waitSynced() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.e.Synced() {
		if time.Now().After(deadline) {
			h.t.Fatalf("cache not synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually retries the lines of path until check accepts the Meta they get (bounded).
func (h *harness) eventually(path string, check func(*event.Meta) bool) *event.Meta {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var off int64
	for {
		off++
		h.send(line(path, off))
		b := h.recv()
		if m := b[0].Meta; check(m) {
			return m
		} else if time.Now().After(deadline) {
			h.t.Fatalf("%s: metadata never matched; last: %+v", path, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counterValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func testGauge(g prometheus.Collector) float64 { return testutil.ToFloat64(g) }
