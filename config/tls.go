package config

import (
	"crypto/tls"
	"fmt"
	"os"
)

// Certificate reads the certificate chain and private key named by REVERB_SERVER_TLS_CERT and
// REVERB_SERVER_TLS_KEY, and checks that they belong together. The error names the variable
// at fault and never holds key material. Call it only when [Config.TLS] is true.
func (c *Config) Certificate() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(c.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("config: REVERB_SERVER_TLS_CERT: %w", err) // *fs.PathError names the file
	}
	keyPEM, err := os.ReadFile(c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("config: REVERB_SERVER_TLS_KEY: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls says which input is wrong ("in certificate input", "private key does
		// not match public key") and quotes no key bytes.
		return nil, fmt.Errorf("config: REVERB_SERVER_TLS_CERT=%s and REVERB_SERVER_TLS_KEY=%s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &cert, nil
}
