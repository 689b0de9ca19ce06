package chart

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// agentConfig is the agent's config file as far as the chart renders it. It is
// decoded with KnownFields, so the chart cannot render a key the agent does not
// have (a typo in a template would otherwise go unnoticed until start-up).
type agentConfig struct {
	NodeName        string        `yaml:"node_name"`
	StateDir        string        `yaml:"state_dir"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Memory struct {
		QueueBytes int64 `yaml:"queue_bytes"`
	} `yaml:"memory"`
	Logs struct {
		Include      []string `yaml:"include"`
		Exclude      []string `yaml:"exclude"`
		StartAt      string   `yaml:"start_at"`
		MaxLineBytes int64    `yaml:"max_line_bytes"`
		MaxOpenFiles int64    `yaml:"max_open_files"`
	} `yaml:"logs"`
	Kubernetes struct {
		Enabled           *bool    `yaml:"enabled"`
		Annotations       []string `yaml:"annotations"`
		ExcludeAnnotation string   `yaml:"exclude_annotation"`
		NamespaceLabels   bool     `yaml:"namespace_labels"`
	} `yaml:"kubernetes"`
	HostMetrics struct {
		Enabled  bool          `yaml:"enabled"`
		Interval time.Duration `yaml:"interval"`
		Proc     string        `yaml:"proc"`
		Sys      string        `yaml:"sys"`
		RootFS   string        `yaml:"rootfs"`
	} `yaml:"hostmetrics"`
	Sink struct {
		Kafka struct {
			Brokers       []string `yaml:"brokers"`
			Topic         string   `yaml:"topic"`
			FallbackTopic string   `yaml:"fallback_topic"`
			MetricsTopic  string   `yaml:"metrics_topic"`
			Key           string   `yaml:"key"`
			Compression   string   `yaml:"compression"`
			Encoding      string   `yaml:"encoding"`
			RequiredAcks  string   `yaml:"required_acks"`
			ClientID      string   `yaml:"client_id"`
			// MetadataMaxAge is kafka.metadata_max_age (pkg/ship).
			MetadataMaxAge time.Duration `yaml:"metadata_max_age"`
			Batch          struct {
				MaxBytes int64         `yaml:"max_bytes"`
				Linger   time.Duration `yaml:"linger"`
			} `yaml:"batch"`
			TLS struct {
				Enabled    bool   `yaml:"enabled"`
				CAFile     string `yaml:"ca_file"`
				CertFile   string `yaml:"cert_file"`
				KeyFile    string `yaml:"key_file"`
				ServerName string `yaml:"server_name"`
			} `yaml:"tls"`
			SASL struct {
				Mechanism string `yaml:"mechanism"`
				Username  string `yaml:"username"`
				Password  string `yaml:"password"`
			} `yaml:"sasl"`
		} `yaml:"kafka"`
		File *struct {
			Path   string        `yaml:"path"`
			Linger time.Duration `yaml:"linger"`
		} `yaml:"file"`
		Stdout *struct {
			Linger time.Duration `yaml:"linger"`
		} `yaml:"stdout"`
	} `yaml:"sink"`
	HTTP struct {
		Listen string `yaml:"listen"`
		Pprof  bool   `yaml:"pprof"`
	} `yaml:"http"`
	// Processing is passed through as the values give it; `ferry validate`
	// (TestConfigValidates) checks it strictly.
	Processing map[string]any `yaml:"processing"`
}

// configOf decodes the agent's config from the chart's ConfigMap, strictly,
// and returns it with its text.
func configOf(t testing.TB, m *manifests) (agentConfig, string) {
	t.Helper()
	cm := m.ConfigMaps[release]
	if cm == nil {
		t.Fatalf("no ConfigMap %q; have %v", release, keys(m.ConfigMaps))
	}
	if len(cm.Data) != 1 {
		t.Fatalf("ConfigMap %s: want exactly config.yaml, have keys %v", cm.Name, keys(cm.Data))
	}
	text, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no config.yaml", cm.Name)
	}
	var c agentConfig
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("config.yaml does not decode strictly: %v\n%s", err, text)
	}
	// Defaults the agent applies to keys a raw config leaves out.
	if c.StateDir == "" {
		c.StateDir = "/var/lib/ferry"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = ":2020"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	return c, text
}

func (c agentConfig) kubernetesEnabled() bool {
	return c.Kubernetes.Enabled == nil || *c.Kubernetes.Enabled
}

func (c agentConfig) httpPort() (int32, error) {
	i := strings.LastIndexByte(c.HTTP.Listen, ':')
	if i < 0 {
		return 0, fmt.Errorf("http.listen %q has no port", c.HTTP.Listen)
	}
	p, err := strconv.ParseUint(c.HTTP.Listen[i+1:], 10, 16)
	if err != nil {
		return 0, fmt.Errorf("http.listen %q: %v", c.HTTP.Listen, err)
	}
	return int32(p), nil
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
