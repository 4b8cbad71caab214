package main

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reverbd/reverbd/config"
)

// certificate is the public port's TLS certificate, REVERB_SERVER_TLS_CERT and
// REVERB_SERVER_TLS_KEY; a reload swaps it for the handshakes that follow.
type certificate struct {
	current atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the certificate cfg names and logs what it is.
func loadCertificate(cfg *config.Config, log *slog.Logger) (*certificate, error) {
	cert, err := cfg.Certificate()
	if err != nil {
		return nil, err
	}
	c := new(certificate)
	c.store(cert, log)
	return c, nil
}

// store makes cert the certificate of the next handshakes. It logs the names and expiry, and
// warns when the certificate is expired or not valid yet: it is served all the same (a local
// development certificate may be), but browsers will refuse it.
func (c *certificate) store(cert *tls.Certificate, log *slog.Logger) {
	c.current.Store(cert)
	leaf := cert.Leaf // parsed by tls.X509KeyPair
	if leaf == nil {
		return
	}
	names := strings.Join(leaf.DNSNames, ",")
	for _, ip := range leaf.IPAddresses {
		names = strings.TrimPrefix(names+","+ip.String(), ",")
	}
	if names == "" {
		names = leaf.Subject.CommonName
	}
	attrs := []any{"names", names, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
	switch now := time.Now(); {
	case now.After(leaf.NotAfter):
		log.Warn("TLS certificate has expired: browsers will refuse wss:// connections", attrs...)
	case now.Before(leaf.NotBefore):
		log.Warn("TLS certificate is not valid yet: browsers will refuse wss:// connections",
			append(attrs, "not_before", leaf.NotBefore.UTC().Format(time.RFC3339))...)
	default:
		log.Info("TLS certificate loaded", attrs...)
	}
}

// tlsConfig is the public listener's TLS configuration: the current certificate at each
// handshake; nil without TLS (c nil).
func (c *certificate) tlsConfig() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.current.Load(), nil },
	}
}
