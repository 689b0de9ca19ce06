package main

import (
	"bytes"
	"errors"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// otlpKind says how a record value is encoded: ferry's JSON record, an
// OTLP ExportLogsServiceRequest in JSON, or one in protobuf (what
// sink.kafka.encoding writes: json, otlp_json, otlp_proto).
type otlpKind int

const (
	ferryJSON otlpKind = iota
	otlpJSON
	otlpProto
)

func kindOf(b []byte) otlpKind {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		if bytes.HasPrefix(bytes.TrimLeft(t[1:], " \t\r\n"), []byte(`"resourceLogs"`)) {
			return otlpJSON
		}
		return ferryJSON
	}
	return otlpProto
}

var errNoLogRecord = errors.New("no log record in the OTLP request")

// parseOTLPLog reads the first log record of an OTLP logs request (ferry
// writes one per Kafka record) into the fields ferry logs matches and
// prints: the resource's k8s.* attributes (pod labels from
// k8s.pod.label.<key>), the body and the time.
func parseOTLPLog(b []byte, kind otlpKind) (logRecord, plog.Logs, error) {
	var (
		ld  plog.Logs
		err error
	)
	if kind == otlpJSON {
		ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	} else {
		ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	}
	if err != nil {
		return logRecord{}, ld, err
	}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			if lrs.Len() == 0 {
				continue
			}
			lr := lrs.At(0)
			var r logRecord
			r.Time = lr.Timestamp().AsTime().UTC()
			r.Message = lr.Body().AsString()
			k := &r.Kubernetes
			rl.Resource().Attributes().Range(func(key string, v pcommon.Value) bool {
				switch key {
				case "k8s.namespace.name":
					k.Namespace = v.AsString()
				case "k8s.pod.name":
					k.Pod = v.AsString()
				case "k8s.pod.uid":
					k.PodUID = v.AsString()
				case "k8s.container.name":
					k.Container = v.AsString()
				default:
					if l, ok := strings.CutPrefix(key, "k8s.pod.label."); ok {
						if k.Labels == nil {
							k.Labels = map[string]string{}
						}
						k.Labels[l] = v.AsString()
					}
				}
				return true
			})
			return r, ld, nil
		}
	}
	return logRecord{}, ld, errNoLogRecord
}

// otlpLogsText is a stored logs request as text: as stored, and OTLP JSON
// for protobuf.
func otlpLogsText(v []byte, kind otlpKind, ld plog.Logs) []byte {
	if kind != otlpProto {
		return v
	}
	if j, err := (&plog.JSONMarshaler{}).MarshalLogs(ld); err == nil {
		return j
	}
	return v
}
