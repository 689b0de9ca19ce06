package main

import (
	"os/exec"
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
