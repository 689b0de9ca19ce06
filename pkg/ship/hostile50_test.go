package ship

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/ferry-dev/ferry/pkg/event"
)

// hostile50Record is a parsed line whose message, keys and field values
// hold quotes, backslashes, control characters, invalid UTF-8 and
// non-ASCII text, with raw fields (a number, a nested object) and one
// large raw array that makes the fields too large to send. It returns
// the record (as the json parser makes it without keep_original) and the
// line it stands for, written by encoding/json.
func hostile50Record(i int) (event.Log, string) {
	var ids []string
	for n := range 1500 {
		ids = append(ids, fmt.Sprint(n))
	}
	arr := "[" + strings.Join(ids, ",") + "]"
	key := "m\"sg\\\n"
	body := "he said \"hi\" \\ back\x01\ttab \u00fc \u65e5\u672c \xff end\nsecond line \xe6\x97"
	fields := []event.Field{
		{Key: "k\"ey\\\x7f", Value: "v\x00al \xfe \u2603 \u2028 </script>"},
		{Key: "n", Value: "12.5e3", Raw: true},
		{Key: "obj", Value: `{"a":[1,"x\"y",{"b":null}],"c":true}`, Raw: true},
		{Key: "\u00e9t\u00e9", Value: "caf\u00e9"},
		{Key: "ids", Value: arr, Raw: true},
	}
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	line := "{" + str(key) + ":" + str(body)
	for _, f := range fields {
		v := f.Value
		if !f.Raw {
			v = str(v)
		}
		line += "," + str(f.Key) + ":" + v
	}
	line += "}"
	return event.Log{Body: []byte(body), MessageKey: key, Fields: fields, Lines: 2, Time: time.Unix(1796000000, 123),
		Path: "/var/log/pods/ns_p_u/c/0.log", Cursor: event.Cursor{Source: 1, Offset: int64(1000 * (i + 1))}, Meta: metaFor(1)}, line
}

// hostile50Sizes is what a record encodes to in enc with its fields, and
// without them, its message the parsed line.
func hostile50Sizes(enc string, e event.Log) (with, line int) {
	ll := &loop{enc: newEncoder()}
	if enc != encodingJSON {
		ll.otlp = newOTLPEncoder(enc)
	}
	with = len(ll.appendLog(nil, &e))
	short := e
	short.Fields, short.MessageKey, short.Body = nil, "", appendLineObject(nil, &e)
	return with, len(ll.appendLog(nil, &short))
}

// hostile50Bodies decodes the messages of records sent in enc.
func hostile50Bodies(t *testing.T, enc string, vals [][]byte) []string {
	t.Helper()
	var out []string
	for _, v := range vals {
		switch enc {
		case encodingJSON:
			var r struct {
				Message string `json:"message"`
				Lines   int    `json:"lines"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				t.Fatalf("json record not JSON: %v: %.300q", err, v)
			}
			if r.Lines != 2 {
				t.Errorf("json record lines = %d, want 2", r.Lines)
			}
			out = append(out, r.Message)
		default:
			var ld plog.Logs
			var err error
			if enc == encodingOTLPProto {
				ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(v)
			} else {
				ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(v)
			}
			if err != nil || ld.LogRecordCount() != 1 {
				t.Fatalf("%s record not one OTLP log (%v): %.300q", enc, err, v)
			}
			out = append(out, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
		}
	}
	return out
}

func hostile50Decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("message %.200q is not JSON: %v", s, err)
	}
	if d.More() {
		t.Fatalf("message %.200q holds more than one JSON value", s)
	}
	return v
}

// TestHostile50OmittedFieldsLineRoundTrips: in the OTLP encodings, two
// records whose fields make them too large (a limit between their size
// with the fields and their size with the parsed line as the message)
// are each sent once, fields_omitted counted once per record, and the
// message of each decodes to the same object as the line (invalid UTF-8
// as U+FFFD, as encoding/json writes it), its message key first. (In the
// json encoding the line is never smaller than the record with its
// fields: TestHostile50JSONOmittedFieldsNotDropped.)
func TestHostile50OmittedFieldsLineRoundTrips(t *testing.T) {
	for _, enc := range []string{encodingOTLPJSON, encodingOTLPProto} {
		t.Run(enc, func(t *testing.T) {
			e0, line := hostile50Record(0)
			e1, _ := hostile50Record(1)
			with, asLine := hostile50Sizes(enc, e0)
			limit := asLine + 64
			if limit >= with {
				t.Fatalf("premise: the line (%d bytes) is not smaller than the record with its fields (%d) in %s", asLine, with, enc)
			}
			_, addr := startCluster(t)
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = "none"
			cfg.Kafka.Encoding = enc
			cfg.Kafka.MaxMessageBytes = limit
			h := runShipper(t, cfg, nil)
			h.logs <- []event.Log{e0, e1}
			h.finish(t)
			got := consume(t, addr, 2, []string{"logs"})
			if n := testutil.ToFloat64(h.s.m.fieldsOmitted); n != 2 {
				t.Errorf("fields omitted = %v, want 2 (once per record)", n)
			}
			if len(got) != 2 {
				t.Fatalf("%d records sent, want 2", len(got))
			}
			var vals [][]byte
			for _, r := range got {
				if len(r.Value) > limit {
					t.Errorf("record of %d bytes sent over the limit %d", len(r.Value), limit)
				}
				vals = append(vals, r.Value)
			}
			want := hostile50Decode(t, line)
			for _, b := range hostile50Bodies(t, enc, vals) {
				if !reflect.DeepEqual(hostile50Decode(t, b), want) {
					t.Errorf("message %.300q\ndecodes other than the line %.300q", b, line)
				}
				if k, _ := json.Marshal(e0.MessageKey); !strings.HasPrefix(b, "{"+string(k)+":") {
					t.Errorf("message %.80q does not start with its key %s", b, k)
				}
			}
		})
	}
}

// TestHostile50LineTooLargeDropped: a record whose parsed line is itself
// larger than the limit, and its message alone too, is dropped and
// counted too_large in every encoding: nothing sent over the limit, no
// fields_omitted.
func TestHostile50LineTooLargeDropped(t *testing.T) {
	for _, enc := range []string{encodingJSON, encodingOTLPJSON, encodingOTLPProto} {
		t.Run(enc, func(t *testing.T) {
			e, _ := hostile50Record(0)
			e.Body = bytes.Repeat([]byte("m\""), 4000)
			_, addr := startCluster(t)
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = "none"
			cfg.Kafka.Encoding = enc
			cfg.Kafka.MaxMessageBytes = 4000
			h := runShipper(t, cfg, nil)
			small := event.Log{Body: []byte("sentinel"), Time: e.Time, Path: e.Path, Cursor: event.Cursor{Source: 1, Offset: 99999}, Meta: e.Meta}
			h.logs <- []event.Log{e, small}
			h.finish(t)
			got := consume(t, addr, 1, []string{"logs"})
			if len(got) != 1 || !bytes.Contains(got[0].Value, []byte("sentinel")) {
				t.Errorf("%d records sent, want the sentinel alone", len(got))
			}
			if n := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); n != 1 {
				t.Errorf("too_large = %v, want 1", n)
			}
			if n := testutil.ToFloat64(h.s.m.fieldsOmitted); n != 0 {
				t.Errorf("fields omitted = %v, want 0 (the record was not sent)", n)
			}
		})
	}
}

// TestHostile50JSONOmittedFieldsNotDropped: in the json encoding the
// fields are written as they were parsed (raw values verbatim), so the
// parsed line as one escaped string is never smaller than the record
// with its fields. A record whose fields push it just over the limit,
// and whose message alone fits, was sent without its fields before the
// message became the parsed line; it must still be sent (the line if it
// fits, else its message alone), not dropped whole as too_large.
func TestHostile50JSONOmittedFieldsNotDropped(t *testing.T) {
	var ids []string
	for i := range 3000 {
		ids = append(ids, fmt.Sprint(i))
	}
	e := event.Log{Body: []byte("batch done"), MessageKey: "msg", Fields: []event.Field{{Key: "ids", Value: "[" + strings.Join(ids, ",") + "]", Raw: true}},
		Time: time.Unix(1796000000, 0), Path: "/var/log/pods/ns_p_u/c/0.log", Cursor: event.Cursor{Source: 1, Offset: 20000}, Meta: metaFor(1)}
	with, _ := hostile50Sizes(encodingJSON, e)
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.Encoding = encodingJSON
	cfg.Kafka.MaxMessageBytes = with - 1
	h := runShipper(t, cfg, nil)
	h.logs <- []event.Log{e}
	h.finish(t)
	if n := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); n != 0 {
		t.Errorf("record dropped as too_large (%v) where without its fields its message fits %d bytes", n, with-1)
	}
	if n := testutil.ToFloat64(h.s.m.fieldsOmitted); n != 1 {
		t.Fatalf("fields omitted = %v, want 1", n)
	}
	got := consume(t, addr, 1, []string{"logs"})
	if len(got) != 1 || !bytes.Contains(got[0].Value, []byte("batch done")) {
		t.Errorf("record not sent: %d records", len(got))
	}
}
