package tail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/tail"
)

func ExampleTailer() {
	root, _ := os.MkdirTemp("", "tail-example")
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "pods", "shop_checkout-7d9f8_uid", "app")
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, "0.log"), []byte(
		"2026-11-26T03:55:09.123456789Z stdout F GET /cart 200\n"+
			"2026-11-26T03:55:09.2Z stderr P slow query: \n"+
			"2026-11-26T03:55:09.3Z stderr F 1.2s\n"), 0o644)

	cfg := tail.DefaultConfig()
	cfg.Include = []string{filepath.Join(root, "pods", "*", "*", "*.log")}
	cfg.StateDir = filepath.Join(root, "state")
	out := make(chan []event.Log, 1)
	t, err := tail.New(cfg, slog.New(slog.DiscardHandler), out, tail.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- t.Run(ctx) }()

	for n := 0; n < 2; {
		batch := <-out
		for _, l := range batch {
			fmt.Printf("%s %s %q\n", l.Time.Format("15:04:05.000"), l.Stream, l.Body)
			t.Ack([]event.Cursor{l.Cursor}) // once the sink has it
			n++
		}
	}
	cancel()
	for range out { // Run closes out when it stops
	}
	<-done
	if err := t.Close(); err != nil { // writes the final checkpoint
		fmt.Println(err)
	}
	// Output:
	// 03:55:09.123 stdout "GET /cart 200"
	// 03:55:09.200 stderr "slow query: 1.2s"
}
