package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// renewSoon is how close to its expiry a certificate is reported as due for renewal.
const renewSoon = 14 * 24 * time.Hour

// checkTLS checks the certificate served at the public address when REVERB_SCHEME=https:
// it must be valid now, chain to a trusted root (the system's, or SSL_CERT_FILE and
// SSL_CERT_DIR when set) and name REVERB_HOST. The handshake itself does not verify, so that
// the problem can be told precisely.
func checkTLS(ctx context.Context, d *diagnosis) outcome {
	if !d.public.tls {
		return notApplicable("REVERB_SCHEME=http: no TLS to check (browsers on an https page need wss://, so REVERB_SCHEME=https)")
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	dialer := tls.Dialer{Config: &tls.Config{
		ServerName:         d.public.host,
		InsecureSkipVerify: true, // verified below, to say what is wrong
		NextProtos:         []string{"http/1.1"},
	}}
	conn, err := dialer.DialContext(ctx, "tcp", d.public.addr())
	if err != nil {
		return tlsHandshakeProblem(d, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	return verifyChain(d.public.host, certs, time.Now())
}

// tlsHandshakeProblem explains a failed TLS handshake.
func tlsHandshakeProblem(d *diagnosis, err error) outcome {
	var header tls.RecordHeaderError
	if errors.As(err, &header) {
		return fail(fmt.Sprintf("%s answers without TLS (plain HTTP?) while REVERB_SCHEME=https", d.public.addr()),
			"point REVERB_PORT at the TLS port of the proxy (443), or set REVERB_SCHEME=http if the server is meant to be reached without TLS")
	}
	return fail(fmt.Sprintf("TLS handshake with %s failed: %v", d.public.addr(), err),
		"check the proxy's TLS settings (ssl_certificate, ssl_certificate_key, ssl_protocols TLSv1.2 TLSv1.3) and its error log")
}

// verifyChain verifies the certificates a server sent for host at time now, as a browser
// would, and says what is wrong first: the dates, the name, then the chain.
func verifyChain(host string, certs []*x509.Certificate, now time.Time) outcome {
	if len(certs) == 0 {
		return fail("the server sent no certificate", "configure the proxy's certificate (ssl_certificate)")
	}
	leaf := certs[0]
	names := certNames(leaf)
	const day = "2006-01-02 15:04 MST"
	switch {
	case now.After(leaf.NotAfter):
		return fail(fmt.Sprintf("the certificate for %s expired on %s (%s ago)", names, leaf.NotAfter.UTC().Format(day), roundDays(now.Sub(leaf.NotAfter))),
			"renew it (certbot renew, or your CA) and reload the proxy (nginx -s reload); check that the renewal timer runs")
	case now.Before(leaf.NotBefore):
		return fail(fmt.Sprintf("the certificate for %s is valid only from %s", names, leaf.NotBefore.UTC().Format(day)),
			"check this host's clock (timedatectl), or wait until the certificate is valid")
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return fail(fmt.Sprintf("the certificate is for %s, not REVERB_HOST=%s", names, host),
			"serve a certificate whose names include REVERB_HOST, or set REVERB_HOST to a name the certificate has")
	}
	pool := x509.NewCertPool()
	for _, c := range certs[1:] {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: pool, CurrentTime: now})
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknown) && len(certs) == 1 && selfSigned(leaf):
		return fail(fmt.Sprintf("the certificate for %s is self-signed and not trusted on this host", names),
			"use a certificate from a public CA (Let's Encrypt) for browsers; to test a private CA, point SSL_CERT_FILE at its certificate when running the doctor")
	case errors.As(err, &unknown):
		return fail(fmt.Sprintf("the chain does not reach a trusted root: the server sent %d certificate(s), issuer %q is unknown", len(certs), leaf.Issuer.CommonName),
			"serve the full chain (ssl_certificate fullchain.pem, not cert.pem); a private CA's certificate goes in SSL_CERT_FILE for the doctor")
	case err != nil:
		return fail("the certificate chain does not verify: "+err.Error(),
			"serve a certificate and chain from a CA browsers trust (ssl_certificate fullchain.pem)")
	}
	left := leaf.NotAfter.Sub(now)
	detail := fmt.Sprintf("certificate for %s, issued by %q, valid until %s (%s left), chain verified",
		names, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(day), roundDays(left))
	if left < renewSoon {
		detail += "; renew it soon"
	}
	return outcome{status: statusOK, detail: detail}
}

// selfSigned reports whether c is signed by its own key (CheckSignatureFrom would also want
// c to be a CA, which many self-signed server certificates are not).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

// roundDays writes d in days, or in hours under two days.
func roundDays(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// tlsConfigFor is the verifying client configuration for e: the system's roots (with
// SSL_CERT_FILE and SSL_CERT_DIR honoured) and e's name (its host unless set) as the name.
func tlsConfigFor(e endpoint) *tls.Config {
	name := e.host
	if e.name != "" {
		name = e.name
	}
	if ip := net.ParseIP(name); ip != nil {
		name = ip.String()
	}
	return &tls.Config{ServerName: name, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
}
