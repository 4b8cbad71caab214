package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/config/selfsigned"
	"github.com/reverbd/reverbd/registry/metrics/live"
	"github.com/reverbd/reverbd/registry/redistest"
)

// tlsNode is a reverbd binary serving TLS from cert.pem and key.pem in dir, with the apps of
// dir/apps.json and the settings of dir/.env, which a test rewrites before a SIGHUP.
type tlsNode struct {
	t    *testing.T
	dir  string
	addr string
	cmd  *exec.Cmd
	log  *lockedBuffer
	pool *x509.CertPool // trusts every certificate the node was given
}

// fileApp is one app of the apps file.
type fileApp struct {
	ID     string `json:"app_id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

func startTLSNode(t *testing.T, apps []fileApp) *tlsNode {
	t.Helper()
	return startTLSNodeEnv(t, apps, "REVERB_DEBUG=false")
}

// startTLSNodeEnv is startTLSNode with env (lines of the .env file) as its other settings.
func startTLSNodeEnv(t *testing.T, apps []fileApp, env string) *tlsNode {
	t.Helper()
	buildBinary(t)
	n := &tlsNode{t: t, dir: t.TempDir(), log: new(lockedBuffer), pool: x509.NewCertPool()}
	n.newCertificate()
	n.writeApps(apps)
	n.writeEnv(env)
	port := freePort(t)
	n.addr = "127.0.0.1:" + port
	n.cmd = exec.Command(binaryPath, "start", "--env-file", filepath.Join(n.dir, ".env"), "--host", "127.0.0.1", "--port", port)
	n.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.cmd.Process.Kill(); _ = n.cmd.Wait() })
	n.waitLog(`msg="reverbd started"`, 1)
	return n
}

// newCertificate writes a new certificate and key over cert.pem and key.pem and returns its
// fingerprint.
func (n *tlsNode) newCertificate() [32]byte {
	n.t.Helper()
	pair, err := selfsigned.New(time.Hour)
	if err != nil {
		n.t.Fatal(err)
	}
	if _, _, err := pair.Write(n.dir); err != nil {
		n.t.Fatal(err)
	}
	n.pool.AppendCertsFromPEM(pair.CertPEM)
	return pair.Fingerprint()
}

func (n *tlsNode) writeApps(apps []fileApp) {
	n.t.Helper()
	b, _ := json.Marshal(apps)
	n.writeFile("apps.json", string(b))
}

func (n *tlsNode) writeEnv(extra string) {
	n.t.Helper()
	n.writeFile(".env", strings.Join([]string{
		"REVERB_APPS_FILE=" + filepath.Join(n.dir, "apps.json"),
		"REVERB_SERVER_TLS_CERT=" + filepath.Join(n.dir, "cert.pem"),
		"REVERB_SERVER_TLS_KEY=" + filepath.Join(n.dir, "key.pem"),
		extra, "",
	}, "\n"))
}

func (n *tlsNode) writeFile(name, content string) {
	n.t.Helper()
	if err := writeFile(filepath.Join(n.dir, name), content); err != nil {
		n.t.Fatal(err)
	}
}

// hup sends SIGHUP and returns the log lines of that reload (the reload'th), once one of
// them contains last.
func (n *tlsNode) hup(reload int, last string) []string {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		n.t.Fatal(err)
	}
	mine := regexp.MustCompile(`\breload=` + strconv.Itoa(reload) + `\b`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var lines []string
		done := false
		for _, l := range strings.Split(n.log.String(), "\n") {
			if mine.MatchString(l) {
				lines = append(lines, l)
				done = done || strings.Contains(l, last)
			}
		}
		if done {
			return lines
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("reload %d: no line with %q within 10s:\n%s", reload, last, n.log.String())
		}
	}
}

// waitLog waits until count lines match pattern.
func (n *tlsNode) waitLog(pattern string, count int) {
	n.t.Helper()
	re := regexp.MustCompile(pattern)
	for deadline := time.Now().Add(10 * time.Second); len(re.FindAllString(n.log.String(), -1)) < count; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			n.t.Fatalf("no log line matching %q within 10s:\n%s", pattern, n.log.String())
		}
	}
}

// dial opens a wss:// connection for key and returns it with the fingerprint of the
// certificate the node presented.
func (n *tlsNode) dial(key string) (*wsClient, [32]byte) {
	n.t.Helper()
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: n.pool}, Timeout: 5 * time.Second}
	conn, br, _, err := d.Dial(context.Background(), "wss://"+n.addr+"/app/"+key+"?protocol=7&client=js&version=8.6.0")
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: n.t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	ev, data := c.read()
	if ev == "pusher:connection_established" {
		var d struct {
			SocketID string `json:"socket_id"`
		}
		json.Unmarshal([]byte(data), &d)
		c.socketID = d.SocketID
	} else {
		c.socketID = "refused: " + ev + " " + data
	}
	return c, sha256.Sum256(conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw)
}

// sdk is the official Go SDK for app over https, trusting the node's certificates.
func (n *tlsNode) sdk(app fileApp) *pusher.Client {
	return &pusher.Client{AppID: app.ID, Key: app.Key, Secret: app.Secret, Host: n.addr, Secure: true,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.pool}}}}
}

// subscribePrivate subscribes c to channel with a signature made with secret and returns
// the event answered.
func (c *wsClient) subscribePrivate(app fileApp, channel string) string {
	c.t.Helper()
	sdk := pusher.Client{AppID: app.ID, Key: app.Key, Secret: app.Secret}
	b, err := sdk.AuthorizePrivateChannel([]byte("socket_id=" + c.socketID + "&channel_name=" + channel))
	if err != nil {
		c.t.Fatal(err)
	}
	var auth struct {
		Auth string `json:"auth"`
	}
	json.Unmarshal(b, &auth)
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"auth": auth.Auth, "channel": channel}})
	c.send(string(msg))
	ev, _ := c.read()
	return ev
}

// SIGHUP reloads the apps file and the certificate of the real binary without dropping a
// connection: new handshakes get the new certificate while the open connections stay and
// keep working; an added app connects at once, a removed app's connections get 4001, a kept
// app's new secret checks the next subscribe and signs the next API call (the official Go
// SDK over https). A reload that fails (a bad apps file, then a key that is not the
// certificate's) logs one error line and keeps everything as it was.
func TestSIGHUPReloadsAppsAndCertificate(t *testing.T) {
	kept := fileApp{ID: "10", Key: "kept-key", Secret: "kept-secret"}
	removed := fileApp{ID: "20", Key: "removed-key", Secret: "removed-secret"}
	n := startTLSNode(t, []fileApp{kept, removed})
	keptConn, firstCert := n.dial(kept.Key)
	removedConn, _ := n.dial(removed.Key)
	if keptConn.subscribePrivate(kept, "private-before") != "pusher_internal:subscription_succeeded" {
		t.Fatal("subscribe before the reload refused")
	}

	rotated := kept
	rotated.Secret = "rotated-secret"
	added := fileApp{ID: "30", Key: "added-key", Secret: "added-secret"}
	n.writeApps([]fileApp{rotated, added})
	secondCert := n.newCertificate()
	n.writeEnv("REVERB_DEBUG=true")
	lines := n.hup(1, `msg="configuration reloaded"`)
	if joined := strings.Join(lines, "\n"); !strings.Contains(joined, "added=30") || !strings.Contains(joined, "removed=20") ||
		!strings.Contains(joined, "changed=10") || !strings.Contains(joined, "closed_connections=1") ||
		!strings.Contains(joined, "log_level=DEBUG") || !strings.Contains(joined, `msg="TLS certificate loaded"`) {
		t.Errorf("reload lines:\n%s", joined)
	}

	if ev, data := removedConn.read(); ev != "pusher:error" || !strings.Contains(data, "4001") {
		t.Errorf("removed app's connection: %s %s, want pusher:error 4001", ev, data)
	}
	if ev, _ := removedConn.read(); ev != "close:4001" {
		t.Errorf("removed app's connection: %s, want close:4001", ev)
	}

	newConn, cert := n.dial(added.Key)
	if cert != secondCert || cert == firstCert {
		t.Errorf("a new handshake after the reload got the old certificate")
	}
	if strings.HasPrefix(newConn.socketID, "refused") {
		t.Fatalf("added app: %s", newConn.socketID)
	}
	if c, _ := n.dial(removed.Key); !strings.Contains(c.socketID, "4001") {
		t.Errorf("removed app's key after the reload: %s, want 4001", c.socketID)
	}

	// The connection opened before the reload, on the first certificate, works on.
	keptConn.send(`{"event":"pusher:ping","data":{}}`)
	if ev, _ := keptConn.read(); ev != "pusher:pong" {
		t.Fatalf("connection opened before the reload: %s, want pusher:pong", ev)
	}
	if ev := keptConn.subscribePrivate(kept, "private-old-secret"); ev != "pusher:subscription_error" {
		t.Errorf("subscribe signed with the old secret: %s, want pusher:subscription_error", ev)
	}
	if ev := keptConn.subscribePrivate(rotated, "private-after"); ev != "pusher_internal:subscription_succeeded" {
		t.Errorf("subscribe signed with the new secret: %s", ev)
	}
	if ev := newConn.subscribePrivate(added, "private-added"); ev != "pusher_internal:subscription_succeeded" {
		t.Errorf("added app's subscribe: %s", ev)
	}
	if err := n.sdk(rotated).Trigger("private-after", "rotated", map[string]int{"n": 1}); err != nil {
		t.Fatalf("trigger signed with the new secret over https: %v", err)
	}
	if data := keptConn.expect("rotated"); data != `{"n":1}` {
		t.Errorf("event data %s", data)
	}
	if err := n.sdk(added).Trigger("private-added", "added", map[string]int{"n": 2}); err != nil {
		t.Fatalf("added app's trigger over https: %v", err)
	}
	if data := newConn.expect("added"); data != `{"n":2}` {
		t.Errorf("event data %s", data)
	}
	if err := n.sdk(kept).Trigger("private-after", "stale", map[string]int{"n": 3}); err == nil {
		t.Error("a trigger signed with the old secret was accepted")
	}

	// Failed reloads: one error line each, and nothing changes.
	n.writeFile("apps.json", `[{"app_id": "10", "key": "kept-key"}]`) // no secret
	lines = n.hup(2, `reload failed`)
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "secret is missing") {
		t.Errorf("failed reload, want one error line naming the problem:\n%s", strings.Join(lines, "\n"))
	}
	n.writeApps([]fileApp{rotated, added})
	other, err := selfsigned.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n.writeFile("key.pem", string(other.KeyPEM))
	lines = n.hup(3, `reload failed`)
	if len(lines) != 1 || !strings.Contains(lines[0], "private key does not match public key") {
		t.Errorf("reload with a key of another certificate, want one error line:\n%s", strings.Join(lines, "\n"))
	}
	if c, cert := n.dial(added.Key); strings.HasPrefix(c.socketID, "refused") || cert != secondCert {
		t.Errorf("after failed reloads: %s, same certificate %v", c.socketID, cert == secondCert)
	}
	keptConn.send(`{"event":"pusher:ping","data":{}}`)
	if ev, _ := keptConn.read(); ev != "pusher:pong" {
		t.Errorf("connection opened before the reloads: %s, want pusher:pong", ev)
	}
}

// After a SIGHUP the metrics and the live page follow the apps file: an added app counts
// under its own app_id (not "unknown") from its first connection and trigger, and a removed
// app's series are no longer exported, on /metrics and on /stats.json alike.
func TestSIGHUPGivesAddedAppsTheirMetrics(t *testing.T) {
	kept := fileApp{ID: "10", Key: "kept-key", Secret: "kept-secret"}
	removed := fileApp{ID: "20", Key: "removed-key", Secret: "removed-secret"}
	admin := &process{adminAddr: "127.0.0.1:" + freePort(t)}
	_, port, _ := strings.Cut(admin.adminAddr, ":")
	env := strings.Join([]string{"REVERB_ADMIN_PORT=" + port, "REVERB_ADMIN_USERNAME=" + adminUser, "REVERB_ADMIN_PASSWORD=" + adminPassword}, "\n")
	n := startTLSNodeEnv(t, []fileApp{kept, removed}, env)
	const pre = "reverbd_"
	n.dial(removed.Key)
	admin.expect(t, pre, want{name: "connected", labels: []string{"app_id", removed.ID}, value: 1})

	added := fileApp{ID: "30", Key: "added-key", Secret: "added-secret"}
	n.writeApps([]fileApp{kept, added})
	n.hup(1, `msg="configuration reloaded"`)
	c, _ := n.dial(added.Key)
	if c.subscribePrivate(added, "private-added") != "pusher_internal:subscription_succeeded" {
		t.Fatal("added app's subscribe refused")
	}
	if err := n.sdk(added).Trigger("private-added", "added", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	c.expect("added")
	id := []string{"app_id", added.ID}
	unknown := []string{"app_id", "unknown"}
	s := admin.expect(t, pre,
		want{name: "connected", labels: id, value: 1},
		want{name: "new_connections_total", labels: id, value: 1},
		want{name: "http_calls_received_total", labels: id, value: 1},
		want{name: "events_delivered_total", labels: id, value: 1},
		want{name: "channel_subscriptions", labels: id, value: 1},
		want{name: "new_connections_total", labels: unknown, value: 0},
		want{name: "http_calls_received_total", labels: unknown, value: 0},
		want{name: "events_delivered_total", labels: unknown, value: 0})
	for name, f := range s.fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "app_id" && l.GetValue() == removed.ID {
					t.Errorf("%s still exports the removed app: %v", name, m.Label)
				}
			}
		}
	}
	admin.statsUntil(t, "the added app on the live page, the removed one gone", func(st live.Stats) bool {
		ids := map[string]float64{}
		for _, a := range st.Apps {
			ids[a.AppID] = a.Connections
		}
		_, gone := ids[removed.ID]
		_, unknownShown := ids["unknown"]
		return ids[added.ID] == 1 && !gone && !unknownShown
	})
}

// A SIGHUP sent to every reverbd process (kill -HUP $(pidof reverbd)) does not end a
// `reverbd worker`, which SIGHUP would by default: the worker says it reloads nothing and runs
// on until SIGTERM, then exits 0.
func TestWorkerSurvivesSIGHUP(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	buildBinary(t)
	cmd := exec.Command(binaryPath, "worker", "--env-file", os.DevNull)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)
	logs := new(lockedBuffer)
	cmd.Stderr = logs
	startUntilTestEnds(t, cmd)
	n := &tlsNode{t: t, log: logs}
	n.waitLog(`msg="reverbd worker started"`, 1)
	for i := 1; i <= 2; i++ {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		n.waitLog(`SIGHUP ignored`, i)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker after two SIGHUPs and a SIGTERM: %v\n%s", err, logs.String())
	}
}
