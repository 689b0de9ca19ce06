package enrich

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the `kubernetes:` section of the agent's configuration.
type Config struct {
	// Enabled turns enrichment from the API server on. Default true. When false, lines get only
	// the metadata their path gives (namespace, pod, uid, container, node).
	Enabled bool `yaml:"enabled"`
	// Kubeconfig is the path of a kubeconfig file. Default "": the in-cluster service account.
	Kubeconfig string `yaml:"kubeconfig"`
	// Annotations are glob patterns ('*' matches any run of characters, '/' included; '?' one
	// character) of the pod annotations copied into each line's metadata. Default
	// ["app.kubernetes.io/*"].
	Annotations []string `yaml:"annotations"`
	// ExcludeAnnotation is the pod annotation that, set to "true", excludes every container of
	// the pod; the same key with "-containers" appended ("ferry.dev/exclude-containers: a,b")
	// excludes the listed containers. Default "ferry.dev/exclude"; "" disables exclusion.
	ExcludeAnnotation string `yaml:"exclude_annotation"`
	// NamespaceLabels adds the labels of each pod's namespace (one more, cluster-wide, informer;
	// the ClusterRole then needs get/list/watch on namespaces). Default false.
	NamespaceLabels bool `yaml:"namespace_labels"`
	// SyncTimeout bounds the wait for the first cache sync before lines flow. Default 10s.
	SyncTimeout time.Duration `yaml:"sync_timeout"`
	// MissWait is how long the lines of one file wait for their pod to show up in the cache,
	// once per file, before they go out with the metadata their path gives. Other files keep
	// flowing meanwhile. Default 2s; 0 disables waiting.
	MissWait time.Duration `yaml:"miss_wait"`
	// DeleteGrace is how long a deleted pod's metadata is kept after both its deletion and the
	// last line seen from its files. Default 60s.
	DeleteGrace time.Duration `yaml:"delete_grace"`
	// MaxDeletedPods bounds how many deleted pods are kept for their last lines; beyond it the
	// oldest deletions are forgotten first. Default 1000.
	MaxDeletedPods int `yaml:"max_deleted_pods"`
	// MaxParkedLines bounds the lines held back while their files wait for a pod (over all
	// files). A file whose lines would exceed it is released at once. Default 10000.
	MaxParkedLines int `yaml:"max_parked_lines"`
	// NodeName is this node's name, set by the agent from the top-level node_name. Required when
	// Enabled.
	NodeName string `yaml:"-"`
}

// DefaultConfig returns the configuration that fits a standard node.
func DefaultConfig() Config {
	return Config{
		Enabled:           true,
		Annotations:       []string{"app.kubernetes.io/*"},
		ExcludeAnnotation: "ferry.dev/exclude",
		SyncTimeout:       10 * time.Second,
		MissWait:          2 * time.Second,
		DeleteGrace:       60 * time.Second,
		MaxDeletedPods:    1000,
		MaxParkedLines:    10000,
	}
}

// Validate returns every problem of c, each naming its yaml key, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Enabled && c.NodeName == "" {
		add("node_name", "required when enabled (set the top-level node_name, e.g. ${NODE_NAME})")
	}
	if c.NodeName != "" {
		if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
			add("node_name", "%q is not a valid node name: %s", c.NodeName, strings.Join(msgs, "; "))
		}
	}
	for i, p := range c.Annotations {
		if p == "" {
			add(fmt.Sprintf("annotations[%d]", i), "must not be empty")
		}
	}
	if c.ExcludeAnnotation != "" {
		if msgs := validation.IsQualifiedName(c.ExcludeAnnotation + "-containers"); len(msgs) > 0 {
			add("exclude_annotation", "%q is not a valid annotation key: %s", c.ExcludeAnnotation, strings.Join(msgs, "; "))
		}
	}
	if c.SyncTimeout <= 0 {
		add("sync_timeout", "must be > 0")
	}
	if c.MissWait < 0 {
		add("miss_wait", "must be >= 0")
	}
	if c.DeleteGrace < 0 {
		add("delete_grace", "must be >= 0")
	}
	if c.MaxDeletedPods <= 0 {
		add("max_deleted_pods", "must be > 0")
	}
	if c.MaxParkedLines <= 0 {
		add("max_parked_lines", "must be > 0")
	}
	return errors.Join(errs...)
}

// globMatch reports whether name matches pattern, where '*' matches any run of characters
// ('/' included) and '?' any single byte; everything else is literal.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}
