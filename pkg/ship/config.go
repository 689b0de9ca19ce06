package ship

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the `sink:` section; exactly one of the three must be set.
type Config struct {
	// Kafka ships to Kafka. Default: set, with the defaults of DefaultConfig.
	Kafka *KafkaConfig `yaml:"kafka"`
	// File appends NDJSON records to a file (debugging, tests). Default: unset.
	File *FileConfig `yaml:"file"`
	// Stdout writes NDJSON records to standard output. Default: unset.
	Stdout *StdoutConfig `yaml:"stdout"`
}

// defaultNotReadyAfter is KafkaConfig.NotReadyAfter's default, and the
// threshold of the debug sinks.
const defaultNotReadyAfter = time.Minute

// FileConfig configures the NDJSON file sink.
type FileConfig struct {
	// Path of the file, created if missing and appended to. Default: none
	// (required).
	Path string `yaml:"path"`
	// Linger is how long records wait to be written together (0: the
	// default). Default: 100ms.
	Linger time.Duration `yaml:"linger"`
}

// StdoutConfig configures the NDJSON stdout sink. It has no required field.
type StdoutConfig struct {
	// Linger is how long records wait to be written together (0: the
	// default). Default: 100ms.
	Linger time.Duration `yaml:"linger"`
}

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	// Brokers are the bootstrap addresses (host:port). Default: none (required).
	Brokers []string `yaml:"brokers"`
	// Topic of log records: a fixed name or a text/template over the
	// record's event.Meta, e.g. `logs.{{ .Namespace }}` or
	// `logs.{{ index .Labels "team" }}`. A template's render is bounded
	// to 1 KiB (see the package doc). Default: "logs".
	Topic string `yaml:"topic"`
	// FallbackTopic receives the log records for which Topic (a template)
	// yields an empty or invalid name, or fails. Required when Topic is a
	// template. Default: "".
	FallbackTopic string `yaml:"fallback_topic"`
	// MetricsTopic receives the host metric records. Default: "metrics".
	MetricsTopic string `yaml:"metrics_topic"`
	// Key of log messages: "pod_uid" (per-container order within a
	// partition; metric records are then keyed by node name) or "none"
	// (no key; each file's lines still go to one partition, chosen by a
	// hash of the file: see the package documentation). Default: "pod_uid".
	Key string `yaml:"key"`
	// Encoding of the records: "json" (ferry's schema, see the package
	// documentation), "otlp_proto" or "otlp_json" (one OTLP
	// ExportLogsServiceRequest or ExportMetricsServiceRequest per record,
	// as the OpenTelemetry Collector's Kafka exporter writes them and its
	// Kafka receiver reads them with the same encoding name). Default:
	// "json".
	Encoding string `yaml:"encoding"`
	// Compression codec: none, gzip, snappy, lz4, zstd. Default: "lz4"
	// (bench/README.md, "Codecs": zstd halves the bytes on the wire for
	// about three times lz4's CPU).
	Compression string `yaml:"compression"`
	// RequiredAcks: "all" (every in-sync replica) or "one" (the leader).
	// "none" is refused: it would acknowledge records no broker confirmed.
	// Default: "all".
	RequiredAcks string `yaml:"required_acks"`
	// Batch bounds what is sent in one round trip.
	Batch BatchConfig `yaml:"batch"`
	// MaxMessageBytes is the largest encoded record (key + value) sent;
	// larger ones are dropped and counted (reason "too_large"). Keep it at
	// or below the broker's message.max.bytes. Default: 1000000.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// ClientID is sent to the brokers. Default: "ferry".
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds connecting (TCP, TLS and SASL). Default: 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// WriteTimeout bounds one metadata request, and the first attempt of
	// a produce request; after a timed-out attempt the next one of the
	// same destination waits four times longer, up to 64 times (see the
	// package documentation). Default: 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MetadataMaxAge is how old the cluster metadata (partitions and their
	// leaders, for the topics in use) may get before a request that needs
	// it refreshes it, as the Java producer's metadata.max.age.ms; answers
	// meaning it is stale (NOT_LEADER_OR_FOLLOWER, a broker gone, ...)
	// refresh it at once. Default: 5m.
	MetadataMaxAge time.Duration `yaml:"metadata_max_age"`
	// AllowAutoTopicCreation lets metadata requests create missing topics
	// (when the brokers allow it). Default: false.
	AllowAutoTopicCreation bool `yaml:"allow_auto_topic_creation"`
	// DropUnauthorized drops (and counts, reason "topic_authorization")
	// the records of a topic the brokers refuse with
	// TOPIC_AUTHORIZATION_FAILED, instead of holding and retrying them
	// until the ACL is fixed. Default: false.
	DropUnauthorized bool `yaml:"drop_unauthorized"`
	// NotReadyAfter is how long the oldest record not yet confirmed by the
	// brokers may wait before Ready reports the sink not ready (naming its
	// topic and partition). Default: 1m.
	NotReadyAfter time.Duration `yaml:"not_ready_after"`
	// Retry is the backoff between attempts of a retryable failure.
	Retry RetryConfig `yaml:"retry"`
	// TLS secures the connections to the brokers.
	TLS TLSConfig `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL SASLConfig `yaml:"sasl"`
}

// BatchConfig bounds batches.
type BatchConfig struct {
	// MaxBytes is the encoded size at which a batch is sent without waiting
	// for Linger. Default: 1048576.
	MaxBytes int `yaml:"max_bytes"`
	// Linger is the longest a record waits for its batch to fill.
	// Default: 100ms.
	Linger time.Duration `yaml:"linger"`
}

// RetryConfig is an exponential backoff with jitter: retry n (from 0) waits
// a random time in [b/2, b] where b = min(BackoffMax, BackoffMin*2^n).
type RetryConfig struct {
	// BackoffMin is the first backoff bound. Default: 100ms.
	BackoffMin time.Duration `yaml:"backoff_min"`
	// BackoffMax caps the backoff bound. Default: 10s.
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. Default: false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates.
	// Default: "" (the system roots).
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate (with KeyFile). Default: "".
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM key of CertFile. Default: "".
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name verified in the brokers' certificates.
	// Default: "" (the host of each broker address).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate verification (tests only).
	// Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism: "" (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	// Default: "".
	Mechanism string `yaml:"mechanism"`
	// Username. Default: "".
	Username string `yaml:"username"`
	// Password, usually "${KAFKA_PASSWORD}" expanded by the agent when it
	// loads the config. Default: "".
	Password string `yaml:"password"`
}

// DefaultConfig returns a Config with the Kafka sink set to its defaults.
// Its brokers are empty, which Validate refuses.
func DefaultConfig() Config {
	k := DefaultKafkaConfig()
	return Config{Kafka: &k}
}

// DefaultKafkaConfig returns the Kafka sink defaults.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{
		Topic:           "logs",
		MetricsTopic:    "metrics",
		Key:             "pod_uid",
		Encoding:        encodingJSON,
		Compression:     "lz4",
		RequiredAcks:    "all",
		Batch:           BatchConfig{MaxBytes: 1 << 20, Linger: 100 * time.Millisecond},
		MaxMessageBytes: 1000000,
		ClientID:        "ferry",
		DialTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		NotReadyAfter:   defaultNotReadyAfter,
		MetadataMaxAge:  5 * time.Minute,
		Retry:           RetryConfig{BackoffMin: 100 * time.Millisecond, BackoffMax: 10 * time.Second},
	}
}

const defaultDebugLinger = 100 * time.Millisecond

// Validate returns every problem of c, each prefixed with its YAML key path
// inside the sink section.
func (c Config) Validate() error {
	n := 0
	for _, set := range []bool{c.Kafka != nil, c.File != nil, c.Stdout != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("kafka, file, stdout: exactly one must be set, got %d", n)
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	switch {
	case c.File != nil:
		if c.File.Path == "" {
			bad("file.path", "must not be empty")
		}
		if c.File.Linger < 0 {
			bad("file.linger", "must be >= 0")
		}
	case c.Stdout != nil:
		if c.Stdout.Linger < 0 {
			bad("stdout.linger", "must be >= 0")
		}
	case c.Kafka != nil:
		k := c.Kafka
		if len(k.Brokers) == 0 {
			bad("kafka.brokers", "must not be empty")
		}
		for i, b := range k.Brokers {
			if !strings.Contains(b, ":") {
				bad(fmt.Sprintf("kafka.brokers[%d]", i), "%q: must be host:port", b)
			}
		}
		if k.Topic == "" {
			bad("kafka.topic", "must not be empty")
		} else if isTemplate(k.Topic) {
			if t, err := parseTopicTemplate(k.Topic); err != nil {
				bad("kafka.topic", "%v", err)
			} else if err := checkTopicRender(t); err != nil {
				bad("kafka.topic", "%v", err)
			}
			if k.FallbackTopic == "" {
				bad("kafka.fallback_topic", "must be set when kafka.topic is a template")
			}
		} else if err := checkTopic(k.Topic); err != nil {
			bad("kafka.topic", "%q: %v", k.Topic, err)
		}
		if k.FallbackTopic != "" {
			if err := checkTopic(k.FallbackTopic); err != nil {
				bad("kafka.fallback_topic", "%q: %v", k.FallbackTopic, err)
			}
		}
		if err := checkTopic(k.MetricsTopic); err != nil {
			bad("kafka.metrics_topic", "%q: %v", k.MetricsTopic, err)
		}
		if k.Key != "pod_uid" && k.Key != "none" {
			bad("kafka.key", "%q: must be pod_uid or none", k.Key)
		}
		switch k.Encoding {
		case encodingJSON, encodingOTLPProto, encodingOTLPJSON:
		default:
			bad("kafka.encoding", "%q: must be json, otlp_proto or otlp_json", k.Encoding)
		}
		if _, err := codec(k.Compression); err != nil {
			bad("kafka.compression", "%v", err)
		}
		if _, err := requiredAcks(k.RequiredAcks); err != nil {
			bad("kafka.required_acks", "%v", err)
		}
		if k.Batch.MaxBytes <= 0 {
			bad("kafka.batch.max_bytes", "must be > 0")
		}
		if k.Batch.Linger < 0 {
			bad("kafka.batch.linger", "must be >= 0")
		}
		if k.MaxMessageBytes <= 0 {
			bad("kafka.max_message_bytes", "must be > 0")
		}
		if k.DialTimeout <= 0 {
			bad("kafka.dial_timeout", "must be > 0")
		}
		if k.WriteTimeout <= 0 {
			bad("kafka.write_timeout", "must be > 0")
		}
		if k.MetadataMaxAge < time.Second {
			bad("kafka.metadata_max_age", "must be >= 1s")
		}
		if k.NotReadyAfter <= 0 {
			bad("kafka.not_ready_after", "must be > 0")
		}
		if k.Retry.BackoffMin <= 0 {
			bad("kafka.retry.backoff_min", "must be > 0")
		}
		if k.Retry.BackoffMax < k.Retry.BackoffMin {
			bad("kafka.retry.backoff_max", "must be >= retry.backoff_min")
		}
		if k.TLS.Enabled {
			for _, f := range []struct{ key, path string }{
				{"kafka.tls.ca_file", k.TLS.CAFile}, {"kafka.tls.cert_file", k.TLS.CertFile}, {"kafka.tls.key_file", k.TLS.KeyFile},
			} {
				if f.path == "" {
					continue
				}
				if _, err := os.Stat(f.path); err != nil {
					bad(f.key, "%v", err)
				}
			}
			if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
				bad("kafka.tls.cert_file", "cert_file and key_file must be set together")
			}
		}
		switch k.SASL.Mechanism {
		case "":
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			if k.SASL.Username == "" {
				bad("kafka.sasl.username", "must not be empty with mechanism %s", k.SASL.Mechanism)
			}
			if k.SASL.Password == "" {
				bad("kafka.sasl.password", "must not be empty with mechanism %s (is its environment variable set?)", k.SASL.Mechanism)
			}
		default:
			bad("kafka.sasl.mechanism", "%q: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASL.Mechanism)
		}
	}
	return errors.Join(errs...)
}

func isTemplate(s string) bool { return strings.Contains(s, "{{") }

// checkTopic reports whether name is a legal Kafka topic name.
func checkTopic(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > 249:
		return errors.New("longer than 249 characters")
	case name == "." || name == "..":
		return errors.New(`must not be "." or ".."`)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("character %q not allowed (only ASCII letters, digits, '.', '_', '-')", c)
		}
	}
	return nil
}
