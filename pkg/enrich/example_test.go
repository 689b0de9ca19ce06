package enrich_test

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/event"
)

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
	e, err := enrich.New(cfg, slog.New(slog.DiscardHandler), enrich.Options{In: in, Out: out, Client: kubefake.Client{Interface: client}})
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
