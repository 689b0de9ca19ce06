// Package interop proves ferry's OTLP records against the consumer they are
// for: the OpenTelemetry Collector's Kafka receiver (contrib v0.165.1),
// built from Go modules by hack/peers.sh otelcol-interop with only the Kafka
// receiver and the file exporter.
//
// TestCollectorReadsFerry ships log records (several pods, a line without
// metadata, stderr, levels, parsed fields, invalid UTF-8, a multiline and a
// truncated record) and a real host metrics snapshot of this machine
// (pkg/hostmetrics) with pkg/ship to an in-process Kafka-protocol broker
// (kfake, 127.0.0.1), in otlp_proto and in otlp_json; runs the Collector
// with the kafka receiver (same encoding, one topic per signal) and the file
// exporter; waits (polling with a deadline) until the Collector's files hold
// every record; and checks every log record (body, timestamps, severity,
// resource and attributes) and every metric sample (name, type,
// temporality, monotonicity, unit, start time, value, attributes,
// resource).
//
// It needs the Collector's binary in FERRY_OTELCOL_INTEROP:
//
//	FERRY_OTELCOL_INTEROP=$(hack/peers.sh otelcol-interop) go test ./test/interop/
//
// hack/test.sh builds it (once, cached) and sets the variable; without it
// the test is skipped, except under .ci/run (FERRY_CI=1), where a missing
// binary fails it.
package interop
