package tail

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Config configures the tailer (the `logs` section of the agent's config).
type Config struct {
	// Include lists the glob patterns (filepath.Match syntax) of the files to
	// follow. Default ["/var/log/pods/*/*/*.log"].
	Include []string `yaml:"include"`
	// Exclude lists glob patterns of paths never to read, matched against
	// the whole path and against the file name. Default none.
	Exclude []string `yaml:"exclude"`
	// StartAt is where a fresh agent (one without a usable state file)
	// starts in the files it finds at startup: "beginning" or "end".
	// Files that appear later are always read from their start.
	// Default "beginning".
	StartAt string `yaml:"start_at"`
	// MaxLineBytes caps a (merged) line; longer lines are cut, flagged
	// truncated and counted. At most 64 MiB and at most MaxInflightBytes.
	// Default 262144.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// ReadInterval is the shortest time between two reads of one file that
	// reached its end: change notifications within it are coalesced into
	// one read. Default 200ms.
	ReadInterval time.Duration `yaml:"read_interval"`
	// PollInterval is how often every open file is checked (stat) for
	// growth, rotation and truncation, whether or not a notification came.
	// Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RescanInterval is how often the include globs are expanded again to
	// find files that notifications missed. Default 5s.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// ReadBytesPerTurn bounds what one file may read before the others get
	// their turn. Default 262144.
	ReadBytesPerTurn int `yaml:"read_bytes_per_turn"`
	// CommitInterval is how often committed offsets are written to the
	// state file. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// DeleteWait is how long a deleted file that was not read to its end
	// stays open (its bytes are still readable through the descriptor)
	// before it is closed and its unread bytes are counted as lost. It
	// bounds the disk space a deleted log can pin. Default 30s.
	DeleteWait time.Duration `yaml:"delete_wait"`
	// MaxOpenFiles caps the log files held open at once. Files beyond it
	// wait for a descriptor and take turns, oldest first (openlimit.go);
	// rotated files being finished may briefly go above it. From 1 to
	// 1048576. Default 1024.
	MaxOpenFiles int `yaml:"max_open_files"`
	// RateLimit limits what each container's files may emit (lines and
	// bytes per second, policy defer or drop), with overrides by
	// namespace and by the pod annotation ferry.dev/rate-limit. Default:
	// no limit.
	RateLimit LimitsConfig `yaml:"rate_limit"`

	// StateDir is where committed offsets are kept (file tail.json). Set by
	// the agent from the top-level state_dir. Empty: nothing is persisted.
	StateDir string `yaml:"-"`
	// MaxInflightBytes bounds the bytes of emitted but not yet acknowledged
	// lines; reading pauses while it is reached. Set by the agent from its
	// memory budget. Default 32 MiB.
	MaxInflightBytes int64 `yaml:"-"`
}

// maxOpenFilesLimit is the highest max_open_files: Linux's default hard
// limit of descriptors per process (fs.nr_open).
const maxOpenFilesLimit = 1 << 20

// DefaultConfig returns the configuration that fits a standard node.
func DefaultConfig() Config {
	return Config{
		Include:          []string{"/var/log/pods/*/*/*.log"},
		StartAt:          "beginning",
		MaxLineBytes:     256 << 10,
		ReadInterval:     200 * time.Millisecond,
		PollInterval:     time.Second,
		RescanInterval:   5 * time.Second,
		ReadBytesPerTurn: 256 << 10,
		CommitInterval:   time.Second,
		DeleteWait:       30 * time.Second,
		MaxOpenFiles:     1024,
		RateLimit: LimitsConfig{Default: RateLimit{Policy: PolicyDefer}, PerPod: RateLimit{Policy: PolicyDefer},
			PerNamespace: RateLimit{Policy: PolicyDefer}, SummaryInterval: 10 * time.Second},
		MaxInflightBytes: 32 << 20,
	}
}

// Validate reports every problem, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if len(c.Include) == 0 {
		bad("include", "must list at least one glob")
	}
	for i, p := range c.Include {
		if _, err := filepath.Match(p, ""); err != nil || p == "" {
			bad(fmt.Sprintf("include[%d]", i), "invalid glob %q", p)
		} else if !filepath.IsAbs(p) {
			bad(fmt.Sprintf("include[%d]", i), "must be an absolute path, got %q", p)
		}
	}
	for i, p := range c.Exclude {
		if _, err := filepath.Match(p, ""); err != nil || p == "" {
			bad(fmt.Sprintf("exclude[%d]", i), "invalid glob %q", p)
		}
	}
	if c.StartAt != "beginning" && c.StartAt != "end" {
		bad("start_at", "must be \"beginning\" or \"end\", got %q", c.StartAt)
	}
	if c.MaxLineBytes <= 0 {
		bad("max_line_bytes", "must be > 0")
	} else if c.MaxLineBytes > 64<<20 {
		bad("max_line_bytes", "must be <= 64 MiB")
	} else if c.MaxInflightBytes > 0 && int64(c.MaxLineBytes) > c.MaxInflightBytes {
		bad("max_line_bytes", "must not exceed max_inflight_bytes (%d): one line must fit in memory", c.MaxInflightBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_interval", c.ReadInterval},
		{"poll_interval", c.PollInterval},
		{"rescan_interval", c.RescanInterval},
		{"commit_interval", c.CommitInterval},
		{"delete_wait", c.DeleteWait},
	} {
		if d.v <= 0 {
			bad(d.key, "must be > 0")
		}
	}
	if c.ReadBytesPerTurn < 4096 {
		bad("read_bytes_per_turn", "must be >= 4096")
	}
	if c.MaxOpenFiles < 1 || c.MaxOpenFiles > maxOpenFilesLimit {
		bad("max_open_files", "must be from 1 to %d, got %d", maxOpenFilesLimit, c.MaxOpenFiles)
	}
	if c.MaxInflightBytes <= 0 {
		bad("max_inflight_bytes", "must be > 0")
	}
	errs = append(errs, c.RateLimit.validate()...)
	return errors.Join(errs...)
}
