// Package ship delivers ferry's records to the sink (Kafka, or an NDJSON
// file or stdout for debugging) at least once, in order per key, with
// bounded memory. Like every package under pkg/, it carries no API
// stability promise before v1.
//
// # Guarantees
//
// At least once. A log record's cursor is handed to the Acker only after the
// sink confirmed the request holding it (Kafka: the produce response with
// the configured required_acks; file: write and fsync returned, write alone
// for a path that is not a regular file such as /dev/null; stdout: write
// returned), or after the record was dropped and counted. Retryable
// failures (connection refused or reset, a closed connection, timeouts,
// leadership changes, not enough replicas, an unknown fixed topic,
// TOPIC_AUTHORIZATION_FAILED, INVALID_TIMESTAMP, authentication failures,
// any error not known to be about the record itself) are retried forever
// with exponential backoff and jitter (kafka.retry), and the records
// concerned are not acknowledged meanwhile. Only errors about the record
// itself drop it, counted in ferry_ship_dropped_records_total by reason and
// logged at Warn with its file offset (at most ten lines a second), then
// acknowledged so that its file moves on: too_large (larger than
// kafka.max_message_bytes, or refused by the broker as too large),
// invalid_record, policy_violation; and invalid_topic for every record of a
// topic whose name the brokers refuse. With kafka.drop_unauthorized,
// TOPIC_AUTHORIZATION_FAILED drops the records of that topic (reason
// topic_authorization) instead of holding them. When the broker refuses a
// request of several records for a reason about a record, ship resends
// its front half until the culprit is alone, drops only that one, and then
// sends full requests again: one poisoned record among n costs about
// 2*log2(n) extra requests.
//
// Isolation. Records are held and sent per destination: a topic's
// partition (the debug sinks have one destination). Each destination has a
// lane that keeps its records in arrival order and has at most one request
// in flight; lanes send independently. A destination that cannot take
// records (a partition without leader or with too few replicas, a topic
// that does not exist or is not authorized, a broker slower than
// write_timeout) holds only its own records: metric records never wait
// behind log records nor log records behind metric records, and the other
// partitions of a topic keep flowing. Records of a topic whose partitions
// cannot be looked up wait in one lane for the topic until they can.
// A topic template's render is bounded (maxTopicRender, 1 KiB): its output
// and every value printf, html, js or urlquery return in it, and printf
// refuses widths and precisions over 249 or from an argument. A render
// that passes the bound stops there and its record goes to
// kafka.fallback_topic, counted in ferry_ship_fallback_topic_records_total
// like an invalid name; Validate refuses a template whose render for a pod
// with the longest metadata Kubernetes allows passes it.
// A log record whose topic template names a topic the brokers do not know
// (and kafka.allow_auto_topic_creation is off) goes to kafka.fallback_topic
// rather than wait; that topic is tried again after a minute. A fixed topic
// that does not exist, or a fallback topic that does not exist, holds its
// records (retried and reported) until it does.
//
// Reporting. A failing destination is logged at Warn on its first failure
// and then at most once a minute (other attempts at Debug), with its topic,
// partition, reason and a hint; ferry_ship_destination_failures_total
// counts the attempts by destination and reason, and
// ferry_ship_destination_unconfirmed_age_seconds shows how long its oldest
// record has waited. Destination labels are bounded: the configured topic
// names (kafka.topic when fixed, kafka.fallback_topic,
// kafka.metrics_topic), "templated" for every topic a template made, or
// the debug sink's name; never a partition. Ready returns an error, naming
// the destination and its last error, when the oldest record not yet
// confirmed has waited longer than kafka.not_ready_after (default 1m; 1m
// for the debug sinks); the agent's /readyz reports it.
//
// Duplicates. kafka-go has no idempotent producer (no producer ID, epoch
// or sequence numbers in its produce requests), so a request the client
// gave up on may still be stored by the broker, and its retry then stores
// a second copy: consumers must tolerate duplicates. Ship bounds them: a
// destination never has two attempts of a request in flight; the first
// attempt waits write_timeout for its answer, and each timed-out attempt
// makes the next one of that destination wait four times longer (up to 64
// times write_timeout; the level comes down one step at a time when
// answers come back in under half the lower level's wait). A broker that
// answers in L therefore stores a record at most 1 + ceil(log4(L /
// write_timeout)) times (twice for answers up to four times
// write_timeout), not once per write_timeout for as long as it is slow.
//
// Timestamps. Every attempt stamps its records with the attempt's time, so
// a record retried through a long outage is not refused by brokers that
// bound timestamps (message.timestamp.before.max.ms); the time the line
// was written and read stays in the record's JSON (time, and ship keeps
// its read time for ferry_read_to_ack_seconds). A broker that still
// answers INVALID_TIMESTAMP refuses this node's clock, not a record: the
// records are held and retried, and the failure is reported.
//
// Order. Records with the same key (log records: the pod UID; metric
// records: the node name) go to one partition and keep their order within
// it, retries included: a lane sends its front records and resends failed
// ones before anything that came after them. Ship forms, bounds and
// retries its requests itself, and sends them with kafka-go's Client and
// Transport, not its Writer (whose own batching, retries and per-partition
// buffers would have to be defeated); kafka-go does not retry produce
// requests. Records wait at most batch.linger to be placed in their lanes
// together; a request carries at most batch.max_bytes including Kafka's
// per-record overhead (so an uncompressed request fits a broker's default
// message.max.bytes).
//
// Other settings are explicit too: RequiredAcks (all by default, none
// refused), Compression (lz4 by default, chosen by BenchmarkCodec: see
// bench/README.md; LZ4 frames with 64 KiB blocks and no content checksum,
// as Kafka's Java producer writes them), the
// request timeout (see Duplicates; kafka-go gives the brokers half of an
// attempt's wait to reach required_acks), Transport DialTimeout, ClientID,
// TLS, SASL and MetadataTTL (6s), auto-creation of topics. Each topic's
// partition count is looked up once per flush, from a one-second cache in
// front of the Transport.
//
// Partitioning is murmur2 over the key (kafka.Murmur2Balancer), like the
// Java client and librdkafka, so other producers of the same keys agree.
// Records without a key (key: none, or no pod UID) go to a random partition,
// the same for all the unkeyed records of one topic placed together (as
// the Java client's sticky partitioner does).
// Adding partitions to a topic moves keys, as with any Kafka producer.
//
// Ack is called from a single goroutine, once per confirmed request (and
// once per record dropped before it was sent), with a slice ship does not
// touch afterwards. Records of different destinations are acknowledged in
// the order they are confirmed, not the order they were read; the tailer
// commits a file's longest acknowledged prefix.
//
// Bounded memory. Ship holds at most four requests' worth of log records
// plus one largest record (4*batch.max_bytes + max_message_bytes; the debug
// sinks, with one destination, two requests' worth), one request's worth
// of metric records, and what arrived in one input slice beyond that
// (ferry_ship_held_bytes, ferry_ship_held_bytes_limit). When
// a kind's budget is full, ship stops reading that kind's input: the
// backpressure reaches the tailer (the files on disk are the buffer) or
// the host metrics collector (which drops its oldest snapshot and counts
// it). One stuck destination can fill the whole log budget: reading then
// stops for every destination until it takes records again or the agent
// is restarted. Ship says so: ferry_ship_budget_full_total{destination}
// counts each time reading stops, labelled with the destination holding
// the most, and a warning names its topic and partition (at most once a
// minute); readiness fails after not_ready_after.
//
// Shutdown. When Logs is closed (and Metrics closed or nil), Run sends what
// it holds, waits for every confirmation and acknowledgement, and returns
// nil; a destination that takes nothing (a missing metrics topic) makes it
// wait until the hard stop. Cancelling Run's context is the hard stop: Run
// cancels the requests in flight, waits for their goroutines, and returns;
// unconfirmed log records are not acknowledged (they will be read again
// after a restart), metric records still held are dropped and counted
// (reason "shutdown": metric snapshots are acknowledged to no one). The agent gives a graceful
// flush a deadline by closing Logs first and cancelling the context when
// the deadline passes.
//
// # Records
//
// Each message is one JSON document. Log records:
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
// ferry_ship_batches_total (confirmed requests), ferry_ship_retries_total,
// ferry_ship_send_failures_total, ferry_ship_dropped_records_total{record,reason},
// ferry_ship_fallback_topic_records_total, ferry_ship_batch_duration_seconds
// (one request's round trip), ferry_ship_held_bytes,
// ferry_ship_held_bytes_limit, ferry_ship_destination_failures_total{destination,reason},
// ferry_ship_destination_unconfirmed_age_seconds{destination},
// ferry_ship_destination_held_records{destination},
// ferry_ship_budget_full_total{destination}, the pipeline's
// ferry_read_to_ack_seconds (observed at ack time from event.Log.ReadAt),
// ferry_ship_kafka_dials_total{result} and
// ferry_ship_kafka_produce_requests_total{result} (one request per
// destination attempt).
package ship
