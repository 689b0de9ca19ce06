package enrich

import (
	"context"
	"fmt"

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

func (p countingPods) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	p.m.apiRequests.WithLabelValues("pods", "list").Inc()
	l, err := p.PodInterface.List(ctx, opts)
	if err != nil {
		p.m.apiErrors.WithLabelValues("pods", "list").Inc()
	}
	return l, err
}

func (p countingPods) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	p.m.apiRequests.WithLabelValues("pods", "watch").Inc()
	if p.m.podWatches.Add(1) > 1 {
		p.m.watchRestarts.WithLabelValues("pods").Inc()
	}
	w, err := p.PodInterface.Watch(ctx, opts)
	if err != nil {
		p.m.apiErrors.WithLabelValues("pods", "watch").Inc()
	}
	return w, err
}

type countingNamespaces struct {
	corev1client.NamespaceInterface
	m *metrics
}

func (n countingNamespaces) List(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	n.m.apiRequests.WithLabelValues("namespaces", "list").Inc()
	l, err := n.NamespaceInterface.List(ctx, opts)
	if err != nil {
		n.m.apiErrors.WithLabelValues("namespaces", "list").Inc()
	}
	return l, err
}

func (n countingNamespaces) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	n.m.apiRequests.WithLabelValues("namespaces", "watch").Inc()
	if n.m.nsWatches.Add(1) > 1 {
		n.m.watchRestarts.WithLabelValues("namespaces").Inc()
	}
	w, err := n.NamespaceInterface.Watch(ctx, opts)
	if err != nil {
		n.m.apiErrors.WithLabelValues("namespaces", "watch").Inc()
	}
	return w, err
}
