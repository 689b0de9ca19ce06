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
// invalid_record, policy_violation, corrupt_message (see below); and invalid_topic for every record of a
// topic whose name the brokers refuse. With kafka.drop_unauthorized,
// TOPIC_AUTHORIZATION_FAILED drops the records of that topic (reason
// topic_authorization) instead of holding them. When the broker refuses a
// request of several records for a reason about a record, ship resends
// its front half until the culprit is alone, drops only that one, and then
// sends full requests again: one poisoned record among n costs about
// 2*log2(n) extra requests.
//
// CORRUPT_MESSAGE (the broker's CRC check of a request failed) is first
// taken for a transfer damaged on the way, as Kafka does (it marks the
// error retriable): the request is retried with the usual backoff
// (counted as a failure with reason corrupt_message). Only when the same
// request is answered so 3 times in a row is the corruption taken for a
// property of its records: a request of several records is then bisected
// like any request refused for a record, and a lone record answered
// CORRUPT_MESSAGE 3 times in a row is dropped (reason corrupt_message). A
// delivery, a drop or a bisection starts the count again. The broker
// stores nothing of a batch it finds corrupt, so these retries make no
// copies; their timeouts are bounded as every retry's (see Duplicates).
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
// A topic is unknown when the brokers' metadata says so: kafka-go fails
// a request it cannot route by metadata it could not fetch (every broker
// unreachable) as if the topic did not exist, and ship asks the metadata
// again before it believes that (otherwise a network failure: a broker
// down does not send a templated topic's records to the fallback topic).
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
// for the debug sinks); the agent's /readyz reports it. Every age ship
// reports (Ready, ferry_ship_destination_unconfirmed_age_seconds,
// ferry_read_to_ack_seconds, LastSuccess) is measured by the monotonic
// clock: an NTP step of the node's wall clock (an hour back, a day
// forward) neither hides a stuck sink nor shows a delay that was not
// (the line's read time, the tailer's wall clock, is compared with the
// wall clock once, when ship takes the record).
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
// Not bounded this way (known; test/hostile,
// TestHostileNotEnoughReplicasAfterAppend): a broker that answers at once
// with an error meaning it stored the records on the leader but could not
// confirm them (NOT_ENOUGH_REPLICAS_AFTER_APPEND, or REQUEST_TIMED_OUT
// from a broker waiting for its replicas) gets one copy per retry, at most
// one per backoff_max while it lasts, as with any producer without
// idempotence.
//
// Timestamps. Every attempt stamps its records with the attempt's time, so
// a record retried through a long outage is not refused by brokers that
// bound timestamps (message.timestamp.before.max.ms); the time the line
// was written stays in the record (JSON: time; OTLP: timeUnixNano, and the
// read time as observedTimeUnixNano), and ship keeps its read time for
// ferry_read_to_ack_seconds. A broker that still
// answers INVALID_TIMESTAMP refuses this node's clock, not a record: the
// records are held and retried, and the failure is reported.
//
// Order. Records with the same key (log records: the pod UID; metric
// records: the node name), and the unkeyed log records of one file, go to
// one partition and keep their order within it, retries included: a lane sends its front records and resends failed
// ones before anything that came after them. Ship forms, bounds and
// retries its requests itself, and sends them with kafka-go's Client and
// Transport, not its Writer (whose own batching, retries and per-partition
// buffers would have to be defeated); kafka-go does not retry produce
// requests. Records wait at most batch.linger to be placed in their lanes
// together; a lane's batch carries at most batch.max_bytes including
// Kafka's per-record overhead (so an uncompressed batch fits a broker's
// default message.max.bytes).
//
// Shared requests. The lanes ready at once whose partitions one broker
// leads (by the last metadata) send their batches in one produce request,
// up to batch.max_bytes in all (a full batch goes alone): at low rates a
// broker receives about one produce request per batch.linger from an
// agent, not one per partition. Only lanes that are not failing share: a
// lane retrying, or bisecting for a refused record, sends alone, so a
// destination that cannot take records still holds only its own. The
// broker answers each partition separately and each lane applies its own
// partition's answer, exactly as if it had sent alone (delivered,
// retried, bisected, dropped); the answers of one request are applied
// together, so its lanes stay ready together. A shared request that times
// out is one attempt of each of its lanes (see Duplicates).
//
// Other settings are explicit too: RequiredAcks (all by default, none
// refused), Compression (lz4 by default, chosen by BenchmarkCodec: see
// bench/README.md; LZ4 frames with 64 KiB blocks and no content checksum,
// as Kafka's Java producer writes them), the
// request timeout (see Duplicates; kafka-go gives the brokers half of an
// attempt's wait to reach required_acks), Transport DialTimeout, ClientID,
// TLS, SASL, auto-creation of topics. Each topic's partition count is
// looked up once per flush, from a one-second cache in front of the
// Transport.
//
// Metadata (meta.go). The cluster metadata covers only the topics in use
// (kafka.topic or the topics its template made recently, the fallback and
// metrics topics; every topic while more than 256 are in use). It is
// refreshed when a request needs it and it is older
// than kafka.metadata_max_age (5m), as the Java producer's
// metadata.max.age.ms; at once (at most once a second) when an answer
// means it is stale: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
// LEADER_NOT_AVAILABLE and the other errors the Java producer refreshes on,
// a broken broker connection, a failed metadata request; and when a topic
// comes into use. An agent with nothing to send asks for none. kafka-go's
// Transport cannot be told to refresh, so a refresh replaces it (a new
// bootstrap connection, and a new connection to each leader at its next
// request); ferry_ship_kafka_metadata_refreshes_total{cause} counts them.
// A connection's opening exchange (TCP, TLS, ApiVersions, SASL) is
// bounded by kafka.dial_timeout and a metadata request on the wire by
// kafka.write_timeout, on the connection itself (wire.go): kafka-go runs
// SASL without a deadline and gives its metadata requests MetadataTTL, so
// a broker answering neither would otherwise keep one connection and its
// goroutine per refresh, forever.
// Ping sends an ApiVersions request (the cheapest a broker answers) on the
// bootstrap connection; the agent pings only when no delivery proved the
// sink within 10 s.
//
// Requests. ferry_ship_kafka_requests_total{api} counts every request
// written to a broker connection (produce, metadata, api_versions,
// sasl_handshake, sasl_authenticate, other), read from the connection's
// bytes under TLS: the Transport's own metadata requests and each new
// connection's ApiVersions are counted too, which a RoundTripper in front
// of the Transport would not see.
//
// Partitioning is murmur2 over the key (kafka.Murmur2Balancer), like the
// Java client and librdkafka, so other producers of the same keys agree.
// Log records without a key (key: none, or no pod UID) go to one
// partition per file: a hash of the file's source identity (the tailer's
// Cursor.Source) over the topic's partitions. key: none means the records
// carry no key and files, not pods, spread over the partitions; it does
// not mean lines of a file spread over them. The reason is the
// acknowledgement: the tailer commits a file's longest acknowledged
// prefix, so lines of a file confirmed on one partition after a line
// still held for another would be read (and delivered) again after any
// restart, without bound while that partition refuses. With every line
// of a file in one lane, confirmed in order, a file's unacknowledged part
// is at most what its one partition holds (bounded by the log budget),
// and the lines other partitions confirmed are never read again.
// Unkeyed metric records (key: none) go to a random partition, the same
// for all those of one topic placed together (as the Java client's
// sticky partitioner does).
// Adding partitions to a topic moves keys and files, as with any Kafka
// producer; a file's records held at that moment are confirmed apart
// from its new ones, so until they are, its acknowledged prefix can lag
// behind them (what the old partition holds).
//
// Fewer partitions. Kafka cannot shrink a topic; an operator deletes it and
// creates it again with fewer. Records held for a partition that no longer
// exists are then placed again by the topic's current partition count
// (their key's or file's new partition), in their order,
// counted in ferry_ship_replaced_records_total{record,reason="partition_gone"},
// and not dropped: at least once still holds. This happens when a flush
// first looks the topic up and finds fewer partitions, before any new
// record is placed by the new count, and when an attempt is answered
// UNKNOWN_TOPIC_OR_PARTITION or the client's metadata lacks the partition
// (failure reasons unknown_topic and unknown_partition, which refresh the
// metadata). A lane with a request in flight at that moment moves after
// its answer; meanwhile the new records of its keys (or files) join it,
// and records that came while the topic did not exist are placed after
// the moved ones: every key keeps its order. While the topic does not exist at
// all, its records are held and retried as for any missing fixed topic.
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
// it). A failing destination (a partition refusing, a topic missing) that
// holds log records worth more than a quarter of the log budget holds back the files whose
// records it holds (Options.Holdback): the tailer stops reading them
// (their lines wait on disk) and the other files go on, so one stuck
// destination does not stop the node's logs. When the failing
// destinations together hold log records worth more than half of the
// budget (metric records, whose budget is their own, do not count), each of them
// holds back its files, however little it holds alone. A destination's
// files are released when it takes records again, or when it holds less
// than an eighth of the budget and the failing ones together less than a
// quarter (ferry_ship_held_back_files; a warning names the topic and
// partition, or the number of destinations). Records of those files
// already read still arrive (a batch or two), so failing destinations can
// still fill the budget when what was read before they failed is more
// than the healthy ones free: reading then stops until one takes records
// again. Ship says so: ferry_ship_budget_full_total{destination}
// counts each time reading stops, labelled with the destination holding
// the most, and a warning names its topic and partition (at most once a
// minute); readiness fails after not_ready_after.
//
// Shutdown. When Logs is closed (and Metrics closed or nil), Run sends what
// it holds, waits for every confirmation and acknowledgement, and returns
// nil. Lanes waiting to retry try again at once, and then at least every
// half second. It does not wait long for destinations that refuse their
// records (unknown topic or partition, topic authorization failed; a
// missing metrics topic): once nothing is in flight and only destinations
// refused for the first two seconds of the drain hold records, and an
// unknown topic or partition was refused again after a metadata refresh
// made then (the refusals before were judged by metadata up to a second
// older: a topic created meanwhile is found), Run warns naming each and
// returns as
// at a hard stop (log records unacknowledged, metric records dropped and
// counted), with an error when log records were left, so that a rolling
// update does not spend shutdown_timeout on every node. Other failures (a
// broker down, timeouts) are retried until the hard stop. Cancelling Run's
// context is the hard stop: Run
// cancels the requests in flight, waits for their goroutines, and returns;
// unconfirmed log records are not acknowledged (they will be read again
// after a restart), metric records still held are dropped and counted
// (reason "shutdown": metric snapshots are acknowledged to no one). The agent gives a graceful
// flush a deadline by closing Logs first and cancelling the context when
// the deadline passes.
//
// # Records
//
// kafka.encoding chooses what a Kafka message holds: json (the default,
// below), or otlp_proto / otlp_json (see OTLP records). Every encoding
// makes one message per log record and one per metric sample, with the
// same keys and partitions. The debug sinks always write JSON.
//
// In json, each message is one JSON document. Log records:
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
// # OTLP records
//
// With otlp_proto (protobuf) or otlp_json (OTLP/JSON) a message is what the
// OpenTelemetry Collector's Kafka exporter writes and its Kafka receiver
// reads with the same encoding name: one marshalled
// ExportLogsServiceRequest (a log record) or ExportMetricsServiceRequest (a
// metric sample) as the value, with no framing of its own. The requests
// are marshalled by go.opentelemetry.io/collector/pdata (otlp.go says how
// the resource's bytes are reused), but for log records whose fields are
// strings or JSON scalars, which otlpproto.go (protobuf) and otlpjson.go
// (OTLP/JSON; no floating-point field) write by hand: the same bytes, at
// about JSON's cost. A log request holds one resource, one
// scope (github.com/ferry-dev/ferry) and one log record:
//
//   - resource: the container, by the semantic conventions: k8s.namespace.name,
//     k8s.pod.name, k8s.pod.uid, k8s.container.name, k8s.node.name,
//     container.id (without the runtime's scheme), container.image.name and
//     container.image.tags, k8s.<kind>.name for an owner of kind Deployment,
//     ReplicaSet, StatefulSet, DaemonSet, Job or CronJob,
//     k8s.pod.label.<key>, k8s.pod.annotation.<key>,
//     k8s.namespace.label.<key>; empty values left out (a record without
//     metadata has an empty resource).
//   - timeUnixNano the line's time, observedTimeUnixNano its read time,
//     body the line as a string (invalid UTF-8 replaced as in JSON),
//     severityText and severityNumber from processing's level (trace 1,
//     debug 5, info 9, warn 13, error 17, fatal 21; none without a level).
//   - attributes log.iostream and log.file.path, then each parsed field
//     (a string, or its JSON value as an int, double, bool, empty value,
//     map or slice; a field named log.iostream or log.file.path is left
//     out), ferry.lines (multiline records) and ferry.truncated (only when
//     true). The file offset is not carried.
//
// A metric request holds the resource k8s.node.name and host.name (the
// node), the same scope and one metric of one double data point: the
// node_exporter name, the UCUM unit of the name's unit suffix (_seconds s,
// _bytes By, _celsius Cel, _hertz Hz, _joules J, _watts W, _volts V,
// _amperes A, _ratio 1; none otherwise), the labels as attributes. A gauge
// is a Gauge; a counter a monotonic cumulative Sum whose start time is the
// node's boot time (node_boot_time_seconds of the snapshot, as the
// Collector's hostmetrics receiver does; the first snapshot's time when
// the snapshot has none).
//
// # Metrics
//
// ferry_ship_records_sent_total{record}, ferry_ship_sent_bytes_total{record},
// ferry_ship_batches_total (confirmed requests), ferry_ship_retries_total,
// ferry_ship_send_failures_total, ferry_ship_dropped_records_total{record,reason},
// ferry_ship_fallback_topic_records_total,
// ferry_ship_replaced_records_total{record,reason},
// ferry_ship_batch_duration_seconds
// (one request's round trip), ferry_ship_held_bytes,
// ferry_ship_held_bytes_limit, ferry_ship_destination_failures_total{destination,reason},
// ferry_ship_destination_unconfirmed_age_seconds{destination},
// ferry_ship_destination_held_records{destination},
// ferry_ship_budget_full_total{destination}, the pipeline's
// ferry_read_to_ack_seconds (observed at ack time from event.Log.ReadAt),
// ferry_ship_kafka_dials_total{result} and
// ferry_ship_kafka_produce_requests_total{result} (one per produce
// request: a shared request carries the attempts of several
// destinations).
package ship
