package enrich

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Client is what enrich needs from the API server: list and watch pods and namespaces, each
// across all namespaces. The Enricher sets the field selector (spec.nodeName=<node>) of the pod
// requests itself; a Client sends opts as they are.
//
// client-go's reflector fills the informers' caches with a streaming list (a watch with
// sendInitialEvents) when the Client supports it. A Client that does not (such as client-go's
// fake clientset) says so with a method IsWatchListSemanticsUnSupported() bool returning true;
// then the reflector lists and watches.
type Client interface {
	ListPods(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	WatchPods(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error)
	WatchNamespaces(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// newClient builds a Client from the kubeconfig file, or from the in-cluster service account
// when path is "".
func newClient(path string) (Client, error) {
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
	return newRESTClient(cfg)
}

// restClient is the agent's Client: a REST client of the core/v1 API whose scheme knows only
// the core/v1 types. Unlike client-go's clientset, it does not link (and initialize at start)
// the types of every API group. It asks for protobuf, the cheapest encoding for the API server,
// and supports streaming lists.
type restClient struct {
	rest   *rest.RESTClient
	params runtime.ParameterCodec
}

func newRESTClient(cfg *rest.Config) (*restClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "ferry"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &restClient{rest: rc, params: runtime.NewParameterCodec(scheme)}, nil
}

// get is a GET of resource in all namespaces with opts, as client-go's typed clients send it.
func (c *restClient) get(resource string, opts metav1.ListOptions) *rest.Request {
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	return c.rest.Get().Resource(resource).VersionedParams(&opts, c.params).Timeout(timeout)
}

func (c *restClient) watch(ctx context.Context, resource string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.get(resource, opts).Watch(ctx)
}

func (c *restClient) ListPods(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	l := &corev1.PodList{}
	return l, c.get("pods", opts).Do(ctx).Into(l)
}

func (c *restClient) WatchPods(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, "pods", opts)
}

func (c *restClient) ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	l := &corev1.NamespaceList{}
	return l, c.get("namespaces", opts).Do(ctx).Into(l)
}

func (c *restClient) WatchNamespaces(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, "namespaces", opts)
}

// listWatch is what an informer lists and watches resource with: list and watch through the
// Client, with tweak (if not nil) applied to the options, every request counted, so that the
// API load ferry causes, and every watch restart, shows in its metrics. It says the streaming
// list is unsupported exactly when client does, so client-go's reflector chooses the protocol
// it would choose with client itself.
func listWatch[L runtime.Object](m *metrics, resource string, watches *atomic.Int64, client Client,
	tweak func(*metav1.ListOptions),
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			if tweak != nil {
				tweak(&opts)
			}
			l, err := counted(m, resource, "list", func() (L, error) { return list(ctx, opts) })
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&opts)
			}
			return countedWatch(m, resource, watches, func() (watch.Interface, error) { return watchFn(ctx, opts) })
		},
	}, client)
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
