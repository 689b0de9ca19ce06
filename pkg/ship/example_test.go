package ship_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/ship"
)

type printAcker struct{}

func (printAcker) Ack(cs []event.Cursor) {
	fmt.Printf("acked %d cursor(s), first %+v\n", len(cs), cs[0])
}

// A Shipper with the stdout sink: records are written as NDJSON, then
// acknowledged.
func ExampleShipper() {
	logs := make(chan []event.Log, 1)
	s, err := ship.New(ship.Config{Stdout: &ship.StdoutConfig{}}, slog.New(slog.DiscardHandler),
		ship.Options{Logs: logs, Acker: printAcker{}, Stdout: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	logs <- []event.Log{{
		Time: time.Date(2026, 11, 26, 3, 55, 9, 123456789, time.UTC),
		Body: []byte("GET /cart 200"),
		Path: "/var/log/pods/shop_checkout-7d9f8_u1/app/0.log",
		Meta: &event.Meta{Namespace: "shop", Pod: "checkout-7d9f8", PodUID: "u1", Container: "app",
			Node: "node-1", Labels: map[string]string{"app": "checkout"},
			Owner: event.Owner{Kind: "Deployment", Name: "checkout"}},
		Cursor: event.Cursor{Source: 1, Offset: 12345},
	}}
	close(logs) // nothing more: Run flushes, waits for the acks, returns
	if err := s.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"time":"2026-11-26T03:55:09.123456789Z","stream":"stdout","message":"GET /cart 200","kubernetes":{"namespace":"shop","pod":"checkout-7d9f8","pod_uid":"u1","container":"app","container_id":"","image":"","node":"node-1","labels":{"app":"checkout"},"owner":{"kind":"Deployment","name":"checkout"}},"file":"/var/log/pods/shop_checkout-7d9f8_u1/app/0.log","offset":12345,"truncated":false}
	// acked 1 cursor(s), first {Source:1 Offset:12345}
}
