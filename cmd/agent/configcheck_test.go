package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// problems returns the lines of a ParseConfig error, one per problem.
func problems(err error) []string {
	var out []string
	for _, e := range flatten(err) {
		if e != nil {
			out = append(out, e.Error())
		}
	}
	return out
}

// TestConfigProblemsExact: each hostile or broken config gives exactly
// these problems, with the field path and line taken from the document's
// own positions.
func TestConfigProblemsExact(t *testing.T) {
	const head = "node_name: n\nsink:\n  kafka:\n    brokers: [\"k:9092\"]\n" // 4 lines
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"flow style: each key its own path on one line",
			head + "logs: {max_line_bytes: x, start_at: [1], nope: 1, read_interval: 1ns}\n",
			[]string{
				"logs.max_line_bytes: cannot unmarshal !!str `x` into int (line 5)",
				"logs.start_at: must be a single value, got a list (line 5)",
				"logs.nope: unknown key (line 5)",
				"logs.read_interval: must be from 10ms to 1m0s, got 1ns (line 5)",
			}},
		{"flow style nested in block style",
			head + "hostmetrics:\n  filesystem: {statfs_timeout: 1h, fs_types_excludes: x}\n",
			[]string{
				"hostmetrics.filesystem.fs_types_excludes: unknown key (line 6)",
				"hostmetrics.filesystem.statfs_timeout: must be from 100ms to 1m0s, got 1h0m0s (line 6)",
			}},
		{"unknown key and empty brokers together",
			"node_name: n\nlogs:\n  max_line_byte: 5\nsink:\n  kafka:\n    brokers: []\n",
			[]string{"logs.max_line_byte: unknown key (line 3)", "sink.kafka.brokers: must not be empty (line 6)"}},
		{"type error does not hide validation",
			"node_name: n\nlogs: {max_line_bytes: lots}\nlog: {level: loud}\nsink: {kafka: {brokers: []}}\n",
			[]string{
				"logs.max_line_bytes: cannot unmarshal !!str `lots` into int (line 2)",
				`log.level: must be debug, info, warn or error, got "loud" (line 3)`,
				"sink.kafka.brokers: must not be empty (line 4)",
			}},
		{"list items",
			"node_name: n\nlogs:\n  include:\n    - /a/*.log\n    - [x]\n    - relative/*.log\nsink: {kafka: {brokers: [\"k:1\"]}}\n",
			[]string{"logs.include[1]: must be a single value, got a list (line 5)"}},
		{"duplicate key",
			head + "log: {level: info}\nlog: {level: debug}\n",
			[]string{"log: duplicate key (first at line 5) (line 6)"}},
		{"alias refused, never expanded",
			head + "x: &a [1]\nlogs: {include: *a}\n",
			[]string{"x: unknown key (line 5)", "logs.include: YAML aliases (*a) are not supported: write the value out (line 6)"}},
		{"merge key refused",
			head + "log: {<<: {level: debug}}\n",
			[]string{"log.<<: YAML merge keys are not supported: write the keys out (line 5)"}},
		{"section of the wrong kind",
			head + "logs: [1]\nhttp: 5\n",
			[]string{"logs: must be a mapping of keys, got a list (line 5)", `http: must be a mapping of keys, got !!int "5" (line 6)`}},
		{"broker addresses",
			"node_name: n\nsink:\n  kafka:\n    brokers:\n      - h:99999\n      - a:b:c\n      - :9092\n      - h:0\n      - \"[::1]:9092\"\n      - host\n",
			[]string{
				`sink.kafka.brokers[5]: "host": must be host:port (line 10)`,
				`sink.kafka.brokers[0]: "h:99999": port must be a number from 1 to 65535, got "99999" (line 5)`,
				`sink.kafka.brokers[1]: "a:b:c" must be host:port (an IPv6 host in brackets: [::1]:9092) (line 6)`,
				`sink.kafka.brokers[2]: ":9092" has no host (line 7)`,
				`sink.kafka.brokers[3]: "h:0": port must be a number from 1 to 65535, got "0" (line 8)`,
			}},
		{"intervals and sizes out of range",
			head + "logs: {poll_interval: 1ns, rescan_interval: 1ns, commit_interval: 1000h, read_bytes_per_turn: 1000000000}\n" +
				"hostmetrics: {interval: 10ms}\nmemory: {queue_bytes: 1099511627776}\nshutdown_timeout: 1h\n",
			[]string{
				"shutdown_timeout: must be from 1s to 10m0s, got 1h0m0s (line 8)",
				"logs.poll_interval: must be from 100ms to 10m0s, got 1ns (line 5)",
				"logs.rescan_interval: must be from 100ms to 1h0m0s, got 1ns (line 5)",
				"logs.commit_interval: must be from 100ms to 10m0s, got 1000h0m0s (line 5)",
				"hostmetrics.interval: must be from 1s to 1h0m0s, got 10ms (line 6)",
				"memory.queue_bytes: must be from 65536 to 17179869184, got 1099511627776 (line 7)",
				"logs.read_bytes_per_turn: must be from 4096 to 67108864, got 1000000000 (line 5)",
			}},
		{"descriptor cap out of range",
			head + "logs: {max_open_files: 2}\n",
			[]string{"logs.max_open_files: must be from 8 to 1048576, got 2 (line 5)"}},
		{"no descriptors at all",
			head + "logs: {max_open_files: 0}\n",
			[]string{"logs.max_open_files: must be from 1 to 1048576, got 0 (line 5)"}},
		{"topic template that loops",
			"node_name: n\nsink:\n  kafka:\n    brokers: [\"k:1\"]\n    topic: \"{{range 1000000000}}x{{end}}\"\n    fallback_topic: f\n",
			[]string{"sink.kafka.topic: a topic template must not use {{range}} (line 5)"}},
		{"topic template that recurses",
			"node_name: n\nsink:\n  kafka:\n    brokers: [\"k:1\"]\n    topic: '{{define \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}'\n    fallback_topic: f\n",
			[]string{"sink.kafka.topic: a topic template must not define templates (line 5)"}},
		{"a line longer than the sink can send",
			"node_name: n\nlogs: {max_line_bytes: 2000000}\nsink: {kafka: {brokers: [\"k:1\"], max_message_bytes: 1000000}}\n",
			[]string{"logs.max_line_bytes: must not exceed sink.kafka.max_message_bytes (1000000): a line that long could never be sent (line 2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.data), env(nil))
			if diff := cmp.Diff(tc.want, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigRefusedWhole: inputs refused before any field is looked at,
// each with a message that says where.
func TestConfigRefusedWhole(t *testing.T) {
	laughs := "node_name: n\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = n
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string // regexp over the whole error
	}{
		{"second document", []byte("node_name: n\n---\nlogs: {}\n"), `^config: a second YAML document starts at line 3; a config file holds one document$`},
		{"second document after a separator", []byte("---\nnode_name: n\n---\n"), `^config: a second YAML document starts at line \d`},
		{"not UTF-8", []byte("node_name: n\nlogs:\n  include: [\"/a/\xff.log\"]\n"), `^config: not valid UTF-8 at line 3, column 17 \(byte 0xff\)$`},
		{"too large", []byte("node_name: n\n# " + strings.Repeat("x", maxConfigBytes) + "\n"), `^config: larger than 32768 bytes`},
		{"syntax", []byte("node_name: [\n"), `^config: yaml: line \d+`},
		{"not a mapping", []byte("- a\n"), `^config: the document must be a mapping of keys \(line 1\)$`},
		{"billion laughs", []byte(laughs), `(?s)^a: unknown key \(line 2\)\nb: unknown key \(line 3\)\nb\[0\]: YAML aliases \(\*a\) are not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := ParseConfig(tc.data, env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("error\n%v\ndoes not match %s", err, tc.want)
			}
			if len(err.Error()) > 16<<10 {
				t.Errorf("error of %d bytes; problems are capped", len(err.Error()))
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestConfigProblemsCapped: a file of thousands of wrong keys lists 50
// problems and says how many more there are.
func TestConfigProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("node_name: n\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	_, err := ParseConfig([]byte(b.String()), env(nil))
	got := problems(err)
	if len(got) != maxProblems+1 {
		t.Fatalf("%d problems listed, want %d", len(got), maxProblems+1)
	}
	if !regexp.MustCompile(`^config: \d+ more problems not listed$`).MatchString(got[maxProblems]) {
		t.Errorf("last line %q", got[maxProblems])
	}
}

// TestLoadConfigSizeCap: a huge file is refused without being read whole.
func TestLoadConfigSizeCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil { // a sparse 50 MB file
		t.Fatal(err)
	}
	f.Close()
	_, err = LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 32768 bytes") {
		t.Fatalf("error %v, want the size cap", err)
	}
}

// TestValidateREADMEBadExample runs `ferry validate` on the README's bad
// example and expects exactly the output the README shows: the unknown key
// and the empty broker list together.
func TestValidateREADMEBadExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- bad-example -->\\s*```yaml\\n(.*?)```\\s*```\\n\\$ ferry validate --config bad.yaml\\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no bad example with its output")
	}
	t.Setenv("NODE_NAME", "node-1")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out, errOut strings.Builder
	if code := cli([]string{"validate", "--config", "bad.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if diff := cmp.Diff(string(m[2]), errOut.String()); diff != "" {
		t.Errorf("validate output differs from the README's (-README +got):\n%s", diff)
	}
}

// TestLoadConfigRefusesFIFO: a FIFO in place of the config file is refused
// at once instead of blocking the agent (or ferry validate) forever.
func TestLoadConfigRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadConfig(path); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("error %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LoadConfig blocked on a FIFO")
	}
}
