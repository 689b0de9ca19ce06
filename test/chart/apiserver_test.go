package chart

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The tests in this file need a real kube-apiserver: hack/kube-apiserver.sh
// start DIR prints `export FERRY_KUBE_*` lines, among them FERRY_KUBECONFIG (an
// admin kubeconfig). hack/test.sh starts one and keeps it up while
// hack/helm.sh runs these tests. No controller manager runs: every test
// works in a namespace of its own (namespaces never finish deleting).

// operatorGroup is prometheus-operator's API group; its CRDs are not
// installed on the test API server, so its kinds are skipped.
const operatorGroup = "monitoring.coreos.com"

type kube struct {
	config *rest.Config
	client kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func kubeFromEnv(t *testing.T) *kube {
	t.Helper()
	path := os.Getenv("FERRY_KUBECONFIG")
	if path == "" {
		t.Skip("FERRY_KUBECONFIG is not set: no kube-apiserver to apply the chart to " +
			"(eval \"$(hack/kube-apiserver.sh start DIR)\" provides one; hack/test.sh does so for hack/helm.sh)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("FERRY_KUBECONFIG %s: %v", path, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &kube{config: cfg, client: client, dyn: dyn, mapper: restmapper.NewDiscoveryRESTMapper(groups)}
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freshNamespace creates a namespace for one test and its default
// ServiceAccount (no controller manager creates it here).
func (k *kube) freshNamespace(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	ns := prefix + "-" + randomSuffix(t)
	k.ensureNamespace(ctx, t, ns)
	t.Cleanup(func() {
		// Stays Terminating without a namespace controller; deleting it still
		// marks it as the test's leftover.
		_ = k.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return ns
}

func (k *kube) ensureNamespace(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	_, err := k.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	_, err = k.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create default service account in %s: %v", ns, err)
	}
}

// objects splits a rendering into unstructured objects.
func objects(t *testing.T, rendered string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("document %q: %v", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// apply server-side applies obj; with dryRun the API server runs defaulting,
// validation and admission but stores nothing.
func (k *kube) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: "ferry-chart-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = k.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return nil, fmt.Errorf("%s %s: namespaced but rendered without a namespace", gvk.Kind, obj.GetName())
		}
		ri = k.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	} else if obj.GetNamespace() != "" {
		return nil, fmt.Errorf("%s %s: cluster-scoped but rendered with namespace %s", gvk.Kind, obj.GetName(), obj.GetNamespace())
	}
	return ri.Apply(ctx, obj.GetName(), obj, opts)
}

// TestServerSideDryRun applies every rendering's manifests to a real
// kube-apiserver with server-side dry-run: the API server's own validation,
// defaulting and admission accept every object of every kind it knows.
func TestServerSideDryRun(t *testing.T) {
	k := kubeFromEnv(t)
	for name, args := range renderings(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ns := k.freshNamespace(ctx, t, "ferry-dryrun")
			rel := "ferry-" + randomSuffix(t)
			out, err := helmTemplateAs(t, rel, ns, args...)
			if err != nil {
				t.Fatal(err)
			}
			applied := 0
			for _, obj := range objects(t, out) {
				gvk := obj.GroupVersionKind()
				what := fmt.Sprintf("%s %s/%s", gvk.Kind, obj.GetNamespace(), obj.GetName())
				if gvk.Group == operatorGroup {
					t.Logf("%s: skipped (prometheus-operator's CRDs are not installed)", what)
					continue
				}
				if ons := obj.GetNamespace(); ons != "" && ons != ns {
					k.ensureNamespace(ctx, t, ons) // e.g. the dashboard's namespace
				}
				got, err := k.apply(ctx, obj, true)
				if err != nil {
					t.Errorf("%s: server-side dry-run apply: %v", what, err)
					continue
				}
				if got.GetUID() == "" || got.GetName() != obj.GetName() {
					t.Errorf("%s: dry-run returned %s/%s uid %q", what, got.GetNamespace(), got.GetName(), got.GetUID())
				}
				applied++
			}
			if applied < 5 {
				t.Errorf("only %d objects applied; want at least DaemonSet, ConfigMap, ServiceAccount, ClusterRole, ClusterRoleBinding", applied)
			}
			// Dry-run stored nothing.
			if _, err := k.client.AppsV1().DaemonSets(ns).Get(ctx, rel, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("after a dry-run, the DaemonSet lookup gave %v, want NotFound", err)
			}
		})
	}
}

// access is one question to the authorizer.
type access struct {
	verb, group, resource, subresource, namespace string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	ns := a.namespace
	if ns == "" {
		ns = "<all namespaces>"
	}
	return fmt.Sprintf("%s %s in %s", a.verb, r, ns)
}

// TestServiceAccountPermissions installs the chart's ServiceAccount,
// ClusterRole and ClusterRoleBinding for real and asks the API server's
// authorizer (SubjectAccessReview) what the agent's service account may do:
// read pods, read namespaces only with namespace labels on, never secrets,
// never write anything. A token minted for the service account then does the
// same against the API itself.
func TestServiceAccountPermissions(t *testing.T) {
	k := kubeFromEnv(t)
	for _, tc := range []struct {
		name            string
		args            []string
		namespaceLabels bool
	}{
		{"default", nil, false},
		{"namespace-labels", []string{"-f", filepath.Join(chartDir(t), "ci", "namespace-labels-values.yaml")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns := k.freshNamespace(ctx, t, "ferry-rbac")
			other := k.freshNamespace(ctx, t, "ferry-rbac-other")
			rel := "ferry-" + randomSuffix(t)
			out, err := helmTemplateAs(t, rel, ns, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var sa string
			for _, obj := range objects(t, out) {
				switch obj.GetKind() {
				case "ServiceAccount", "ClusterRole", "ClusterRoleBinding":
				default:
					continue
				}
				if _, err := k.apply(ctx, obj, false); err != nil {
					t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
				}
				gvr := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1"}
				switch obj.GetKind() {
				case "ServiceAccount":
					sa = obj.GetName()
				case "ClusterRole":
					gvr.Resource = "clusterroles"
				case "ClusterRoleBinding":
					gvr.Resource = "clusterrolebindings"
				}
				if gvr.Resource != "" {
					name := obj.GetName()
					t.Cleanup(func() { _ = k.dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) })
				}
			}
			if sa == "" {
				t.Fatal("the rendering has no ServiceAccount")
			}
			user := fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)
			groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}

			allowed := []access{
				{"get", "", "pods", "", ""}, {"list", "", "pods", "", ""}, {"watch", "", "pods", "", ""},
				{"get", "", "pods", "", other}, {"list", "", "pods", "", other}, {"watch", "", "pods", "", other},
			}
			var denied []access
			nsRead := []access{{"get", "", "namespaces", "", ""}, {"list", "", "namespaces", "", ""}, {"watch", "", "namespaces", "", ""}}
			if tc.namespaceLabels {
				allowed = append(allowed, nsRead...)
			} else {
				denied = append(denied, nsRead...)
			}
			for _, v := range []string{"get", "list", "watch"} {
				denied = append(denied, access{v, "", "secrets", "", ""}, access{v, "", "secrets", "", ns}, access{v, "", "secrets", "", other})
			}
			for _, v := range []string{"create", "update", "patch", "delete", "deletecollection"} {
				for _, r := range []struct{ group, resource string }{
					{"", "pods"}, {"", "configmaps"}, {"", "secrets"}, {"", "namespaces"}, {"", "nodes"}, {"", "serviceaccounts"},
					{"apps", "daemonsets"}, {"rbac.authorization.k8s.io", "clusterroles"}, {"rbac.authorization.k8s.io", "clusterrolebindings"},
				} {
					denied = append(denied, access{v, r.group, r.resource, "", ""})
					if r.resource != "namespaces" && r.resource != "nodes" && !strings.HasPrefix(r.resource, "cluster") {
						denied = append(denied, access{v, r.group, r.resource, "", ns})
					}
				}
			}
			denied = append(denied,
				access{"get", "", "pods", "log", ""}, access{"create", "", "pods", "exec", other},
				access{"create", "", "pods", "eviction", other}, access{"create", "", "serviceaccounts", "token", ns},
				access{"get", "", "nodes", "", ""}, access{"get", "", "configmaps", "", ns},
				access{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""},
				access{"bind", "rbac.authorization.k8s.io", "clusterroles", "", ""},
				access{"impersonate", "", "serviceaccounts", "", ""},
			)

			// The authorizer learns of new RBAC objects through its informers:
			// wait (bounded) for the first grant to show.
			deadline := time.Now().Add(30 * time.Second)
			for {
				ok, reason, err := k.review(ctx, user, groups, allowed[0])
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s may not %s after 30s: %s", user, allowed[0], reason)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, a := range allowed {
				if ok, reason, err := k.review(ctx, user, groups, a); err != nil {
					t.Error(err)
				} else if !ok {
					t.Errorf("%s may not %s, but the agent needs it: %s", user, a, reason)
				}
			}
			for _, a := range denied {
				if ok, reason, err := k.review(ctx, user, groups, a); err != nil {
					t.Error(err)
				} else if ok {
					t.Errorf("%s may %s: %s", user, a, reason)
				}
			}
			k.checkWithToken(ctx, t, ns, other, sa, tc.namespaceLabels)
		})
	}
}

// review asks the authorizer whether user may do a.
func (k *kube) review(ctx context.Context, user string, groups []string, a access) (bool, string, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.namespace, Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource,
		},
	}}
	got, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("SubjectAccessReview %s: %w", a, err)
	}
	if got.Status.EvaluationError != "" {
		return false, "", fmt.Errorf("SubjectAccessReview %s: evaluation error: %s", a, got.Status.EvaluationError)
	}
	return got.Status.Allowed, got.Status.Reason, nil
}

// checkWithToken mints a token for the chart's service account (TokenRequest,
// as kubelet does for the pod) and uses it: pods can be listed, secrets
// cannot, and nothing can be written.
func (k *kube) checkWithToken(ctx context.Context, t *testing.T, ns, other, sa string, namespaceLabels bool) {
	t.Helper()
	expiry := int64(600)
	tr, err := k.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	cfg := rest.AnonymousClientConfig(k.config)
	cfg.BearerToken = tr.Status.Token
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s with the agent's token: got %v, want Forbidden", what, err)
		}
	}
	if _, err := as.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"}); err != nil {
		t.Errorf("list pods of a node with the agent's token: %v", err)
	}
	w, err := as.CoreV1().Pods(other).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("watch pods with the agent's token: %v", err)
	} else {
		w.Stop()
	}
	_, err = as.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if namespaceLabels && err != nil {
		t.Errorf("list namespaces with the agent's token (namespace labels on): %v", err)
	}
	if !namespaceLabels {
		forbidden("list namespaces (namespace labels off)", err)
	}
	_, err = as.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	forbidden("list secrets", err)
	_, err = as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	forbidden("list secrets in all namespaces", err)
	_, err = as.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-by-agent"}}, metav1.CreateOptions{})
	forbidden("create a configmap", err)
	err = as.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{})
	forbidden("delete a service account", err)
	_, err = as.CoreV1().Pods(other).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "written-by-agent"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}, metav1.CreateOptions{})
	forbidden("create a pod", err)
	if t.Failed() {
		return
	}
	// The admin sees that nothing was written.
	if _, err := k.client.CoreV1().ConfigMaps(ns).Get(ctx, "written-by-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("looking up the configmap the agent's token tried to create: got %v, want NotFound", err)
	}
}
