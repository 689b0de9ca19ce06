package enrich

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/event"
)

// realisticPod is a pod as the API server returns it for a typical Deployment: recommended
// labels, kubectl's last-applied annotation, managedFields, two containers with env and mounts.
func realisticPod(i int) *corev1.Pod {
	name := fmt.Sprintf("svc%03d-7d9f8c6b5-x%04d", i, i)
	fields := metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/instance":{},` +
		strings.Repeat(`"f:x":{},`, 60) + `"f:y":{}}}}`)
	env := make([]corev1.EnvVar, 12)
	for j := range env {
		env[j] = corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: strings.Repeat("v", 40)}
	}
	c := func(n string) corev1.Container {
		return corev1.Container{Name: n, Image: "registry.example.com/team/" + n + ":1.27.3", Env: env,
			Args:         []string{"--config=/etc/app/config.yaml", "--log-level=info"},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "kube-api-access", MountPath: "/var/run/secrets"}}}
	}
	st := func(n string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: n, Image: "registry.example.com/team/" + n + ":1.27.3",
			ImageID:     "registry.example.com/team/" + n + "@sha256:" + strings.Repeat("ab", 32),
			ContainerID: "containerd://" + strings.Repeat("cd", 32), Ready: true, Started: new(true)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: fmt.Sprintf("team-%d", i%8), UID: types.UID(fmt.Sprintf("0b7c4a9e-2f55-4e6f-9d43-%012d", i)),
			ResourceVersion: "123456789", GenerateName: name[:len(name)-5],
			Labels: map[string]string{
				"app.kubernetes.io/name": name[:6], "app.kubernetes.io/instance": name[:6] + "-prod",
				"app.kubernetes.io/version": "1.27.3", "app.kubernetes.io/component": "api",
				"app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "helm",
				"pod-template-hash": "7d9f8c6b5", "team": "payments",
			},
			Annotations: map[string]string{
				"app.kubernetes.io/revision": "42", "prometheus.io/scrape": "true", "prometheus.io/port": "9090",
				"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat(`{"apiVersion":"v1","kind":"Pod"}`, 60),
				"kubectl.kubernetes.io/restartedAt":                "2026-11-25T10:00:00Z",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name[:len(name)-6],
				UID: "1c2d", Controller: new(true), BlockOwnerDeletion: new(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", FieldsV1: fields},
				{Manager: "kubelet", Operation: "Update", Subresource: "status", FieldsV1: fields}},
		},
		Spec: corev1.PodSpec{NodeName: testNode, ServiceAccountName: "default",
			Containers: []corev1.Container{c("app"), c("istio-proxy")},
			Volumes:    []corev1.Volume{{Name: "config"}, {Name: "kube-api-access"}},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"},
				{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "192.168.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: "True"}, {Type: corev1.ContainersReady, Status: "True"}},
			ContainerStatuses: []corev1.ContainerStatus{st("app"), st("istio-proxy")}},
	}
}

// syncedEnricher builds an Enricher over n realistic pods and starts only its informer.
func syncedEnricher(tb testing.TB, n int) (*Enricher, []*corev1.Pod, func()) {
	tb.Helper()
	client, pods := realisticClient(n)
	e, stop := syncedEnricherOn(tb, client)
	return e, pods, stop
}

func realisticClient(n int) (*fake.Clientset, []*corev1.Pod) {
	var pods []*corev1.Pod
	var objs []k8sruntime.Object
	for i := range n {
		p := realisticPod(i)
		pods = append(pods, p)
		objs = append(objs, p)
	}
	return fake.NewClientset(objs...), pods
}

func syncedEnricherOn(tb testing.TB, client *fake.Clientset) (*Enricher, func()) {
	tb.Helper()
	e, err := New(testConfig(), nil, Options{In: make(chan []event.Log), Out: make(chan []event.Log), Client: kubefake.Client{Interface: client}})
	if err != nil {
		tb.Fatal(err)
	}
	stop := e.startInformers()
	if !cache.WaitForCacheSync(nil, e.pods.HasSynced) {
		tb.Fatal("no sync")
	}
	e.markSynced()
	return e, stop
}

// BenchmarkEnrichBatch is the steady state: batches of 512 lines from 16 files of cached pods.
// ns/op and allocs/op are per batch; ns/line is reported too.
func BenchmarkEnrichBatch(b *testing.B) {
	e, pods, stop := syncedEnricher(b, 110)
	defer stop()
	out := make(chan []event.Log, 1)
	e.out = out
	batch := make([]event.Log, 512)
	paths := make([]string, 16)
	for i := range paths {
		paths[i] = logPath(pods[i], "app")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			batch[i] = event.Log{Path: paths[(i/32)%len(paths)], Cursor: event.Cursor{Offset: int64(i)}}
		}
		if err := e.process(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if got := <-out; got[0].Meta == nil || got[0].Meta.Image == "" {
			b.Fatal("not enriched")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/line")
}

// BenchmarkLookup is one cache lookup after the cache changed (a pod update anywhere makes
// every file look its pod up again): indexer by path uid, then the shared Meta.
func BenchmarkLookup(b *testing.B) {
	e, pods, stop := syncedEnricher(b, 110)
	defer stop()
	fs := e.file(logPath(pods[7], "app"))
	b.ReportAllocs()
	for b.Loop() {
		e.gen.Add(1)
		if m, hit := e.resolve(fs); !hit || m.Pod != pods[7].Name {
			b.Fatal("miss")
		}
	}
}

func BenchmarkParsePath(b *testing.B) {
	p := "/var/log/pods/team-3_svc042-7d9f8c6b5-x0042_0b7c4a9e-2f55-4e6f-9d43-000000000042/app/0.log"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, _, ok := ParsePath(p); !ok {
			b.Fatal("no parse")
		}
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeap110Pods reports the heap the enricher's cache takes for 110 realistic pods: the
// informer store's objects after the transform plus the Metas of both containers of every pod,
// next to what the same pods take untransformed (what a cache without the transform would
// hold). Each figure is measured on 10 live copies to rise above GC noise, then divided.
func BenchmarkHeap110Pods(b *testing.B) {
	const copies = 10
	e, pods, stop := syncedEnricher(b, 110)
	defer stop()
	var cached, raw float64
	for b.Loop() {
		before := heapInUse()
		var full [copies][]*corev1.Pod
		for k := range full {
			for _, p := range pods {
				full[k] = append(full[k], p.DeepCopy())
			}
		}
		raw += float64(int64(heapInUse())-int64(before)) / copies
		runtime.KeepAlive(&full)

		objs := e.pods.GetIndexer().List()
		before = heapInUse()
		var slim [copies][]*corev1.Pod
		var metas [copies]map[string]*podCache
		for k := range slim {
			for _, o := range objs {
				slim[k] = append(slim[k], o.(*corev1.Pod).DeepCopy())
			}
			e.mu.Lock()
			e.podCaches = make(map[string]*podCache)
			e.mu.Unlock()
			for _, p := range slim[k] {
				for _, c := range []string{"app", "istio-proxy"} {
					if e.metaFor(string(p.UID), c, 0) == nil {
						b.Fatal("miss")
					}
				}
			}
			metas[k] = e.podCaches
		}
		cached += float64(int64(heapInUse())-int64(before)) / copies
		runtime.KeepAlive(&slim)
		runtime.KeepAlive(&metas)
	}
	b.ReportMetric(cached/float64(b.N), "cache-B")
	b.ReportMetric(raw/float64(b.N), "untransformed-B")
	b.ReportMetric(raw/cached, "untransformed/cache")
}
