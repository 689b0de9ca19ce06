package chart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigValidates runs `ferry validate` (the binary named by FERRY_BIN;
// hack/helm.sh builds it from cmd/agent) on the config of every rendering, so
// that the chart never ships a config the agent refuses.
func TestConfigValidates(t *testing.T) {
	bin := os.Getenv("FERRY_BIN")
	if bin == "" {
		t.Skip("FERRY_BIN is not set: cannot run `ferry validate` on the rendered configs (hack/helm.sh builds the agent from cmd/agent and sets it)")
	}
	for name, args := range renderings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := render(t, args...)
			cfg, text := configOf(t, m)
			dir := t.TempDir()
			text = standInSecretFiles(t, m, cfg, text, dir)
			path := filepath.Join(dir, "config.yaml")
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

// standInSecretFiles: the TLS files the config names live in a Secret that
// only the pod mounts. It writes a real self-signed certificate and key at
// the same paths under dir and points the config there, so that validate
// checks everything else as in the pod.
func standInSecretFiles(t *testing.T, m *manifests, cfg agentConfig, text, dir string) string {
	t.Helper()
	tls := cfg.Sink.Kafka.TLS
	if tls.CAFile == "" && tls.CertFile == "" && tls.KeyFile == "" {
		return text
	}
	secretVolumes := map[string]bool{}
	for _, v := range m.DaemonSet.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = true
		}
	}
	var mount string
	for _, vm := range theContainer(t, m).VolumeMounts {
		if secretVolumes[vm.Name] {
			mount = strings.TrimSuffix(vm.MountPath, "/") + "/"
		}
	}
	if mount == "" {
		t.Fatalf("the config names TLS files (%+v) but no Secret is mounted", tls)
	}
	certPEM, keyPEM := selfSigned(t)
	for _, f := range []struct {
		path string
		data []byte
	}{{tls.CAFile, certPEM}, {tls.CertFile, certPEM}, {tls.KeyFile, keyPEM}} {
		if f.path == "" {
			continue
		}
		if !strings.HasPrefix(f.path, mount) {
			t.Fatalf("TLS file %s is outside the Secret mount %s", f.path, mount)
		}
		local := filepath.Join(dir, "secret", strings.TrimPrefix(f.path, mount))
		if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return strings.ReplaceAll(text, mount, filepath.Join(dir, "secret")+"/")
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
