//go:build !nodemo

package main

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// demoRecord is what the demo's reader takes of a log record, in any
// encoding the sink writes.
type demoRecord struct {
	message, file string
	lines         int
	fields        bool   // processing parsed fields into it
	owner         string // "<kind>/<name>" of the pod's workload
	// show is the record as text: as stored, or an OTLP protobuf request
	// as OTLP JSON.
	show []byte
}

// decodeDemoLog reads a log record value in any encoding the sink writes.
func decodeDemoLog(v []byte) (demoRecord, error) {
	kind := kindOf(v)
	if kind == ferryJSON {
		var rec struct {
			Message    string          `json:"message"`
			File       string          `json:"file"`
			Lines      int             `json:"lines"`
			Fields     json.RawMessage `json:"fields"`
			Kubernetes struct {
				Owner struct{ Kind, Name string } `json:"owner"`
			} `json:"kubernetes"`
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return demoRecord{}, err
		}
		d := demoRecord{message: rec.Message, file: rec.File, lines: rec.Lines, fields: rec.Fields != nil, show: v}
		if o := rec.Kubernetes.Owner; o.Kind != "" {
			d.owner = o.Kind + "/" + o.Name
		}
		return d, nil
	}
	r, ld, err := parseOTLPLog(v, kind)
	if err != nil {
		return demoRecord{}, err
	}
	d := demoRecord{message: r.Message, show: otlpLogsText(v, kind, ld)}
	rl := ld.ResourceLogs().At(0)
	rl.Resource().Attributes().Range(func(k string, val pcommon.Value) bool {
		// k8s.deployment.name, k8s.statefulset.name, ...: the owner.
		w, _ := strings.CutSuffix(strings.TrimPrefix(k, "k8s."), ".name")
		if kind, ok := ownerKinds[w]; ok && strings.HasPrefix(k, "k8s.") {
			d.owner = kind + "/" + val.AsString()
		}
		return true
	})
	rl.ScopeLogs().At(0).LogRecords().At(0).Attributes().Range(func(k string, val pcommon.Value) bool {
		switch k {
		case "log.file.path":
			d.file = val.AsString()
		case "ferry.lines":
			d.lines = int(val.Int())
		case "log.iostream", "ferry.truncated":
		default:
			d.fields = true
		}
		return true
	})
	return d, nil
}

// ownerKinds names the workload kinds of the semantic conventions'
// k8s.<kind>.name attributes.
var ownerKinds = map[string]string{
	"deployment": "Deployment", "replicaset": "ReplicaSet", "statefulset": "StatefulSet",
	"daemonset": "DaemonSet", "job": "Job", "cronjob": "CronJob",
}

// showDemoMetric returns a metric record as text (an OTLP protobuf
// request as OTLP JSON).
func showDemoMetric(v []byte) []byte {
	if kindOf(v) != otlpProto {
		return v
	}
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(v)
	if err != nil {
		return v
	}
	if j, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md); err == nil {
		return j
	}
	return v
}
