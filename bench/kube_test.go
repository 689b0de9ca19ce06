package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// serverClientset is a fake clientset that assigns UIDs on create, as the
// API server does.
func serverClientset() *fake.Clientset {
	c := fake.NewClientset()
	var n atomic.Int64
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && o.GetUID() == "" {
			o.SetUID(types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1))))
		}
		return false, nil, nil
	})
	return c
}

// TestEnrichCorpus creates the corpus's pods, links the corpus under their
// UIDs, and runs the real tailer and enricher over the tree: every line
// must carry its pod's metadata, and the metrics check the benchmark makes
// must pass; without the pods, it must fail.
func TestEnrichCorpus(t *testing.T) {
	dir := t.TempDir()
	c, err := Generate(filepath.Join(dir, "corpus"), CorpusConfig{Files: 4, Bytes: 64 << 10, Mix: Mix{Short: 1, JSON: 1}, LongBytes: 40 << 10, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := serverClientset()
	refs, err := corpusPods(c)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := createPods(ctx, client, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != len(c.Paths) {
		t.Fatalf("%d UIDs for %d files", len(uids), len(c.Paths))
	}
	for _, r := range refs {
		p, err := client.CoreV1().Pods(r.Namespace).Get(ctx, r.Pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkPod(t, p, r)
		if _, err := client.CoreV1().ServiceAccounts(r.Namespace).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: default service account: %v", r.Namespace, err)
		}
	}

	include, err := linkCorpus(c, refs, uids, filepath.Join(dir, "enrich-pods"))
	if err != nil {
		t.Fatal(err)
	}
	linked, _ := filepath.Glob(include)
	if len(linked) != len(c.Paths) {
		t.Fatalf("link tree has %d files, corpus %d", len(linked), len(c.Paths))
	}
	for i, p := range c.Paths {
		r := refs[i]
		to := filepath.Join(dir, "enrich-pods", r.Namespace+"_"+r.Pod+"_"+uids[r.Namespace+"/"+r.Pod], r.Container, "0.log")
		a, errA := os.ReadFile(filepath.Join(c.Dir, p))
		b, errB := os.Lstat(to)
		if errA != nil || errB != nil || !b.Mode().IsRegular() || b.Sys().(*syscall.Stat_t).Nlink != 1 || b.Size() != int64(len(a)) {
			t.Errorf("%s: not a copy of %s with one link (%v, %v)", to, p, errA, errB)
		}
	}

	metas, sc := enrichTree(t, include, client, c.Lines)
	for _, r := range refs {
		m := metas[r.Namespace+"/"+r.Pod]
		if m == nil {
			t.Errorf("no line of %s/%s", r.Namespace, r.Pod)
			continue
		}
		deploy, hash := deploymentOf(r.Pod)
		want := event.Owner{Kind: "Deployment", Name: deploy}
		if m.Owner != want || m.Labels["pod-template-hash"] != hash || m.PodUID != uids[r.Namespace+"/"+r.Pod] ||
			!strings.HasPrefix(m.ContainerID, "containerd://") || m.Image == "" || m.Container != r.Container ||
			m.Annotations["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s/%s: meta %+v", r.Namespace, r.Pod, m)
		}
	}
	e := enrichmentOf(sc)
	if err := e.check(len(refs)); err != nil {
		t.Errorf("check: %v", err)
	}
	if e.Read != float64(c.Lines) || e.Misses != 0 {
		t.Errorf("enrichment %s: want %d lines read, no miss", e, c.Lines)
	}

	// The same tree without its pods in the API server: the check fails.
	_, sc = enrichTree(t, include, fake.NewClientset(), c.Lines)
	e = enrichmentOf(sc)
	if e.Misses != float64(c.Lines) || e.Enriched() != 0 {
		t.Errorf("enrichment without pods %s: want every line a miss", e)
	}
	if err := e.check(len(refs)); err == nil || !strings.Contains(err.Error(), "0 of the 4 pods") {
		t.Errorf("check without pods: %v", err)
	}
	e.LivePods = float64(len(refs)) // even with the pods counted, the misses fail it
	if err := e.check(len(refs)); err == nil || !strings.Contains(err.Error(), "not enriched") {
		t.Errorf("check with every line a miss: %v", err)
	}
}

// checkPod checks p is what a Deployment would have made for r, on node
// bench, reported running.
func checkPod(t *testing.T, p *corev1.Pod, r podRef) {
	t.Helper()
	deploy, hash := deploymentOf(r.Pod)
	if p.Spec.NodeName != benchNode || len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Name != r.Container || p.Spec.Containers[0].Image == "" {
		t.Errorf("pod %s/%s spec: %+v", r.Namespace, r.Pod, p.Spec)
	}
	wantLabels := []string{"app.kubernetes.io/component", "app.kubernetes.io/instance", "app.kubernetes.io/name",
		"app.kubernetes.io/part-of", "app.kubernetes.io/version", "pod-template-hash"}
	if diff := cmp.Diff(wantLabels, slices.Sorted(maps.Keys(p.Labels))); diff != "" {
		t.Errorf("pod %s/%s labels (-want +got):\n%s", r.Namespace, r.Pod, diff)
	}
	if p.Labels["pod-template-hash"] != hash || p.Labels["app.kubernetes.io/name"] != deploy || len(p.Annotations) < 2 {
		t.Errorf("pod %s/%s: labels %v annotations %v", r.Namespace, r.Pod, p.Labels, p.Annotations)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" || ref.Name != deploy+"-"+hash || ref.UID == "" {
		t.Errorf("pod %s/%s controller: %+v", r.Namespace, r.Pod, ref)
	}
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].ContainerID == "" {
		t.Errorf("pod %s/%s status: %+v", r.Namespace, r.Pod, p.Status)
	}
}

// enrichTree reads the files of include with the real tailer and enricher
// (configured as the agent with enrichment on, node bench) until lines
// lines came out, and returns the Meta of each pod's last line and the
// metrics.
func enrichTree(t *testing.T, include string, client *fake.Clientset, lines int64) (map[string]*event.Meta, scrape) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ecfg := enrich.DefaultConfig()
	ecfg.NodeName = benchNode
	ecfg.MissWait = 0 // without the pods, lines are not held back
	raw, out := make(chan []event.Log, 16), make(chan []event.Log, 16)
	en, err := enrich.New(ecfg, nil, enrich.Options{In: raw, Out: out, Client: kubefake.Client{Interface: client}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tcfg := tail.DefaultConfig()
	tcfg.Include = []string{include}
	tcfg.StateDir = t.TempDir()
	tc, err := tail.New(tcfg, nil, raw, tail.Options{Excluder: en, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tailDone, enrichDone := make(chan error, 1), make(chan error, 1)
	go func() { tailDone <- tc.Run(ctx) }()
	go func() { enrichDone <- en.Run(ctx) }()

	metas := map[string]*event.Meta{}
	var got int64
	deadline := time.After(60 * time.Second)
	for got < lines {
		select {
		case batch := <-out:
			cursors := make([]event.Cursor, 0, len(batch))
			for _, l := range batch {
				got++
				cursors = append(cursors, l.Cursor)
				if l.Meta != nil {
					metas[l.Meta.Namespace+"/"+l.Meta.Pod] = l.Meta
				}
			}
			tc.Ack(cursors)
		case <-deadline:
			t.Fatalf("enricher emitted %d of %d lines in 60s", got, lines)
		}
	}
	sc := scrapeRegistry(t, reg)
	cancel()
	<-tailDone
	<-enrichDone
	_ = tc.Close()
	return metas, sc
}

// TestEnrichmentCheck: the check passes only when the cache synced with
// every pod and nearly every line was enriched.
func TestEnrichmentCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    enrichment
		want string // in the error; "" passes
	}{
		{"all enriched", enrichment{Read: 1000, LivePods: 50, Synced: true}, ""},
		{"one percent missed", enrichment{Read: 1000, Misses: 10, LivePods: 50, Synced: true}, ""},
		{"most missed", enrichment{Read: 1000, Misses: 900, LivePods: 50, Synced: true}, "not enriched"},
		{"nothing read", enrichment{LivePods: 50, Synced: true}, "not enriched"},
		{"pods missing", enrichment{Read: 1000, LivePods: 3, Synced: true}, "3 of the 50 pods"},
		{"not synced", enrichment{Read: 1000, LivePods: 50}, "never synced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.check(50)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDeploymentOfAndExports(t *testing.T) {
	for pod, want := range map[string][2]string{
		"svc-3-6c8f9b7d4-00006": {"svc-3", "6c8f9b7d4"},
		"web-0-7d9f8c6b5-x000":  {"web-0", "7d9f8c6b5"},
		"etcd-0":                {"etcd-0", "5d8f7c9b6"},
	} {
		if d, h := deploymentOf(pod); d != want[0] || h != want[1] {
			t.Errorf("deploymentOf(%q) = %q, %q; want %v", pod, d, h, want)
		}
	}
	env := parseExports([]byte("export FERRY_KUBE_APISERVER=https://127.0.0.1:1234\nnoise\nexport FERRY_KUBECONFIG=/d/admin.kubeconfig\n"))
	if diff := cmp.Diff(map[string]string{"FERRY_KUBE_APISERVER": "https://127.0.0.1:1234", "FERRY_KUBECONFIG": "/d/admin.kubeconfig"}, env); diff != "" {
		t.Errorf("parseExports (-want +got):\n%s", diff)
	}
}
