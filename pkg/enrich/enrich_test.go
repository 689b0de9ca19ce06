package enrich

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/event"
)

func TestMetadataForEveryOwnerKind(t *testing.T) {
	labels := func(p *corev1.Pod) map[string]string { return p.Labels }
	deploy := pod("shop", "checkout-7d9f8c6b5-x2x4q", "uid-deploy",
		ownedBy("ReplicaSet", "checkout-7d9f8c6b5"), withLabels("pod-template-hash", "7d9f8c6b5"),
		withAnnotations("app.kubernetes.io/version", "1.2", "other.io/secret", "no", "kubectl.kubernetes.io/last-applied-configuration", "{}"))
	bareRS := pod("shop", "legacy-abcde", "uid-rs", ownedBy("ReplicaSet", "legacy"))
	sts := pod("db", "pg-0", "uid-sts", ownedBy("StatefulSet", "pg"))
	ds := pod("kube-system", "fluent-x7k2p", "uid-ds", ownedBy("DaemonSet", "fluent"))
	job := pod("batch", "migrate-q8v4z", "uid-job", ownedBy("Job", "migrate"))
	cron := pod("batch", "report-29391840-hx9lw", "uid-cron", ownedBy("Job", "report-29391840"))
	bare := pod("default", "debug", "uid-bare")
	// Init container and a container whose status kubelet has not reported yet.
	initPod := pod("default", "web", "uid-init", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox:1"}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup", Image: "docker.io/library/busybox:1", ContainerID: "containerd://init"}}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy:1"})
	})

	h, _ := startFake(t, testConfig(), deploy, bareRS, sts, ds, job, cron, bare, initPod)
	h.waitSynced()

	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		container string
		want      event.Meta
	}{
		{"deployment", deploy, "app", event.Meta{Namespace: "shop", Pod: deploy.Name, PodUID: "uid-deploy", Container: "app",
			ContainerID: "containerd://uid-deploy-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(deploy),
			Annotations: map[string]string{"app.kubernetes.io/version": "1.2"}, Owner: event.Owner{Kind: "Deployment", Name: "checkout"}}},
		{"bare replicaset", bareRS, "app", event.Meta{Namespace: "shop", Pod: bareRS.Name, PodUID: "uid-rs", Container: "app",
			ContainerID: "containerd://uid-rs-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(bareRS),
			Owner: event.Owner{Kind: "ReplicaSet", Name: "legacy"}}},
		{"statefulset", sts, "app", event.Meta{Namespace: "db", Pod: "pg-0", PodUID: "uid-sts", Container: "app",
			ContainerID: "containerd://uid-sts-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(sts),
			Owner: event.Owner{Kind: "StatefulSet", Name: "pg"}}},
		{"daemonset", ds, "app", event.Meta{Namespace: "kube-system", Pod: ds.Name, PodUID: "uid-ds", Container: "app",
			ContainerID: "containerd://uid-ds-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(ds),
			Owner: event.Owner{Kind: "DaemonSet", Name: "fluent"}}},
		{"job", job, "app", event.Meta{Namespace: "batch", Pod: job.Name, PodUID: "uid-job", Container: "app",
			ContainerID: "containerd://uid-job-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(job),
			Owner: event.Owner{Kind: "Job", Name: "migrate"}}},
		{"cronjob", cron, "app", event.Meta{Namespace: "batch", Pod: cron.Name, PodUID: "uid-cron", Container: "app",
			ContainerID: "containerd://uid-cron-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(cron),
			Owner: event.Owner{Kind: "CronJob", Name: "report"}}},
		{"bare pod", bare, "app", event.Meta{Namespace: "default", Pod: "debug", PodUID: "uid-bare", Container: "app",
			ContainerID: "containerd://uid-bare-app", Image: "registry.example/app:1", Node: testNode, Labels: labels(bare)}},
		{"init container", initPod, "setup", event.Meta{Namespace: "default", Pod: "web", PodUID: "uid-init", Container: "setup",
			ContainerID: "containerd://init", Image: "docker.io/library/busybox:1", Node: testNode, Labels: labels(initPod)}},
		{"container without status", initPod, "sidecar", event.Meta{Namespace: "default", Pod: "web", PodUID: "uid-init", Container: "sidecar",
			Image: "envoy:1", Node: testNode, Labels: labels(initPod)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(tc.pod, tc.container)
			h.send(line(path, 1), line(path, 2))
			b := h.recv()
			if len(b) != 2 {
				t.Fatalf("got %d lines, want 2", len(b))
			}
			if diff := cmp.Diff(tc.want, *b[0].Meta); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
			if b[0].Meta != b[1].Meta {
				t.Errorf("lines of one container got different Meta pointers")
			}
			h.send(line(path, 3))
			if again := h.recv(); again[0].Meta != b[0].Meta {
				t.Errorf("the Meta was rebuilt for an unchanged pod")
			}
		})
	}
	if got := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); got != 0 {
		t.Errorf("misses = %v, want 0", got)
	}
}

func TestOwnerOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want event.Owner
	}{
		{"rs hash mismatch stays replicaset", pod("a", "x", "u", ownedBy("ReplicaSet", "web-abc"), withLabels("pod-template-hash", "zzz")), event.Owner{Kind: "ReplicaSet", Name: "web-abc"}},
		{"rs named only the hash", pod("a", "x", "u", ownedBy("ReplicaSet", "-abc"), withLabels("pod-template-hash", "abc")), event.Owner{Kind: "ReplicaSet", Name: "-abc"}},
		{"job with short number", pod("a", "x", "u", ownedBy("Job", "backup-42")), event.Owner{Kind: "Job", Name: "backup-42"}},
		{"job with non-digits", pod("a", "x", "u", ownedBy("Job", "backup-2939184a")), event.Owner{Kind: "Job", Name: "backup-2939184a"}},
		{"node (mirror pod)", pod("a", "x", "u", ownedBy("Node", "node-1")), event.Owner{Kind: "Node", Name: "node-1"}},
		{"non-controller ref", pod("a", "x", "u", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "Workflow", Name: "wf"}}
		}), event.Owner{Kind: "Workflow", Name: "wf"}},
		{"controller preferred", pod("a", "x", "u", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "Workflow", Name: "wf"}, {Kind: "StatefulSet", Name: "s", Controller: new(true)}}
		}), event.Owner{Kind: "StatefulSet", Name: "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ownerOf(tc.pod)); diff != "" {
				t.Errorf("owner (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTransformKeepsOnlyWhatIsRead(t *testing.T) {
	e := &Enricher{cfg: testConfig(), excludeContainersKey: "ferry.dev/exclude-containers"}
	p := pod("shop", "web", "u1", ownedBy("ReplicaSet", "web-1"), withAnnotations(
		"app.kubernetes.io/name", "web", "ferry.dev/exclude-containers", "a", "kubernetes.io/config.mirror", "h",
		"kubectl.kubernetes.io/last-applied-configuration", strings.Repeat("x", 1000)))
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SECRET", Value: "s"}}
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy:1", Args: []string{"-x"}})
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}}
	p.Status.ContainerStatuses[0].RestartCount = 3
	got, err := e.transformPod(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", Labels: map[string]string{"app": "web"},
			Annotations:     map[string]string{"app.kubernetes.io/name": "web", "ferry.dev/exclude-containers": "a", "kubernetes.io/config.mirror": "h"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "sidecar", Image: "envoy:1"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/app:1",
			ContainerID: "containerd://u1-app", RestartCount: 3}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transformed (-want +got):\n%s", diff)
	}
	again, _ := e.transformPod(got)
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("transform is not idempotent (-first +second):\n%s", diff)
	}
	if ns, _ := transformNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{"x": "y"}, ManagedFields: []metav1.ManagedFieldsEntry{{}}}}); ns.(*corev1.Namespace).Annotations != nil ||
		ns.(*corev1.Namespace).ManagedFields != nil || ns.(*corev1.Namespace).Labels["team"] != "a" {
		t.Errorf("namespace transform kept too much or too little: %+v", ns)
	}
	if s, _ := e.transformPod("not a pod"); s != "not a pod" {
		t.Errorf("transform changed a non-pod object")
	}
}

func TestLabelUpdateSeenWithoutRestart(t *testing.T) {
	p := pod("shop", "web", "u-label")
	h, c := startFake(t, testConfig(), p)
	h.waitSynced()
	path := logPath(p, "app")
	h.send(line(path, 1))
	first := h.recv()[0].Meta
	if first.Labels["tier"] != "" {
		t.Fatalf("unexpected label before the update: %v", first.Labels)
	}
	upd := p.DeepCopy()
	upd.Labels["tier"] = "frontend"
	if _, err := c.CoreV1().Pods("shop").Update(context.Background(), upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := h.eventually(path, func(m *event.Meta) bool { return m.Labels["tier"] == "frontend" })
	if m == first {
		t.Errorf("Meta pointer reused across a pod update")
	}
	if first.Labels["tier"] != "" {
		t.Errorf("a published Meta changed: %v", first.Labels)
	}
}

func TestNamespaceLabels(t *testing.T) {
	cfg := testConfig()
	cfg.NamespaceLabels = true
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "payments"}}}
	p := pod("shop", "web", "u-ns")
	c := fake.NewClientset(ns, p)
	h := start(t, cfg, kubefake.Client{Interface: c})
	h.waitSynced()
	m := h.eventually(logPath(p, "app"), func(m *event.Meta) bool { return m.Owner == (event.Owner{}) && m.Image != "" })
	if diff := cmp.Diff(map[string]string{"team": "payments"}, m.NamespaceLabels); diff != "" {
		t.Errorf("namespace labels (-want +got):\n%s", diff)
	}
	upd := ns.DeepCopy()
	upd.Labels["team"] = "checkout"
	if _, err := c.CoreV1().Namespaces().Update(context.Background(), upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually(logPath(p, "app"), func(m *event.Meta) bool { return m.NamespaceLabels["team"] == "checkout" })
}

func TestNamespaceLabelsOffByDefault(t *testing.T) {
	p := pod("shop", "web", "u-nsoff")
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}, p)
	h := start(t, testConfig(), kubefake.Client{Interface: c})
	h.waitSynced()
	h.send(line(logPath(p, "app"), 1))
	if m := h.recv()[0].Meta; m.NamespaceLabels != nil {
		t.Errorf("namespace labels filled while off: %v", m.NamespaceLabels)
	}
	for _, a := range c.Actions() {
		if a.GetResource().Resource == "namespaces" {
			t.Errorf("namespaces requested while off: %v", a)
		}
	}
}

func TestStaticPodThroughMirror(t *testing.T) {
	// kubelet logs a static pod under its config hash; the mirror pod in the API has its own uid
	// and carries the hash in an annotation.
	const hash = "5a1f0a3bd6e04a1c2d0e8f6b9c7d3e21"
	mirror := pod("kube-system", "kube-proxy-node-1", "mirror-uid", ownedBy("Node", testNode),
		withAnnotations("kubernetes.io/config.mirror", hash, "kubernetes.io/config.source", "file"))
	h, _ := startFake(t, testConfig(), mirror)
	h.waitSynced()
	path := "/var/log/pods/kube-system_kube-proxy-node-1_" + hash + "/app/0.log"
	h.send(line(path, 1))
	m := h.recv()[0].Meta
	want := event.Meta{Namespace: "kube-system", Pod: "kube-proxy-node-1", PodUID: hash, Container: "app",
		ContainerID: "containerd://mirror-uid-app", Image: "registry.example/app:1", Node: testNode,
		Labels: mirror.Labels, Owner: event.Owner{Kind: "Node", Name: testNode}}
	if diff := cmp.Diff(want, *m); diff != "" {
		t.Errorf("static pod Meta (-want +got):\n%s", diff)
	}
}

func TestExclusion(t *testing.T) {
	whole := pod("shop", "noisy", "u-ex-all", withAnnotations("ferry.dev/exclude", "true"))
	some := pod("shop", "mixed", "u-ex-some", withAnnotations("ferry.dev/exclude-containers", "istio-proxy, debug"))
	off := pod("shop", "quiet", "u-ex-off", withAnnotations("ferry.dev/exclude", "false"))
	h, _ := startFake(t, testConfig(), whole, some, off)
	for _, tc := range []struct {
		path string
		want bool
	}{
		{logPath(whole, "app"), true},
		{logPath(whole, "other"), true},
		{logPath(some, "istio-proxy"), true},
		{logPath(some, "debug"), true},
		{logPath(some, "app"), false},
		{logPath(off, "app"), false},
		{"/var/log/pods/shop_unknown_u-none/app/0.log", false},
		{"/not/a/pod/path.log", false},
	} {
		if got := h.e.Excluded(tc.path); got != tc.want {
			t.Errorf("Excluded(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
	// Asking again for the same file does not count it again.
	h.e.Excluded(logPath(whole, "app"))
	if got := counterValue(t, h.e.m.excludedFiles); got != 4 {
		t.Errorf("excluded files = %v, want 4", got)
	}

	cfg := testConfig()
	cfg.ExcludeAnnotation = ""
	h2, _ := startFake(t, cfg, whole)
	if h2.e.Excluded(logPath(whole, "app")) {
		t.Errorf("excluded although exclusion is disabled")
	}
}

func TestPassThrough(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = false
	cfg.NodeName = testNode
	h := start(t, cfg, nil)
	if !h.e.Synced() {
		t.Errorf("pass-through should report synced")
	}
	a := "/var/log/pods/shop_web-1_0b7c4a9e-2f55-4e6f-9d43-8d1c3b0f1a2e/app/0.log"
	b := "/var/log/pods/shop_web-2_1b7c4a9e-2f55-4e6f-9d43-8d1c3b0f1a2e/app/1.log"
	h.send(line(a, 1), line(b, 1), line(a, 2), line("garbage", 3))
	got := h.recv()
	if len(got) != 4 {
		t.Fatalf("got %d lines, want 4", len(got))
	}
	want := event.Meta{Namespace: "shop", Pod: "web-1", PodUID: "0b7c4a9e-2f55-4e6f-9d43-8d1c3b0f1a2e", Container: "app", Node: testNode}
	if diff := cmp.Diff(want, *got[0].Meta); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
	if got[0].Meta != got[2].Meta || got[0].Meta == got[1].Meta {
		t.Errorf("Meta pointers not shared per file")
	}
	if diff := cmp.Diff(event.Meta{Node: testNode}, *got[3].Meta); diff != "" {
		t.Errorf("unparsable path Meta (-want +got):\n%s", diff)
	}
	if h.e.Excluded(a) {
		t.Errorf("pass-through excludes nothing")
	}
	if got := counterValue(t, h.e.m.misses.WithLabelValues(reasonBadPath)); got != 1 {
		t.Errorf("unparsable path misses = %v, want 1", got)
	}
	if got := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); got != 0 {
		t.Errorf("not-in-cache misses in pass-through = %v, want 0", got)
	}
}

func TestWatchErrorsCounted(t *testing.T) {
	c := fake.NewClientset()
	fails := 0
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fails < 2 {
			fails++
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	cfg := testConfig()
	h := start(t, cfg, kubefake.Client{Interface: c})
	h.waitSynced()
	if got := counterValue(t, h.e.m.watchErrors.WithLabelValues("pods")); got < 2 {
		t.Errorf("watch errors = %v, want >= 2", got)
	}
	if got := counterValue(t, h.e.m.apiRequests.WithLabelValues("pods", "list")); got < 3 {
		t.Errorf("list requests = %v, want >= 3", got)
	}
}

func TestFieldSelectorIsTheNode(t *testing.T) {
	c := fake.NewClientset()
	h := start(t, testConfig(), kubefake.Client{Interface: c})
	h.waitSynced()
	var seen []string
	lists := 0
	for _, a := range c.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "pods" {
			seen = append(seen, l.GetListRestrictions().Fields.String())
			lists++
		}
		if w, ok := a.(k8stesting.WatchAction); ok && a.GetResource().Resource == "pods" {
			seen = append(seen, w.GetWatchRestrictions().Fields.String())
		}
		if a.GetNamespace() != "" {
			t.Errorf("request scoped to a namespace: %v", a)
		}
	}
	// The fake clientset cannot serve streaming lists and says so; the adapter passes that on,
	// so client-go lists (as it would on the clientset) instead of waiting for a stream.
	if len(seen) < 2 || lists == 0 {
		t.Fatalf("want a list and a watch of pods, got %v", c.Actions())
	}
	for _, s := range seen {
		if s != "spec.nodeName="+testNode {
			t.Errorf("field selector %q, want spec.nodeName=%s", s, testNode)
		}
	}
}

func TestSyncTimeoutDoesNotBlock(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("API down")
	})
	cfg := testConfig()
	cfg.SyncTimeout = 200 * time.Millisecond
	h := start(t, cfg, kubefake.Client{Interface: c})
	path := "/var/log/pods/shop_web_u-down/app/0.log"
	h.send(line(path, 1))
	b := h.recv()
	if h.e.Synced() {
		t.Errorf("synced although every list failed")
	}
	want := event.Meta{Namespace: "shop", Pod: "web", PodUID: "u-down", Container: "app", Node: testNode}
	if diff := cmp.Diff(want, *b[0].Meta); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
	if got := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); got != 1 {
		t.Errorf("misses = %v, want 1", got)
	}
}

func TestMetricsLint(t *testing.T) {
	h, _ := startFake(t, testConfig(), pod("a", "b", "c"))
	h.waitSynced()
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if got := testutil.ToFloat64(h.e.m.synced); got != 1 {
		t.Errorf("synced gauge = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.e.m.livePods); got != 1 {
		t.Errorf("live pods gauge = %v, want 1", got)
	}
}

func TestNewErrors(t *testing.T) {
	in, out := make(chan []event.Log), make(chan []event.Log)
	if _, err := New(DefaultConfig(), nil, Options{In: in, Out: out}); err == nil || !strings.Contains(err.Error(), "node_name") {
		t.Errorf("New without node name: %v", err)
	}
	cfg := testConfig()
	if _, err := New(cfg, nil, Options{}); err == nil {
		t.Errorf("New without channels: want error")
	}
	cfg.Kubeconfig = "/nonexistent/kubeconfig"
	if _, err := New(cfg, nil, Options{In: in, Out: out}); err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Errorf("New with a missing kubeconfig: %v", err)
	}
}

func TestHardStop(t *testing.T) {
	in, out := make(chan []event.Log), make(chan []event.Log) // nobody reads Out
	e, err := New(testConfig(), nil, Options{In: in, Out: out, Client: kubefake.Client{Interface: fake.NewClientset()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	in <- []event.Log{line("/var/log/pods/a_b_c/d/0.log", 1)}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel while blocked on Out")
	}
	if _, ok := <-out; ok {
		t.Errorf("Out not closed after the hard stop")
	}
}

func TestRestartedContainerKeepsEachInstanceID(t *testing.T) {
	p := pod("shop", "crashy", "u-restart", func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].RestartCount = 1
		p.Status.ContainerStatuses[0].ContainerID = "containerd://new"
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "containerd://old", ExitCode: 1}
	})
	h, _ := startFake(t, testConfig(), p)
	h.waitSynced()
	dir := "/var/log/pods/shop_crashy_u-restart/app/"
	h.send(line(dir+"0.log", 1), line(dir+"1.log", 1), line(dir+"0.log.20260101-000000", 1), line(dir+"x.log", 1))
	got := h.recv()
	var ids []string
	for _, l := range got {
		ids = append(ids, l.Meta.ContainerID)
	}
	if diff := cmp.Diff([]string{"containerd://old", "containerd://new", "containerd://old", "containerd://new"}, ids); diff != "" {
		t.Errorf("container ids (-want +got):\n%s", diff)
	}
	if got[0].Meta != got[2].Meta || got[1].Meta != got[3].Meta {
		t.Errorf("Metas of one container instance not shared")
	}
}

func TestUnparsablePathWhenEnabled(t *testing.T) {
	h, _ := startFake(t, testConfig())
	h.waitSynced()
	h.send(line("/var/log/messages", 1), line("/var/log/messages", 2))
	got := h.recv()
	if len(got) != 2 || !cmp.Equal(*got[0].Meta, event.Meta{Node: testNode}) {
		t.Errorf("unparsable path lines: %+v", got)
	}
	if n := counterValue(t, h.e.m.misses.WithLabelValues(reasonBadPath)); n != 2 {
		t.Errorf("unparsable_path misses = %v, want 2", n)
	}
	if n := testGauge(h.e.m.parkedLines); n != 0 {
		t.Errorf("unparsable path lines were parked: %v", n)
	}
}

// Excluded, asked before the first sync, waits for it rather than letting an excluded file
// through.
func TestExcludedWaitsForInitialSync(t *testing.T) {
	p := pod("shop", "noisy", "u-early", withAnnotations("ferry.dev/exclude", "true"))
	in, out := make(chan []event.Log), make(chan []event.Log)
	e, err := New(testConfig(), nil, Options{In: in, Out: out, Client: kubefake.Client{Interface: fake.NewClientset(p)}})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan bool)
	go func() { res <- e.Excluded(logPath(p, "app")) }()
	time.Sleep(50 * time.Millisecond) // Excluded is now waiting (the sync has not even started)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	select {
	case ex := <-res:
		if !ex {
			t.Errorf("Excluded before sync = false, want true")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Excluded did not return")
	}
	close(in)
	for range out {
	}
}
