package ship

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every source stays on one partition; sources spread evenly.
func TestFileStick(t *testing.T) {
	parts := []int{0, 1, 2}
	count := map[int]int{}
	for src := range uint64(3000) {
		p := fileStick(src, parts)
		if p != fileStick(src, parts) {
			t.Fatalf("source %d: not stable", src)
		}
		count[p]++
	}
	for _, p := range parts {
		if count[p] < 900 || count[p] > 1100 {
			t.Errorf("partitions of 3000 sources: %v, want about 1000 each", count)
		}
	}
	if got := fileStick(7, []int{0}); got != 0 {
		t.Errorf("one partition: %d", got)
	}
}

// With key: none, every batch of a file goes to the file's one partition,
// so that a file's records are confirmed in the order they were read.
// One partition refuses: the files on the others are delivered and
// acknowledged in full, the files on it not at all; no file has a line
// acknowledged after one that was not (the tailer commits a file's
// acknowledged prefix: lines confirmed after a refused one would be read
// again after a restart).
func TestKafkaKeyNoneOnePartitionPerFile(t *testing.T) {
	c, addr := startCluster(t)
	refused := int32(fileStick(0, []int{0, 1, 2}))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{refused},
		Err: kerr.NotEnoughReplicas, Count: -1})
	defer fault.Remove()
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Key = "none"
	h := runShipper(t, cfg, nil)
	const files, batches, per = 6, 8, 5
	want := 0
	for src := range uint64(files) {
		if int32(fileStick(src, []int{0, 1, 2})) != refused {
			want += batches * per
		}
	}
	for b := range batches {
		for src := range uint64(files) {
			feed(t, h.logs, makeLogs(src, b*per, per, nil))
		}
	}
	waitAcked(t, h.ack, want)
	got := map[uint64][]int64{}
	for _, c := range h.ack.cursors() {
		got[c.Source] = append(got[c.Source], c.Offset)
	}
	for src := range uint64(files) {
		on := int32(fileStick(src, []int{0, 1, 2}))
		offs := got[src]
		if on == refused && len(offs) != 0 {
			t.Errorf("file %d (on the refusing partition %d): %d lines acknowledged", src, on, len(offs))
		}
		if on != refused && len(offs) != batches*per {
			t.Errorf("file %d (partition %d): %d lines acknowledged, want %d", src, on, len(offs), batches*per)
		}
		for i, o := range offs {
			if o != int64(i+1)*100 {
				t.Errorf("file %d: acknowledged offsets %v, not its prefix in order", src, offs)
				break
			}
		}
	}
	recs, _ := consumeWithin(t, addr, 10*time.Second, func(r []*kgo.Record) bool { return len(r) >= want }, "logs")
	for _, r := range recs {
		var lr logRecord
		if err := json.Unmarshal(r.Value, &lr); err != nil {
			t.Fatal(err)
		}
		var src uint64
		if _, err := fmt.Sscanf(lr.File, "/var/log/pods/f%d.log", &src); err != nil {
			t.Fatal(err)
		}
		if on := int32(fileStick(src, []int{0, 1, 2})); r.Partition != on {
			t.Errorf("a line of file %d in partition %d, want %d", src, r.Partition, on)
		}
	}
}
