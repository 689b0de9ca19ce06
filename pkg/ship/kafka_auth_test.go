package ship

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server, client            tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"kafka.test"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c, certPEM, keyPEM
	}
	p := &testPKI{pool: x509.NewCertPool(), caFile: filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem")}
	p.pool.AddCert(ca)
	p.server, _, _ = leaf(2, "kafka", x509.ExtKeyUsageServerAuth)
	var certPEM, keyPEM []byte
	p.client, certPEM, keyPEM = leaf(3, "ferry", x509.ExtKeyUsageClientAuth)
	for f, b := range map[string][]byte{p.caFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: certPEM, p.keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestKafkaTLS(t *testing.T) {
	p := newTestPKI(t)
	_, addr := startCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12}))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.TLS = TLSConfig{Enabled: true, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "kafka.test"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 25, metaFor(1))
	h.logs <- ls
	h.finish(t)
	recs := consume(t, addr, 25, []string{"logs"}, kgo.DialTLSConfig(&tls.Config{RootCAs: p.pool,
		Certificates: []tls.Certificate{p.client}, ServerName: "kafka.test"}))
	checkPerKeyOrder(t, recs)
	if n := len(h.ack.cursors()); n != 25 {
		t.Errorf("acked %d, want 25", n)
	}
}

func TestKafkaTLSWithoutClientCertFails(t *testing.T) {
	p := newTestPKI(t)
	_, addr := startCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.TLS = TLSConfig{Enabled: true, CAFile: p.caFile}
	h := runShipper(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping succeeded without the client certificate the broker requires")
	}
	t.Logf("Ping: %v", err)
}

func TestKafkaSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			_, addr := startCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "ferry", "s3cret"))
			cfg := testKafkaConfig(addr)
			cfg.Kafka.SASL = SASLConfig{Mechanism: mech, Username: "ferry", Password: "s3cret"}
			h := runShipper(t, cfg, nil)
			h.logs <- makeLogs(1, 0, 15, metaFor(1))
			h.finish(t)
			var auth kgo.Opt
			switch mech {
			case "PLAIN":
				auth = kgo.SASL(plain.Auth{User: "ferry", Pass: "s3cret"}.AsMechanism())
			case "SCRAM-SHA-256":
				auth = kgo.SASL(scram.Auth{User: "ferry", Pass: "s3cret"}.AsSha256Mechanism())
			default:
				auth = kgo.SASL(scram.Auth{User: "ferry", Pass: "s3cret"}.AsSha512Mechanism())
			}
			recs := consume(t, addr, 15, []string{"logs"}, auth)
			checkPerKeyOrder(t, recs)
			if n := len(h.ack.cursors()); n != 15 {
				t.Errorf("acked %d, want 15", n)
			}
		})
	}
}

func TestKafkaSASLWrongPassword(t *testing.T) {
	_, addr := startCluster(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ferry", "s3cret"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "ferry", Password: "wrong"}
	h := runShipper(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.s.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "authentication likely failed") {
		t.Fatalf("Ping with a wrong password: %v; want an error saying authentication likely failed", err)
	}
	h.logs <- makeLogs(1, 0, 5, metaFor(1))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.logBuf.String(), "authentication likely failed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(h.logBuf.String(), "authentication likely failed") {
		t.Errorf("no log line hints at authentication:\n%s", h.logBuf.String())
	}
	t.Logf("Ping: %v", err)
	for _, l := range strings.Split(h.logBuf.String(), "\n") {
		if strings.Contains(l, "level=WARN") {
			t.Logf("log: %s", l)
			break
		}
	}
	h.cancel()
	<-h.errc
	if n := len(h.ack.cursors()); n != 0 {
		t.Errorf("acked %d records never delivered", n)
	}
	if !h.s.LastSuccess().IsZero() {
		t.Error("LastSuccess set though nothing succeeded")
	}
}

func TestKafkaTLSUnknownCA(t *testing.T) {
	p, other := newTestPKI(t), newTestPKI(t)
	_, addr := startCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server}}))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.TLS = TLSConfig{Enabled: true, CAFile: other.caFile}
	h := runShipper(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.s.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "TLS handshake failed") {
		t.Fatalf("Ping against a broker signed by another CA: %v; want a TLS hint", err)
	}
}
