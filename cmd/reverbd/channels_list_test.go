package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testCatalogueYAML is the Laravel example app's ChannelRegistry.
const testCatalogueYAML = `
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: user, pattern: "user.{id}", kind: private, max_subscriptions: 5}
- {name: order, pattern: "order.{id}", kind: private, cache: true}
`

// writeCatalogue writes testCatalogueYAML in a temporary directory and returns its path.
func writeCatalogue(t *testing.T) string {
	t.Helper()
	return catalogueFile(t, "channels.yaml", testCatalogueYAML)
}

// With a catalogue in warn mode, the real server's /metrics label channels by the catalogue's
// entry names and count the channels outside it by shape, and `reverbd channels` lists the
// patterns with their live counts and the shapes outside.
func TestChannelsListAndMetrics(t *testing.T) {
	catalogueFile := writeCatalogue(t)
	p := startProcess(t, append(metricsEnv, "REVERB_CHANNELS_FILE="+catalogueFile, "REVERB_CHANNELS_MODE=warn")...)
	a, b := p.dial(t), p.dial(t)
	a.subscribe("private-tenant.42.admins")
	b.subscribe("private-tenant.42.admins")
	b.subscribe("private-tenant.7")
	a.subscribe("private-tenant.5.admin") // outside: allowed in warn mode
	if err := p.sdk(t).Trigger("private-tenant.6.admin", "note", "x"); err != nil {
		t.Fatal(err)
	}
	const pre = "reverbd_"
	p.expect(t, pre,
		want{name: "channel_subscriptions", labels: []string{"app_id", e2eID, "kind", "private", "shape", "tenantAdmins"}, value: 2},
		want{name: "channels", labels: []string{"app_id", e2eID, "kind", "private", "shape", "tenant"}, value: 1},
		want{name: "channel_subscriptions", labels: []string{"app_id", e2eID, "shape", "private-tenant.{id}.admin"}, value: 1},
		want{name: "channels_outside_catalogue_total", labels: []string{"app_id", e2eID, "source", "subscribe", "shape", "private-tenant.{id}.admin"}, value: 1},
		want{name: "channels_outside_catalogue_total", labels: []string{"app_id", e2eID, "source", "trigger", "shape", "private-tenant.{id}.admin"}, value: 1},
	)

	_, port, _ := net.SplitHostPort(p.addr)
	_, adminPort, _ := net.SplitHostPort(p.adminAddr)
	env := filepath.Join(t.TempDir(), ".env")
	if err := writeFile(env, strings.Join([]string{
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret,
		"REVERB_SERVER_HOST=127.0.0.1", "REVERB_SERVER_PORT=" + port,
		"REVERB_ADMIN_PORT=" + adminPort, "REVERB_ADMIN_USERNAME=" + adminUser, "REVERB_ADMIN_PASSWORD=" + adminPassword,
		"REVERB_CHANNELS_FILE=" + catalogueFile, "REVERB_CHANNELS_MODE=warn",
	}, "\n")); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runContext(context.Background(), []string{"channels", "--env-file", env}, &stdout, &stderr); code != 0 {
		t.Fatalf("reverbd channels: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, line := range []string{
		`app ` + e2eID + `: warn mode, catalogue .*channels.yaml \(4 patterns\)`,
		`live counts from http://127\.0\.0\.1:` + port,
		`tenant +tenant\.\{id\} +private,presence +- +1 +1 +0`,
		`tenantAdmins +tenant\.\{id\}\.admins +private +- +1 +2 +0`,
		`user +user\.\{id\} +private +max_subscriptions=5 +0 +0 +0`,
		`order +order\.\{id\} +private +cache +0 +0 +0`,
		`outside the catalogue:`,
		`private-tenant\.\{id\}\.admin +1 +1 +0`,
		`outside the catalogue since the start \(warn mode\):`,
		`private-tenant\.\{id\}\.admin +subscribe +1`,
		`private-tenant\.\{id\}\.admin +trigger +1`,
	} {
		if !regexp.MustCompile(`(?m)` + line).MatchString(out) {
			t.Errorf("output has no line matching %s:\n%s", line, out)
		}
	}
}

// Without a server `reverbd channels` still lists the patterns and says why the counts are
// missing.
func TestChannelsListWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	env := filepath.Join(t.TempDir(), ".env")
	if err := writeFile(env, "REVERB_APP_ID=1\nREVERB_APP_KEY=k\nREVERB_APP_SECRET=s\nREVERB_SERVER_HOST=127.0.0.1\nREVERB_SERVER_PORT="+port+"\nREVERB_CHANNELS_FILE="+writeCatalogue(t)+"\nREVERB_CHANNELS_MODE=strict\n"); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runContext(context.Background(), []string{"channels", "--env-file", env}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "no live counts: no server answers at http://127.0.0.1:"+port) ||
		!regexp.MustCompile(`tenantAdmins +tenant\.\{id\}\.admins +private +- +- +- +-`).MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
}
