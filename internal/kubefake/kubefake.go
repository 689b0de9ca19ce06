// Package kubefake serves pkg/enrich's Client from client-go's fake
// clientset, for tests and examples. (The agent itself never links the
// clientset: enrich lists and watches through a core/v1-only client.)
package kubefake

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/watchlist"
)

// Client lists and watches pods and namespaces through a clientset (the
// fake one in tests, whose actions and reactors the tests inspect and set).
type Client struct{ kubernetes.Interface }

func (c Client) ListPods(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	return c.CoreV1().Pods("").List(ctx, opts)
}

func (c Client) WatchPods(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return c.CoreV1().Pods("").Watch(ctx, opts)
}

func (c Client) ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	return c.CoreV1().Namespaces().List(ctx, opts)
}

func (c Client) WatchNamespaces(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return c.CoreV1().Namespaces().Watch(ctx, opts)
}

// IsWatchListSemanticsUnSupported passes on the clientset's answer (the
// fake's is true: it cannot serve streaming lists), so client-go's reflector
// lists and watches as it would on the clientset itself.
func (c Client) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(c.Interface)
}
