package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestConfigValidates runs `ferry validate` (the binary named by FERRY_BIN;
// hack/helm.sh builds it from cmd/agent) on the config of every rendering, so
// that the chart never ships a config the agent refuses.
func TestConfigValidates(t *testing.T) {
	bin := os.Getenv("FERRY_BIN")
	if bin == "" {
		t.Skip("FERRY_BIN is not set (hack/helm.sh sets it when cmd/agent exists)")
	}
	for name, args := range renderings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, text := configOf(t, render(t, args...))
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "validate", "--config", path)
			// What the pod's environment provides.
			cmd.Env = append(os.Environ(), "NODE_NAME=node-1", "KAFKA_PASSWORD=secret", "FERRY_MEMORY_LIMIT=268435456")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("ferry validate: %v\n%s\nconfig:\n%s", err, out, text)
			}
		})
	}
}
