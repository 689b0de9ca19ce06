package ship

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHostile49OversizeFieldsKeepTheLine: the json parser's default takes
// msg as the message and leaves every other key a field. A JSON line that
// fits max_message_bytes as it is, but whose fields encode larger (OTLP
// JSON writes each array item and object member as a typed value), is sent
// without its fields. Without keep_original the message is then msg alone:
// everything else of the line would be gone, where "without them, as
// without a parser" promises the line. The record sent must hold the
// line's content.
func TestHostile49OversizeFieldsKeepTheLine(t *testing.T) {
	var ids []string
	for i := range 3000 {
		ids = append(ids, fmt.Sprint(i))
	}
	arr := `[` + strings.Join(ids, ",") + `]`
	line := `{"msg":"batch done","ids":` + arr + `}`
	// The record the json parser makes of line without keep_original.
	recs := []event.Log{{Body: []byte("batch done"), MessageKey: "msg", Fields: []event.Field{{Key: "ids", Value: arr, Raw: true}},
		Path: "/var/log/pods/ns_p_u/c/0.log", Cursor: event.Cursor{Source: 1, Offset: int64(len(line) + 1)}, Meta: metaFor(1)}}
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.Encoding = encodingOTLPJSON
	cfg.Kafka.MaxMessageBytes = 4 * len(line)
	h := runShipper(t, cfg, nil)
	h.logs <- recs
	h.finish(t)
	got := consume(t, addr, 1, []string{"logs"})
	if n := testutil.ToFloat64(h.s.m.fieldsOmitted); n != 1 {
		t.Fatalf("fields omitted = %v, want 1 (the premise: the fields make it too large)", n)
	}
	if v := got[0].Value; !bytes.Contains(v, []byte("2999")) {
		t.Errorf("record sent without its fields holds %q: the line's ids are lost", v)
	}
	// The message is the parsed line again, a JSON object equal to it.
	var rec struct {
		ResourceLogs []struct {
			ScopeLogs []struct {
				LogRecords []struct {
					Body struct {
						StringValue string `json:"stringValue"`
					} `json:"body"`
				} `json:"logRecords"`
			} `json:"scopeLogs"`
		} `json:"resourceLogs"`
	}
	if err := json.Unmarshal(got[0].Value, &rec); err != nil || len(rec.ResourceLogs) == 0 || len(rec.ResourceLogs[0].ScopeLogs) == 0 ||
		len(rec.ResourceLogs[0].ScopeLogs[0].LogRecords) == 0 {
		t.Fatalf("not an OTLP JSON log record (%v): %.300s", err, got[0].Value)
	}
	if b := rec.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Body.StringValue; b != line {
		t.Errorf("message of the record without fields = %.200q, want the line %.200q", b, line)
	}
}
