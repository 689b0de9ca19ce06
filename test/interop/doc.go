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
// TestKcatReadsEveryCodec ships the same lines and a small snapshot with
// each compression codec ferry offers (none, gzip, snappy, lz4, zstd) in
// each encoding (json, otlp_proto, otlp_json), and reads both topics back
// with librdkafka's consumer (Debian's kcat) and with franz-go: both must
// read the same records byte for byte, and every value must decode to the
// line or sample shipped.
//
// They need the Collector's binary in FERRY_OTELCOL_INTEROP and kcat's in
// FERRY_KCAT:
//
//	FERRY_OTELCOL_INTEROP=$(hack/peers.sh otelcol-interop) FERRY_KCAT=$(hack/peers.sh kcat) go test ./test/interop/
//
// hack/test.sh builds the Collector (once, cached), installs kcat when it
// is missing, and sets both; without them the tests are skipped, except
// under .ci/run (FERRY_CI=1), where a missing binary fails them.
package interop
