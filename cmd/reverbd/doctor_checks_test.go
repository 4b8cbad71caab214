package main

import (
	"context"
	"crypto/x509"
	"regexp"
	"strings"
	"testing"
	"time"
)

// verifyChain tells apart what a browser would refuse a certificate for: the dates, the
// name, a self-signed certificate and a chain that stops short of a trusted root. The
// certificates are real; none is in the system's roots.
func TestVerifyChainNamesTheProblem(t *testing.T) {
	now := time.Now()
	valid := func(name string) certSpec {
		return certSpec{name: name, notBefore: now.Add(-time.Hour), notAfter: now.Add(90 * 24 * time.Hour)}
	}
	self, _ := newCert(t, valid("ws.example.com"))
	caSpec := valid("Doctor Test CA")
	caSpec.ca = true
	ca, caKey := newCert(t, caSpec)
	leafSpec := valid("ws.example.com")
	leafSpec.parent, leafSpec.parentKey = ca, caKey
	leaf, _ := newCert(t, leafSpec)
	expiredSpec := valid("ws.example.com")
	expiredSpec.notAfter = now.Add(-3 * 24 * time.Hour)
	expiredSpec.notBefore = now.Add(-30 * 24 * time.Hour)
	expired, _ := newCert(t, expiredSpec)
	futureSpec := valid("ws.example.com")
	futureSpec.notBefore = now.Add(24 * time.Hour)
	future, _ := newCert(t, futureSpec)

	for _, tc := range []struct {
		name, host  string
		sent        []*x509.Certificate
		detail, fix string
	}{
		{"expired", "ws.example.com", []*x509.Certificate{expired}, `^the certificate for ws.example.com expired on .* \(3 days ago\)$`, "renew it"},
		{"not yet valid", "ws.example.com", []*x509.Certificate{future}, `is valid only from`, "clock"},
		{"other name", "echo.example.com", []*x509.Certificate{self}, `^the certificate is for ws.example.com, not REVERB_HOST=echo.example.com$`, "names include REVERB_HOST"},
		{"self-signed", "ws.example.com", []*x509.Certificate{self}, `self-signed and not trusted`, "SSL_CERT_FILE"},
		{"chain without the root", "ws.example.com", []*x509.Certificate{leaf}, `issuer "Doctor Test CA" is unknown`, "full chain"},
		{"leaf and an untrusted CA", "ws.example.com", []*x509.Certificate{leaf, ca}, `sent 2 certificate\(s\)`, "full chain"},
	} {
		out := verifyChain(tc.host, tc.sent, now)
		if out.status != statusFail || !regexp.MustCompile(tc.detail).MatchString(out.detail) || !regexp.MustCompile(tc.fix).MatchString(out.fix) {
			t.Errorf("%s: %+v, want fail matching %q and fix %q", tc.name, out, tc.detail, tc.fix)
		}
	}
}

// REVERB_HOST and REVERB_SCHEME values that no client can use are refused before any lookup,
// each with what the variable should hold.
func TestDoctorPublicAddressSettings(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"REVERB_HOST="}, "REVERB_HOST is not set"},
		{[]string{"REVERB_HOST=0.0.0.0"}, "REVERB_HOST=0.0.0.0 is a bind address"},
		{[]string{"REVERB_HOST=https://ws.example.com"}, `REVERB_HOST="https://ws.example.com" is not a bare host name`},
		{[]string{"REVERB_HOST=ws.example.com:443"}, `REVERB_HOST="ws.example.com:443" is not a bare host name`},
		{[]string{"REVERB_HOST=ws.example.com", "REVERB_SCHEME=wss"}, `REVERB_SCHEME="wss" is neither http nor https`},
	} {
		d := &diagnosis{opts: doctorOptions{envFile: appEnvFile(t, tc.lines...)}}
		if out := checkConfig(context.Background(), d); out.status != statusOK {
			t.Fatalf("%q: config: %+v", tc.lines, out)
		}
		out := checkPublicAddress(context.Background(), d)
		if out.status != statusFail || !strings.Contains(out.detail, tc.want) || out.fix == "" {
			t.Errorf("%q: %+v, want a failure with %q and a fix", tc.lines, out, tc.want)
		}
	}
}
