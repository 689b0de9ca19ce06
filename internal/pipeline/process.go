package pipeline

import (
	"context"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/process"
)

// acker is what the sink acknowledges to: the tailer, or the processing
// stage in front of it.
type acker interface{ Ack(cursors []event.Cursor) }

// processStage puts pkg/process between enrichment and the sink when the
// processing section configures anything. Otherwise it returns in, next
// and a nil run: the sink reads enrichment's batches and acknowledges to
// the tailer directly, and processing costs nothing.
func processStage(cfg process.Config, logger *slog.Logger, in <-chan []event.Log, next acker,
	reg prometheus.Registerer) (out <-chan []event.Log, ack acker, run func(context.Context) error, err error) {
	if !cfg.Enabled() {
		return in, next, nil, nil
	}
	ch := make(chan []event.Log, stageQueue)
	p, err := process.New(cfg, logger, process.Options{In: in, Out: ch, Acker: next, Registerer: reg})
	if err != nil {
		return nil, nil, nil, err
	}
	return ch, p, p.Run, nil
}

// processingAnnotations adds the pod annotations that processing honours
// to those enrichment puts on the records (idempotent).
func processingAnnotations(patterns []string, cfg process.Config) []string {
	for _, p := range cfg.AnnotationPatterns() {
		if !slices.Contains(patterns, p) {
			patterns = append(patterns, p)
		}
	}
	return patterns
}
