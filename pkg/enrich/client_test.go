package enrich

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/watchlist"
)

// The agent's client sends what client-go's typed clients send: GETs of /api/v1/<resource>
// across namespaces with the options as query parameters, user agent ferry, protobuf preferred;
// it decodes protobuf lists and JSON watch streams, and claims streaming-list support.
func TestRESTClientRequests(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	var pb runtime.Serializer
	for _, s := range codecs.SupportedMediaTypes() {
		if s.MediaType == runtime.ContentTypeProtobuf {
			pb = s.Serializer
		}
	}
	if pb == nil {
		t.Fatal("no protobuf serializer")
	}
	encoder := codecs.EncoderForVersion(pb, corev1.SchemeGroupVersion)

	type request struct {
		path, agent, accept string
		query               url.Values
	}
	var (
		mu   sync.Mutex
		reqs []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, request{r.URL.Path, r.UserAgent(), r.Header.Get("Accept"), r.URL.Query()})
		mu.Unlock()
		if r.URL.Query().Get("watch") == "true" {
			kind := "Pod"
			if r.URL.Path == "/api/v1/namespaces" {
				kind = "Namespace"
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"type":"ADDED","object":{"kind":"` + kind + `","apiVersion":"v1","metadata":{"name":"watched"}}}` + "\n"))
			return
		}
		var obj runtime.Object = &corev1.PodList{Items: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "listed", Namespace: "shop"}}}}
		if r.URL.Path == "/api/v1/namespaces" {
			obj = &corev1.NamespaceList{Items: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}}
		}
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		if err := encoder.Encode(obj, w); err != nil {
			t.Errorf("encode: %v", err)
		}
	}))
	defer srv.Close()

	c, err := newRESTClient(&rest.Config{Host: srv.URL, UserAgent: "not-ferry"})
	if err != nil {
		t.Fatal(err)
	}
	if watchlist.DoesClientNotSupportWatchListSemantics(c) {
		t.Errorf("the agent's client says it does not support streaming lists")
	}
	ctx := context.Background()
	sel := metav1.ListOptions{FieldSelector: "spec.nodeName=node-1", ResourceVersion: "42"}
	pods, err := c.ListPods(ctx, sel)
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Name != "listed" {
		t.Fatalf("ListPods: %v %+v", err, pods)
	}
	nss, err := c.ListNamespaces(ctx, metav1.ListOptions{})
	if err != nil || len(nss.Items) != 1 || nss.Items[0].Name != "shop" {
		t.Fatalf("ListNamespaces: %v %+v", err, nss)
	}
	stream := metav1.ListOptions{FieldSelector: "spec.nodeName=node-1", SendInitialEvents: new(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true}
	for _, tc := range []struct {
		name    string
		watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)
		want    runtime.Object
	}{
		{"WatchPods", c.WatchPods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "watched"}}},
		{"WatchNamespaces", c.WatchNamespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "watched"}}},
	} {
		w, err := tc.watchFn(ctx, stream)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ev := <-w.ResultChan()
		w.Stop()
		if ev.Type != watch.Added || !equality.Semantic.DeepEqual(ev.Object, tc.want) {
			t.Errorf("%s: event %v %#v, want ADDED %#v", tc.name, ev.Type, ev.Object, tc.want)
		}
	}

	want := []struct {
		path  string
		query map[string]string
	}{
		{"/api/v1/pods", map[string]string{"fieldSelector": "spec.nodeName=node-1", "resourceVersion": "42"}},
		{"/api/v1/namespaces", map[string]string{}},
		{"/api/v1/pods", map[string]string{"fieldSelector": "spec.nodeName=node-1", "watch": "true",
			"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}},
		{"/api/v1/namespaces", map[string]string{"fieldSelector": "spec.nodeName=node-1", "watch": "true",
			"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(reqs), len(want), reqs)
	}
	for i, r := range reqs {
		if r.path != want[i].path {
			t.Errorf("request %d: path %s, want %s", i, r.path, want[i].path)
		}
		if r.agent != "ferry" {
			t.Errorf("request %d: user agent %q, want ferry", i, r.agent)
		}
		if r.accept != "application/vnd.kubernetes.protobuf,application/json" {
			t.Errorf("request %d: Accept %q, want protobuf first", i, r.accept)
		}
		for k, v := range want[i].query {
			if got := r.query.Get(k); got != v {
				t.Errorf("request %d (%s): %s=%q, want %q", i, r.path, k, got, v)
			}
		}
		if len(r.query) != len(want[i].query) {
			t.Errorf("request %d (%s): query %v, want exactly %v", i, r.path, r.query, want[i].query)
		}
	}
}
