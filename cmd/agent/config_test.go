package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-dev/ferry/pkg/ship"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `
node_name: node-1
sink:
  kafka:
    brokers: ["127.0.0.1:9092"]
`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimal), env(nil))
	if err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	if cfg.ShutdownTimeout != 20*time.Second || cfg.StateDir != "/var/lib/ferry" || cfg.HTTP.Listen != ":2020" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.Logs.StateDir != cfg.StateDir || cfg.Logs.MaxInflightBytes != cfg.Memory.QueueBytes || cfg.Kubernetes.NodeName != "node-1" {
		t.Errorf("top-level settings not handed to the sections: logs=%q/%d kubernetes=%q",
			cfg.Logs.StateDir, cfg.Logs.MaxInflightBytes, cfg.Kubernetes.NodeName)
	}
	if cfg.Sink.Kafka == nil || cfg.Sink.File != nil {
		t.Errorf("sink: want kafka only, got %+v", cfg.Sink)
	}
}

func TestParseConfigEnvExpansion(t *testing.T) {
	data := `
node_name: ${NODE_NAME}
state_dir: /var/lib/ferry/${UNSET}x
sink:
  kafka:
    brokers: ["${BROKER}"]
    sasl: {mechanism: PLAIN, username: u, password: "${KAFKA_PASSWORD}"}
logs:
  exclude: ["$${NOT_EXPANDED}", "a$b"]
`
	cfg, err := ParseConfig([]byte(data), env(map[string]string{
		"NODE_NAME": "node-7", "BROKER": "127.0.0.1:9093", "KAFKA_PASSWORD": `p@$$"w`,
	}))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.NodeName != "node-7" || cfg.StateDir != "/var/lib/ferry/x" {
		t.Errorf("node_name=%q state_dir=%q", cfg.NodeName, cfg.StateDir)
	}
	if diff := cmp.Diff([]string{"${NOT_EXPANDED}", "a$b"}, cfg.Logs.Exclude); diff != "" {
		t.Errorf("logs.exclude (-want +got):\n%s", diff)
	}
}

// TestParseConfigSink: a sink section names the sinks it wants; a named
// kafka sink starts from its defaults.
func TestParseConfigSink(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     func() ship.Config
	}{
		{"absent keeps the default kafka sink", "http: {listen: ':2020'}\n", func() ship.Config {
			c := ship.DefaultConfig()
			c.Kafka.Brokers = nil
			return c
		}},
		{"kafka over its defaults", "sink:\n  kafka:\n    brokers: [\"k:9092\"]\n    retry: {backoff_max: 30s}\n", func() ship.Config {
			c := ship.DefaultConfig()
			c.Kafka.Brokers = []string{"k:9092"}
			c.Kafka.Retry.BackoffMax = 30 * time.Second
			return c
		}},
		{"file only", "sink:\n  file: {path: /tmp/x.ndjson, linger: 1s}\n", func() ship.Config {
			return ship.Config{File: &ship.FileConfig{Path: "/tmp/x.ndjson", Linger: time.Second}}
		}},
		{"bare stdout", "sink:\n  stdout:\n", func() ship.Config { return ship.Config{Stdout: &ship.StdoutConfig{}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte("node_name: n\n"+tc.in), env(nil))
			want := tc.want()
			if want.Kafka != nil && len(want.Kafka.Brokers) == 0 {
				// the default sink without brokers does not validate
				if err == nil || !strings.Contains(err.Error(), "sink.kafka.brokers: must not be empty") {
					t.Fatalf("error %v, want the brokers named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, cfg.Sink); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseConfigErrors checks that every problem is reported, each naming
// its field path.
func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []string // substrings, each must appear
	}{
		{"bad yaml", "node_name: [", []string{"config: yaml"}},
		{"unknown key", minimal + "logz: {}\n", []string{"logz: unknown key (line 6)"}},
		{"unknown nested key", minimal + "logs:\n  max_line_byte: 5\n", []string{"logs.max_line_byte: unknown key (line 7)"}},
		{"wrong type", minimal + "logs:\n  max_line_bytes: lots\n", []string{"logs.max_line_bytes: cannot unmarshal !!str `lots` into int"}},
		{"bad duration", minimal + "shutdown_timeout: soon\n", []string{`shutdown_timeout: "soon" is not a duration (like 200ms, 5s, 1m) (line 6)`}},
		{"bad durations in every section", "node_name: n\nhostmetrics: {interval: never}\nkubernetes: {miss_wait: 5}\n" +
			"sink:\n  kafka:\n    brokers: [\"k:1\"]\n    batch: {linger: soon}\n",
			[]string{`hostmetrics.interval: "never" is not a duration (like 200ms, 5s, 1m) (line 2)`,
				`kubernetes.miss_wait: "5" is not a duration (like 200ms, 5s, 1m) (line 3)`,
				`sink.kafka.batch.linger: "soon" is not a duration (like 200ms, 5s, 1m) (line 7)`}},
		{"unknown sink key", "node_name: n\nsink:\n  kafka: {brokerz: [a]}\n", []string{"sink.kafka.brokerz: unknown key (line 3)"}},
		{"negative duration", minimal + "shutdown_timeout: -1s\n", []string{"shutdown_timeout: must be from 1s to 10m0s, got -1s (line 6)"}},
		{"empty brokers", "node_name: n\nsink:\n  kafka:\n    brokers: []\n", []string{"sink.kafka.brokers: must not be empty"}},
		{"no node name", "sink:\n  kafka:\n    brokers: [\"h:1\"]\n", []string{"node_name: required when enabled"}},
		{"several at once", minimal + "log: {level: loud, format: xml}\nhttp: {listen: nowhere}\nmemory: {queue_bytes: 10}\n",
			[]string{"log.level: must be", "log.format: must be json or text", "http.listen: must be host:port", "memory.queue_bytes: must be from 65536 to 17179869184, got 10 (line 8)"}},
		{"two errors in types", minimal + "logs:\n  max_line_bytes: x\n  start_at: [1]\n", []string{"logs.max_line_bytes:", "logs.start_at:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.data), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(minimal), 0o644)
	os.WriteFile(bad, []byte("node_name: n\nsink:\n  kafka:\n    brokers: []\nlogs: {max_line_bytes: -1}\n"), 0o644)

	var out, errOut strings.Builder
	if code := cli([]string{"validate", "--config", good}, &out, &errOut); code != 0 {
		t.Errorf("validate good: exit %d, stderr %s", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := cli([]string{"validate", "--config", bad}, &out, &errOut); code != 1 {
		t.Errorf("validate bad: exit %d, want 1", code)
	}
	for _, w := range []string{"sink.kafka.brokers: must not be empty", "logs.max_line_bytes:"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("validate output lacks %q:\n%s", w, errOut.String())
		}
	}
	if code := cli([]string{"validate", "--config", filepath.Join(dir, "missing.yaml")}, &out, &errOut); code != 1 {
		t.Errorf("validate missing file: exit %d, want 1", code)
	}
}

func TestCLI(t *testing.T) {
	var out, errOut strings.Builder
	if code := cli([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ferry ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := cli([]string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ferry validate --config FILE") {
		t.Errorf("help: exit %d, %q", code, out.String())
	}
	if code := cli([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
	if code := cli([]string{"run", "--config", "/nonexistent/ferry.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("run with a missing config: exit %d, want 1", code)
	}
}

// TestValidateMultilineMaxBytes: a multiline group may not be allowed to
// grow past the largest record the sink takes (it would be dropped whole
// instead of cut); unused multiline settings are not checked.
func TestValidateMultilineMaxBytes(t *testing.T) {
	for _, tc := range []struct {
		name, processing string
		refused          bool
	}{
		{"over, rule", "{multiline: {rule: java, max_bytes: 2097152}}", true},
		{"over, annotations", "{multiline: {max_bytes: 2097152}, annotations: {multiline: true}}", true},
		{"default", "{multiline: {rule: java}}", false},
		{"at the limit", "{multiline: {rule: java, max_bytes: 1000000}}", true},
		{"within the room", "{multiline: {rule: java, max_bytes: 663000}}", false},
		{"over, unused", "{multiline: {max_bytes: 2097152}}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "node_name: n\nprocessing: " + tc.processing + "\nsink:\n  kafka: {brokers: [\"k:9092\"]}\n"
			_, err := ParseConfig([]byte(data), env(nil))
			if tc.refused != (err != nil && strings.Contains(err.Error(), "processing.multiline.max_bytes")) {
				t.Errorf("refused %v, want %v: %v", err != nil, tc.refused, err)
			}
		})
	}
}

func TestValidateFileSinkReadBack(t *testing.T) {
	for _, tc := range []struct {
		name, logs, path string
		refused          bool
	}{
		{"inside include", `include: ["/var/log/pods/*/*/*.log"]`, "/var/log/pods/ns_p_u/app/0.log", true},
		{"second glob", `include: ["/a/*.log", "/var/log/out/*"]`, "/var/log/out/ferry.json", true},
		{"unclean path", `include: ["/var/log/pods/*/*/*.log"]`, "/var/log/pods/ns_p_u/app/../app/0.log", true},
		{"outside", `include: ["/var/log/pods/*/*/*.log"]`, "/var/lib/ferry/out.json", false},
		{"excluded by path", `{include: ["/var/log/pods/*/*/*.log"], exclude: ["/var/log/pods/ns_p_u/*/*"]}`, "/var/log/pods/ns_p_u/app/0.log", false},
		{"excluded by name", `{include: ["/var/log/pods/*/*/*.log"], exclude: ["0.log"]}`, "/var/log/pods/ns_p_u/app/0.log", false},
		// The tailer reads the rotated copies of what it follows.
		{"rotated copy's name", `include: ["/var/log/pods/*/*/*.log"]`, "/var/log/pods/ns_p_u/app/0.log.20261204-101500", true},
		{"compressed copy's name", `include: ["/var/log/out/*.json"]`, "/var/log/out/ferry.json.1.gz", true},
		{"rotated copy of an excluded file", `{include: ["/var/log/pods/*/*/*.log"], exclude: ["0.log"]}`, "/var/log/pods/ns_p_u/app/0.log.1", false},
		{"not a rotated name", `include: ["/var/log/pods/*/*/*.log"]`, "/var/log/pods/ns_p_u/app/0.log.json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "node_name: n\nlogs: " + tc.logs + "\nsink:\n  file: {path: " + tc.path + "}\n"
			if !strings.HasPrefix(tc.logs, "{") {
				data = "node_name: n\nlogs:\n  " + tc.logs + "\nsink:\n  file: {path: " + tc.path + "}\n"
			}
			_, err := ParseConfig([]byte(data), env(nil))
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "sink.file.path") || !strings.Contains(err.Error(), "logs.include[") {
					t.Errorf("want an error naming sink.file.path and logs.include, got %v", err)
				}
			} else if err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}
