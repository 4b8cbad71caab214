package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/config/selfsigned"
)

// Certificate reads the pair and names the variable at fault without quoting key material.
func TestCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pair, err := selfsigned.New(time.Hour, "ws.example.test")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := pair.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := selfsigned.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other-key.pem")
	if err := os.WriteFile(otherKey, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	c := &Config{TLSCert: certFile, TLSKey: keyFile}
	cert, err := c.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS() || cert.Leaf == nil || cert.Leaf.DNSNames[0] != "ws.example.test" {
		t.Errorf("TLS() = %v, leaf %v", c.TLS(), cert.Leaf)
	}

	for _, tc := range []struct {
		name      string
		cert, key string
		want      string
	}{
		{"no cert file", filepath.Join(dir, "missing.pem"), keyFile, "REVERB_SERVER_TLS_CERT: open " + dir},
		{"no key file", certFile, filepath.Join(dir, "missing.pem"), "REVERB_SERVER_TLS_KEY: open " + dir},
		{"key of another certificate", certFile, otherKey, "private key does not match public key"},
		{"key given as the certificate", keyFile, keyFile, "REVERB_SERVER_TLS_CERT=" + keyFile},
	} {
		_, err := (&Config{TLSCert: tc.cert, TLSKey: tc.key}).Certificate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(other.KeyPEM[30:50])) {
			t.Errorf("%s: the error quotes the key: %v", tc.name, err)
		}
	}
}
