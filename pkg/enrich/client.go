package enrich

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/watchlist"
)

// newClient builds a clientset from the kubeconfig file, or from the in-cluster service account
// when path is "". It asks for protobuf, the cheapest encoding for the API server.
func newClient(path string) (kubernetes.Interface, error) {
	var (
		cfg *rest.Config
		err error
	)
	if path != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %s: %w", path, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubernetes.kubeconfig outside a cluster): %w", err)
		}
	}
	cfg.UserAgent = "ferry"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// countingClient counts the informers' list and watch requests, so that the API load ferry
// causes, and every watch restart, shows in its metrics. Everything else is the wrapped client.
type countingClient struct {
	kubernetes.Interface
	m *metrics
}

// IsWatchListSemanticsUnSupported passes on what the wrapped client says (the fake clientset
// says true), so client-go's reflector chooses the same protocol as without the wrapper.
func (c countingClient) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(c.Interface)
}

func (c countingClient) CoreV1() corev1client.CoreV1Interface {
	return countingCore{c.Interface.CoreV1(), c.m}
}

type countingCore struct {
	corev1client.CoreV1Interface
	m *metrics
}

func (c countingCore) Pods(namespace string) corev1client.PodInterface {
	return countingPods{c.CoreV1Interface.Pods(namespace), c.m}
}

func (c countingCore) Namespaces() corev1client.NamespaceInterface {
	return countingNamespaces{c.CoreV1Interface.Namespaces(), c.m}
}

type countingPods struct {
	corev1client.PodInterface
	m *metrics
}

// counted makes one API request, counting it and its failure.
func counted[T any](m *metrics, resource, verb string, call func() (T, error)) (T, error) {
	m.apiRequests.WithLabelValues(resource, verb).Inc()
	v, err := call()
	if err != nil {
		m.apiErrors.WithLabelValues(resource, verb).Inc()
	}
	return v, err
}

// countedWatch is counted for a watch; every watch after the first is a
// restart.
func countedWatch(m *metrics, resource string, watches *atomic.Int64, call func() (watch.Interface, error)) (watch.Interface, error) {
	if watches.Add(1) > 1 {
		m.watchRestarts.WithLabelValues(resource).Inc()
	}
	return counted(m, resource, "watch", call)
}

func (p countingPods) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	return counted(p.m, "pods", "list", func() (*corev1.PodList, error) { return p.PodInterface.List(ctx, opts) })
}

func (p countingPods) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return countedWatch(p.m, "pods", &p.m.podWatches, func() (watch.Interface, error) { return p.PodInterface.Watch(ctx, opts) })
}

type countingNamespaces struct {
	corev1client.NamespaceInterface
	m *metrics
}

func (n countingNamespaces) List(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	return counted(n.m, "namespaces", "list", func() (*corev1.NamespaceList, error) { return n.NamespaceInterface.List(ctx, opts) })
}

func (n countingNamespaces) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return countedWatch(n.m, "namespaces", &n.m.nsWatches, func() (watch.Interface, error) { return n.NamespaceInterface.Watch(ctx, opts) })
}
