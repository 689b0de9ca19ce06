// Package ship delivers ferry's records to the sink (Kafka, or an NDJSON
// file or stdout for debugging) at least once, in order per key, with
// bounded memory. Like every package under pkg/, it carries no API
// stability promise before v1.
//
// # Guarantees
//
// At least once. A log record's cursor is handed to the Acker only after the
// sink confirmed the batch holding it (Kafka: the produce response with the
// configured required_acks; file: write and fsync returned, write alone
// for a path that is not a regular file such as /dev/null; stdout: write
// returned), or after the record was dropped and counted. Retryable
// failures (connection refused or reset, a closed connection, timeouts,
// leadership changes, not enough replicas, unknown topic, authentication
// failures, any error not known to be about the record itself) are retried
// forever with exponential backoff and jitter (kafka.retry), and nothing of
// the failing batch is acknowledged meanwhile. Only errors about the record
// itself drop it, counted in ferry_ship_dropped_records_total by reason and
// logged at Warn with its file offset, then acknowledged so that its file
// moves on: too_large (larger than kafka.max_message_bytes, or refused by
// the broker as too large), invalid_topic, topic_authorization,
// invalid_record, policy_violation. When the broker refuses a batch of
// several records for such a reason, ship resends them in halves to find
// the culprit, so that one poisoned record never takes others with it.
// A log record whose topic template names a topic the brokers do not know
// (and kafka.allow_auto_topic_creation is off) goes to kafka.fallback_topic
// rather than wait forever; that topic is tried again after a minute. A
// fixed topic that does not exist is retried (and logged) until it does.
// A record can be delivered twice (a retry after a timeout the broker had
// in fact served; ship does not use Kafka's idempotent producer): consumers
// must tolerate duplicates.
//
// Order. Records with the same key (log records: the pod UID; metric
// records: the node name) keep their order within their partition, retries
// included. Ship forms, bounds and retries its batches itself, and sends
// them with kafka-go's Client and Transport, not its Writer (whose own
// batching, retries and per-partition buffers would have to be defeated):
//   - one batch is in flight at a time, and the next starts only when every
//     record of the previous one was confirmed or dropped;
//   - a batch goes out as one produce request per partition (concurrently),
//     which the partition's leader accepts or refuses as a whole: a
//     partition's records are never split across requests;
//   - kafka-go does not retry produce requests; ship resends failed records,
//     in their original order, before anything that came after them.
//
// Other settings are explicit too: RequiredAcks (all by default, none
// refused), Compression (LZ4 frames with 64 KiB blocks and no content
// checksum, as Kafka's Java producer writes them), the request timeout
// (write_timeout, also given to the brokers to reach required_acks),
// Transport DialTimeout, ClientID, TLS, SASL and MetadataTTL (6s),
// auto-creation of topics. A batch looks up each topic's partition count
// once, from a one-second cache in front of the Transport.
//
// Partitioning is murmur2 over the key (kafka.Murmur2Balancer), like the
// Java client and librdkafka, so other producers of the same keys agree.
// Records without a key (key: none, or no pod UID) go to a random partition,
// the same for all of a batch's unkeyed records of one topic (as the Java
// client's sticky partitioner does).
// Adding partitions to a topic moves keys, as with any Kafka producer.
//
// Ack is called from a single goroutine, once per batch, with a slice ship
// does not touch afterwards. A batch is acknowledged as a whole, when its
// last record is resolved.
//
// Bounded memory. Ship holds at most two batches: one being filled and one
// in flight, each at most batch.max_bytes including Kafka's per-record
// overhead (so an uncompressed batch fits a broker's default
// message.max.bytes), or a single record of up to max_message_bytes
// (ferry_ship_held_bytes, ferry_ship_held_bytes_limit). When the sink is
// slow or down, ship stops reading its input channels: the backpressure
// reaches the tailer, and the files on disk are the buffer.
//
// Shutdown. When Logs is closed (and Metrics closed or nil), Run sends what
// it holds, waits for every confirmation and acknowledgement, and returns
// nil. Cancelling Run's context is the hard stop: Run returns promptly,
// unconfirmed log records are not acknowledged (they will be read again
// after a restart), metric records still held are dropped and counted
// (reason "shutdown": metric snapshots are acknowledged to no one). The
// agent gives a graceful flush a deadline by closing Logs first and
// cancelling the context when the deadline passes.
//
// # Records
//
// Each message is one JSON document. Log records follow ARCHITECTURE.md:
//
//	{"time":"2026-11-26T03:55:09.123456789Z","stream":"stdout","message":"GET /cart 200",
//	 "kubernetes":{"namespace":"shop","pod":"checkout-7d9f8","pod_uid":"…","container":"app",
//	   "container_id":"…","image":"…","node":"node-1","labels":{"app":"checkout"},
//	   "owner":{"kind":"Deployment","name":"checkout"}},
//	 "file":"/var/log/pods/…/app/0.log","offset":12345,"truncated":false}
//
// time is RFC 3339 in UTC with exactly nine fractional digits. message is the
// line as a JSON string: invalid UTF-8 is replaced by U+FFFD byte by byte,
// as encoding/json does. Map keys are sorted. A record without metadata has
// every kubernetes field empty (labels {}). Two optional objects appear
// inside kubernetes only when non-empty: annotations (the pod annotations
// that matched kubernetes.annotations) and namespace_labels.
//
// Metric records (topic kafka.metrics_topic; the same stream for the debug
// sinks), one per sample:
//
//	{"name":"node_cpu_seconds_total","labels":{"cpu":"0","mode":"idle"},"value":1234.5,
//	 "type":"counter","time":"2026-11-26T03:55:09.000000000Z","node":"node-1"}
//
// name is node_exporter's metric name; labels an object of string values in
// the order collected ({} when none); value a JSON number, or null when the
// sample is NaN or infinite; type "gauge" or "counter"; time the snapshot's
// instant (same format as log records); node the node name.
//
// # Metrics
//
// ferry_ship_records_sent_total{record}, ferry_ship_sent_bytes_total{record},
// ferry_ship_batches_total, ferry_ship_retries_total,
// ferry_ship_send_failures_total, ferry_ship_dropped_records_total{record,reason},
// ferry_ship_fallback_topic_records_total, ferry_ship_batch_duration_seconds,
// ferry_ship_held_bytes, ferry_ship_held_bytes_limit, the pipeline's
// ferry_read_to_ack_seconds (observed at ack time from event.Log.ReadAt),
// ferry_ship_kafka_dials_total{result} and
// ferry_ship_kafka_produce_requests_total{result} (one request per
// partition of a batch).
package ship
