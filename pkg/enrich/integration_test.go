package enrich

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestRealAPIServer runs the enricher against a real kube-apiserver started by
// hack/kube-apiserver.sh (FERRY_KUBE_DIR and FERRY_KUBE_SCRIPT come from its env file). It
// stops and restarts that kube-apiserver in the middle.
func TestRealAPIServer(t *testing.T) {
	dir, script := os.Getenv("FERRY_KUBE_DIR"), os.Getenv("FERRY_KUBE_SCRIPT")
	if os.Getenv("FERRY_KUBE_APISERVER") == "" || dir == "" || script == "" {
		t.Skip("no real kube-apiserver: run `eval \"$(hack/kube-apiserver.sh start DIR)\"` first " +
			"(sets FERRY_KUBE_APISERVER, FERRY_KUBE_DIR, FERRY_KUBE_SCRIPT)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	adminCfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(adminCfg)
	suffix := randSuffix(t)
	ns, node, other := "ferry-it-"+suffix, "it-node-"+suffix, "it-other-"+suffix
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A fresh namespace with its default ServiceAccount (no controller manager makes it), and
	// the two nodes.
	must(admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	must(admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}))
	for _, n := range []string{node, other} {
		must(admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}))
		t.Cleanup(func() { _ = admin.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}) })
	}

	// ferry's ServiceAccount, bound to exactly the rules the chart ships.
	raw, err := os.ReadFile(filepath.Join("..", "..", "charts", "ferry", "files", "rbac-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	if err := yaml.UnmarshalStrict(raw, &rules); err != nil {
		t.Fatalf("rbac-rules.yaml: %v", err)
	}
	role := "ferry-it-" + suffix
	must(admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: rules}, metav1.CreateOptions{}))
	must(admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ferry"}}, metav1.CreateOptions{}))
	must(admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ferry", Namespace: ns}},
	}, metav1.CreateOptions{}))
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), role, metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), role, metav1.DeleteOptions{})
	})
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "ferry",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	saCfg := rest.AnonymousClientConfig(adminCfg)
	saCfg.BearerToken = tr.Status.Token
	sa := kubernetes.NewForConfigOrDie(saCfg)

	// The token may read pods (once RBAC caught up) and nothing else.
	poll(t, 30*time.Second, "service account may list pods", func() bool {
		_, err := sa.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		return err == nil
	})
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets with ferry's token: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing namespaces with ferry's token (namespace_labels off): err = %v, want Forbidden", err)
	}

	// Pods: on this node with ReplicaSet, StatefulSet and Job (CronJob) owners; one on the other node.
	mk := func(name, onNode string, mods ...func(*corev1.Pod)) *corev1.Pod {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{NodeName: onNode, AutomountServiceAccountToken: new(false),
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}},
		}
		for _, m := range mods {
			m(p)
		}
		created, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		return created
	}
	owned := func(kind, name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name,
				UID: types.UID("00000000-0000-0000-0000-" + fmt.Sprintf("%012d", len(name))), Controller: new(true)}}
		}
	}
	web := mk("web-5d8c7b9f4-abcde", node, owned("ReplicaSet", "web-5d8c7b9f4"), func(p *corev1.Pod) {
		p.Labels["pod-template-hash"] = "5d8c7b9f4"
		p.Annotations = map[string]string{"app.kubernetes.io/version": "2.0", "internal/ignored": "x"}
	})
	db := mk("db-0", node, owned("StatefulSet", "db"))
	job := mk("report-29391840-q8v4z", node, owned("Job", "report-29391840"))
	elsewhere := mk("elsewhere", other, owned("StatefulSet", "elsewhere"))
	skipped := mk("skipped", node, func(p *corev1.Pod) {
		p.Annotations = map[string]string{"ferry.dev/exclude-containers": "app"}
	})

	// kubelet would report container statuses; do it as admin for one pod.
	web.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.example/web:1@sha", ContainerID: "containerd://abc123"}}
	must(admin.CoreV1().Pods(ns).UpdateStatus(ctx, web, metav1.UpdateOptions{}))

	// The enricher builds its own client, as in the agent, from a kubeconfig with ferry's token.
	kc := clientcmdapi.NewConfig()
	kc.Clusters["it"] = &clientcmdapi.Cluster{Server: adminCfg.Host,
		CertificateAuthority: adminCfg.CAFile, CertificateAuthorityData: adminCfg.CAData}
	kc.AuthInfos["ferry"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["it"] = &clientcmdapi.Context{Cluster: "it", AuthInfo: "ferry"}
	kc.CurrentContext = "it"
	cfg := DefaultConfig()
	cfg.NodeName = node
	cfg.MissWait = 300 * time.Millisecond
	cfg.DeleteGrace = 2 * time.Second
	cfg.Kubeconfig = filepath.Join(t.TempDir(), "ferry.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, cfg.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, nil)
	h.waitSynced()
	// client-go filled the cache with a streaming list (a watch with sendInitialEvents): the
	// client supports it, and no list request was sent.
	if n := counterValue(t, h.e.m.apiRequests.WithLabelValues("pods", "list")); n != 0 {
		t.Errorf("pod list requests = %v, want 0 (client-go should use the streaming watch-list)", n)
	}
	if n := counterValue(t, h.e.m.apiRequests.WithLabelValues("pods", "watch")); n < 1 {
		t.Errorf("pod watch requests = %v, want >= 1", n)
	}

	checkMeta := func(p *corev1.Pod, owner event.Owner) {
		t.Helper()
		m := h.eventually(logPath(p, "app"), func(m *event.Meta) bool { return m.Owner == owner })
		if m.Namespace != ns || m.Pod != p.Name || m.PodUID != string(p.UID) || m.Node != node || m.Labels["app"] != p.Name {
			t.Errorf("%s: Meta %+v", p.Name, m)
		}
	}
	if !h.e.Excluded(logPath(skipped, "app")) || h.e.Excluded(logPath(skipped, "other")) || h.e.Excluded(logPath(web, "app")) {
		t.Errorf("exclusion by annotation not applied as annotated")
	}
	checkMeta(web, event.Owner{Kind: "Deployment", Name: "web"})
	checkMeta(db, event.Owner{Kind: "StatefulSet", Name: "db"})
	checkMeta(job, event.Owner{Kind: "CronJob", Name: "report"})
	h.send(line(logPath(web, "app"), 100))
	if m := h.recv()[0].Meta; m.ContainerID != "containerd://abc123" || m.Image != "registry.example/web:1@sha" ||
		len(m.Annotations) != 1 || m.Annotations["app.kubernetes.io/version"] != "2.0" {
		t.Errorf("web Meta: %+v", m)
	}

	// The other node's pod never reaches the cache: its lines go out with path metadata only.
	otherNodeAbsent := func() {
		t.Helper()
		for _, o := range h.e.pods.GetIndexer().List() {
			if p := o.(*corev1.Pod); p.Spec.NodeName != node {
				t.Errorf("pod %s of node %q in the cache", p.Name, p.Spec.NodeName)
			}
		}
	}
	h.send(line(logPath(elsewhere, "app"), 1))
	if m := h.recv()[0].Meta; m.Owner != (event.Owner{}) || m.Labels != nil || m.Pod != "elsewhere" {
		t.Errorf("a pod of another node was enriched: %+v", m)
	}
	otherNodeAbsent()

	// Label update, seen without restart.
	must(admin.CoreV1().Pods(ns).Patch(ctx, web.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"frontend"}}}`), metav1.PatchOptions{}))
	h.eventually(logPath(web, "app"), func(m *event.Meta) bool { return m.Labels["tier"] == "frontend" })

	// Deletion: metadata stays for the grace period, then goes.
	if err := admin.CoreV1().Pods(ns).Delete(ctx, db.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "deletion observed", func() bool { return h.e.deletedPodCount() == 1 })
	h.send(line(logPath(db, "app"), 50))
	if m := h.recv()[0].Meta; m.Owner.Name != "db" {
		t.Errorf("deleted pod's line within grace not enriched: %+v", m)
	}
	poll(t, 30*time.Second, "deleted pod forgotten after grace", func() bool { return h.e.deletedPodCount() == 0 })
	h.send(line(logPath(db, "app"), 51))
	if m := h.recv()[0].Meta; m.Owner != (event.Owner{}) || m.Pod != "db-0" {
		t.Errorf("deleted pod's line after grace: %+v, want path metadata only", m)
	}

	// Outage: stop kube-apiserver. Lines keep flowing, cached pods stay enriched, unknown ones go
	// out with path metadata, and the watch errors show.
	// client-go retries a refused watch itself, without telling the watch error handler: the
	// failed requests are what shows.
	errsBefore := counterValue(t, h.e.m.apiErrors.WithLabelValues("pods", "watch"))
	runScript(t, script, "stop-apiserver", dir)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			runScript(t, script, "start-apiserver", dir)
		}
	})
	poll(t, 60*time.Second, "failed watch requests counted", func() bool {
		return counterValue(t, h.e.m.apiErrors.WithLabelValues("pods", "watch")) > errsBefore
	})
	for i := range 5 {
		h.send(line(logPath(web, "app"), int64(200+i)), line("/var/log/pods/"+ns+"_new-pod_11111111-2222-3333-4444-555555555555/app/0.log", int64(i)))
	}
	got := map[string]int{}
	for got["enriched"]+got["path"] < 10 {
		for _, l := range h.recv() {
			if l.Meta.Owner.Kind != "" {
				got["enriched"]++
			} else if l.Meta.Pod == "new-pod" {
				got["path"]++
			}
		}
	}
	if got["enriched"] != 5 || got["path"] != 5 {
		t.Errorf("during the outage: %v, want 5 enriched and 5 with path metadata", got)
	}

	// Restart: enrichment of new pods resumes.
	runScript(t, script, "start-apiserver", dir)
	restarted = true
	late := mk("late-6f7d8c9b5-zzzzz", node, owned("ReplicaSet", "late-6f7d8c9b5"), func(p *corev1.Pod) {
		p.Labels["pod-template-hash"] = "6f7d8c9b5"
	})
	h.eventually(logPath(late, "app"), func(m *event.Meta) bool { return m.Owner == event.Owner{Kind: "Deployment", Name: "late"} })
	if got := counterValue(t, h.e.m.watchRestarts.WithLabelValues("pods")); got < 1 {
		t.Errorf("watch restarts = %v, want >= 1", got)
	}
	otherNodeAbsent()
	t.Logf("api requests: list=%v watch=%v, failed watches=%v, watch errors=%v, restarts=%v",
		counterValue(t, h.e.m.apiRequests.WithLabelValues("pods", "list")),
		counterValue(t, h.e.m.apiRequests.WithLabelValues("pods", "watch")),
		counterValue(t, h.e.m.apiErrors.WithLabelValues("pods", "watch")),
		counterValue(t, h.e.m.watchErrors.WithLabelValues("pods")),
		counterValue(t, h.e.m.watchRestarts.WithLabelValues("pods")))
}

func randSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func poll(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runScript(t *testing.T, script string, args ...string) {
	t.Helper()
	out, err := exec.Command(script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
}
