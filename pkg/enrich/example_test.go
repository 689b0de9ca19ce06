package enrich_test

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/watchlist"

	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/event"
)

// fakeClient serves enrich.Client from client-go's fake clientset. (The agent leaves
// Options.Client nil: enrich then builds its own client from the kubeconfig or the in-cluster
// service account.)
type fakeClient struct{ c *fake.Clientset }

func (f fakeClient) ListPods(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	return f.c.CoreV1().Pods("").List(ctx, opts)
}

func (f fakeClient) WatchPods(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return f.c.CoreV1().Pods("").Watch(ctx, opts)
}

func (f fakeClient) ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	return f.c.CoreV1().Namespaces().List(ctx, opts)
}

func (f fakeClient) WatchNamespaces(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return f.c.CoreV1().Namespaces().Watch(ctx, opts)
}

// IsWatchListSemanticsUnSupported passes on that the fake clientset cannot serve streaming lists.
func (f fakeClient) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(f.c)
}

func ExampleEnricher() {
	client := fake.NewClientset(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-7d9f8c6b5-x2x4q", UID: "3f1c",
			Labels:          map[string]string{"app": "checkout", "pod-template-hash": "7d9f8c6b5"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "checkout-7d9f8c6b5", Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "shop/checkout:1.4"}}},
	})
	cfg := enrich.DefaultConfig()
	cfg.NodeName = "node-1"
	in, out := make(chan []event.Log), make(chan []event.Log)
	e, err := enrich.New(cfg, slog.New(slog.DiscardHandler), enrich.Options{In: in, Out: out, Client: fakeClient{client}})
	if err != nil {
		panic(err)
	}
	go func() {
		in <- []event.Log{{Path: "/var/log/pods/shop_checkout-7d9f8c6b5-x2x4q_3f1c/app/0.log", Body: []byte("GET /cart 200")}}
		close(in)
	}()
	go e.Run(context.Background())
	for batch := range out {
		for _, l := range batch {
			m := l.Meta
			fmt.Println(m.Namespace, m.Pod, m.Container, m.Image, m.Owner.Kind, m.Owner.Name, m.Labels["app"])
		}
	}
	// Output: shop checkout-7d9f8c6b5-x2x4q app shop/checkout:1.4 Deployment checkout checkout
}
