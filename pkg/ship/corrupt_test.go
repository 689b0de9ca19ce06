package ship

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A CORRUPT_MESSAGE answer is a transfer damaged on the way (Kafka marks
// it retriable): a lone record answered so once is sent again and
// delivered; only a record the broker answers so corruptTries times in a
// row is dropped, counted under corrupt_message.
func TestKafkaCorruptMessage(t *testing.T) {
	tests := []struct {
		name      string
		count     int // the fault's answers (-1: every one)
		wantHits  int
		delivered bool
	}{
		{"once: retried and delivered", 1, 1, true},
		{"twice: retried and delivered", corruptTries - 1, corruptTries - 1, true},
		{"every time: dropped after corruptTries answers", -1, corruptTries, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, addr := startCluster(t, kfake.SeedTopics(1, "logs"))
			fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Err: kerr.CorruptMessage, Count: tt.count})
			defer fault.Remove()
			h := runShipper(t, testKafkaConfig(addr), nil)
			h.logs <- makeLogs(1, 0, 1, metaFor(1))
			h.finish(t)
			if got := fault.Hits(); got != tt.wantHits {
				t.Errorf("%d requests answered CORRUPT_MESSAGE, want %d", got, tt.wantHits)
			}
			if got := len(h.ack.cursors()); got != 1 {
				t.Errorf("%d records acknowledged, want 1", got)
			}
			dropped := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "corrupt_message"))
			sent := testutil.ToFloat64(h.s.m.sent.WithLabelValues("log"))
			if tt.delivered && (dropped != 0 || sent != 1) {
				t.Errorf("dropped %v sent %v, want the record delivered", dropped, sent)
			}
			if !tt.delivered && (dropped != 1 || sent != 0) {
				t.Errorf("dropped %v sent %v, want the record dropped as corrupt_message", dropped, sent)
			}
			if tt.delivered {
				if recs := consumeDistinct(t, addr, 1, []string{"logs"}); len(recs) != 1 {
					t.Errorf("%d records consumed, want 1", len(recs))
				}
			}
		})
	}
}
