package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAgentDoesNotLinkTheClientset keeps the agent's binary small: client-go's
// typed clientset and informer factory register every Kubernetes API group
// at start (the binary was 95 MB with them, 43 MB without, and an idle agent
// kept 19 MiB more of it resident). Enrich needs core/v1 only.
func TestAgentDoesNotLinkTheClientset(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var apiGroups []string
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "k8s.io/client-go/kubernetes", p == "k8s.io/client-go/informers",
			strings.HasPrefix(p, "k8s.io/client-go/kubernetes/"):
			t.Errorf("the agent links %s", p)
		case strings.HasPrefix(p, "k8s.io/api/"):
			apiGroups = append(apiGroups, p)
		}
	}
	if len(apiGroups) != 1 || apiGroups[0] != "k8s.io/api/core/v1" {
		t.Errorf("API groups linked: %v, want only k8s.io/api/core/v1", apiGroups)
	}
}

// imageBuild returns the go build command line of the Dockerfile's build
// stage (hack/image.sh runs the same line) and the build tags it sets.
func imageBuild(t *testing.T) (line string, tags string) {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 .* go build .*)$`).FindAllStringSubmatch(string(b), -1)
	if len(lines) != 1 {
		t.Fatalf("Dockerfile: %d 'RUN CGO_ENABLED=0 ... go build ...' lines, want 1", len(lines))
	}
	line = lines[0][1]
	if m := regexp.MustCompile(`\s-tags[= ]"?([^"\s]+)`).FindStringSubmatch(line); m != nil {
		tags = m[1]
	}
	return line, tags
}

// demoOnly are the packages only ferry demo needs: the in-process broker,
// the second Kafka client that reads back (the agent ships with kafka-go)
// and the simulated node.
func demoOnly(pkg string) bool {
	return strings.HasPrefix(pkg, "github.com/twmb/franz-go/") ||
		pkg == "github.com/ferry-dev/ferry/internal/simnode" ||
		pkg == "github.com/ferry-dev/ferry/internal/e2eharness"
}

// TestImageBinaryLeavesOutTheDemo keeps the demo out of the DaemonSet's
// binary: built as the Dockerfile builds it (-tags nodemo) the agent links
// neither franz-go (kfake, kgo) nor the simulated node, which made it 24 %
// larger (hack/demo-cost.sh measures it), and its ferry demo says how to run
// the demo instead. Without the tag the demo is still there, for
// `go run ./cmd/agent demo`.
func TestImageBinaryLeavesOutTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list and go build")
	}
	line, tags := imageBuild(t)
	if !slices.Contains(strings.Split(tags, ","), "nodemo") {
		t.Fatalf("the Dockerfile builds the demo into the image: no -tags nodemo in\n  %s", line)
	}
	deps := func(args ...string) []string {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, append(args, ".")...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	var linked []string
	for _, p := range deps("-tags", tags) {
		if demoOnly(p) {
			linked = append(linked, p)
		}
	}
	if len(linked) > 0 {
		t.Errorf("built with -tags %s the agent links what only the demo needs:\n  %s", tags, strings.Join(linked, "\n  "))
	}
	withDemo := deps()
	for _, p := range []string{"github.com/twmb/franz-go/pkg/kfake", "github.com/twmb/franz-go/pkg/kgo", "github.com/ferry-dev/ferry/internal/simnode"} {
		if !slices.Contains(withDemo, p) {
			t.Errorf("without -tags the agent does not link %s: is the demo still in `go run ./cmd/agent demo`?", p)
		}
	}

	// The tests compile with the image's tags too (a test of the demo
	// carries the demo's build constraint).
	if out, err := exec.Command("go", "vet", "-tags", tags, ".").CombinedOutput(); err != nil {
		t.Errorf("go vet -tags %s: %v\n%s", tags, err, out)
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	if out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %s: %v\n%s", tags, err, out)
	}
	var stderr strings.Builder
	cmd := exec.Command(bin, "demo")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ferry demo in the image's build: %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "\n  go run ./cmd/agent demo\n") {
		t.Errorf("ferry demo in the image's build does not say how to run the demo:\n%s", stderr.String())
	}
}
