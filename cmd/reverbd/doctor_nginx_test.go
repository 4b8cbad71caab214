package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shippedSite is the nginx site file deployment/ ships; the doctor's tests run nginx with it.
const shippedSite = "../../deployment/nginx/reverbd.conf"

// nginxBinary returns nginx's path (NGINX_BIN wins), skipping the test without it, or failing
// it under CI=true.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("NGINX_BIN"); bin != "" {
		return bin
	}
	for _, p := range []string{"nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed; CI runs the nginx tests (apt-get install -y nginx)")
	}
	t.Skip("nginx is not installed (apt-get install -y nginx)")
	return ""
}

// replaceExactly replaces the matches of re in text with repl, failing the test unless there
// are exactly count of them: when the shipped file changes shape, the test says so instead of
// running nginx on a config that is no longer it.
func replaceExactly(t *testing.T, text, re string, count int, repl string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	if n := len(rx.FindAllStringIndex(text, -1)); n != count {
		t.Fatalf("%s: want %d matches of %s, found %d: bring the doctor's nginx test in step with the file", shippedSite, count, re, n)
	}
	return rx.ReplaceAllString(text, repl)
}

// nginxSite is the shipped site file changed only mechanically: reverbd's port, loopback
// listen ports (no [::] listens), the certificate files; then edit, if any, changes it the
// way a test's broken setup needs.
func nginxSite(t *testing.T, upstreamPort, httpsPort, httpPort, cert, key string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(shippedSite)
	if err != nil {
		t.Fatal(err)
	}
	site := string(b)
	site = replaceExactly(t, site, `\bserver 127\.0\.0\.1:8080;`, 1, "server 127.0.0.1:"+upstreamPort+";")
	site = replaceExactly(t, site, `\blisten 443 ssl;`, 1, "listen 127.0.0.1:"+httpsPort+" ssl;")
	site = replaceExactly(t, site, `\blisten 80;`, 1, "listen 127.0.0.1:"+httpPort+";")
	site = replaceExactly(t, site, `\blisten \[::\]:(443 ssl|80);`, 2, "# [::] listen dropped")
	site = replaceExactly(t, site, `(?m)^(\s*ssl_certificate\s+)\S+;`, 1, "${1}"+cert+";")
	site = replaceExactly(t, site, `(?m)^(\s*ssl_certificate_key\s+)\S+;`, 1, "${1}"+key+";")
	if edit != nil {
		site = edit(site)
	}
	return site
}

// startNginx runs nginx in the foreground with site (see nginxSite) in a main config of its
// own, and stops it with the test. It returns once the https port accepts connections.
func startNginx(t *testing.T, dir, site, httpsPort string) {
	t.Helper()
	bin := nginxBinary(t)
	// nginx started as root runs its workers as nobody: they must reach the temp paths.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sitePath := filepath.Join(dir, "reverbd.conf")
	if err := writeFile(sitePath, site); err != nil {
		t.Fatal(err)
	}
	var temps strings.Builder
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", kind, filepath.Join(dir, kind+"_temp"))
	}
	errorLog := filepath.Join(dir, "error.log")
	main := fmt.Sprintf("pid %s;\nerror_log %s notice;\nworker_processes 1;\nevents { worker_connections 256; }\nhttp {\n    access_log off;\n%s    include %s;\n}\n",
		filepath.Join(dir, "nginx.pid"), errorLog, temps.String(), sitePath)
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := writeFile(mainPath, main); err != nil {
		t.Fatal(err)
	}
	args := []string{"-e", errorLog, "-p", dir, "-c", mainPath}
	if out, err := exec.Command(bin, append(args, "-t", "-q")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n--- site ---\n%s", err, out, site)
	}
	cmd := exec.Command(bin, append(args, "-g", "daemon off;")...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := startWatched(t, cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown, workers included
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+httpsPort); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(errorLog)
			t.Fatalf("nginx exited:\n%s%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen within 10s")
		}
	}
}

// writeCert writes a self-signed certificate for localhost and 127.0.0.1, valid from
// notBefore to notAfter, and its key into dir; it returns their paths.
func writeCert(t *testing.T, dir string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	cert, key := newCert(t, certSpec{name: "localhost", ip: "127.0.0.1", notBefore: notBefore, notAfter: notAfter, ca: true})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeFile(certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// certSpec describes a test certificate.
type certSpec struct {
	name                string // the common name and DNS name
	ip                  string // an IP address name, or ""
	notBefore, notAfter time.Time
	ca                  bool
	parent              *x509.Certificate // the issuer; nil: self-signed
	parentKey           *ecdsa.PrivateKey
}

// newCert creates a certificate as spec says, with a fresh P-256 key.
func newCert(t *testing.T, spec certSpec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: spec.name},
		DNSNames:              []string{spec.name},
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
	}
	if spec.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if spec.ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(spec.ip)}
	}
	parent, parentKey := tmpl, key
	if spec.parent != nil {
		parent, parentKey = spec.parent, spec.parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
