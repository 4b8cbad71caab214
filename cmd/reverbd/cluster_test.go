package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// clusterEnv is the environment of one deployment: scaling on, the redis queue, a key
// prefix and queue of its own, and a short lease so a dead node leaves quickly.
func clusterEnv(t *testing.T, redisURL string) []string {
	t.Helper()
	name := redistest.Name(t)
	if redisURL == redistest.URL(t) {
		rdb := redistest.Client(t)
		t.Cleanup(func() {
			ctx := context.Background()
			keys, _ := rdb.Keys(ctx, "*"+name+"*").Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
		})
	}
	return []string{
		"REVERB_SCALING_ENABLED=true", "REVERB_SCALING_PREFIX=" + name, "REVERB_SCALING_LEASE=2s",
		"REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=" + redisURL, "REVERB_QUEUE_NAME=" + name,
	}
}

// startNodes starts n nodes with env and waits until each answers /up with 200.
func startNodes(t *testing.T, n int, env []string) []*process {
	t.Helper()
	nodes := make([]*process, n)
	for i := range nodes {
		nodes[i] = startProcess(t, env...)
	}
	for _, p := range nodes {
		waitUp(t, p, http.StatusOK)
	}
	return nodes
}

// startWorker runs `reverbd worker` in process with env until the test ends.
func startWorker(t *testing.T, env []string) {
	t.Helper()
	environ := append([]string{"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)
	empty := filepath.Join(t.TempDir(), ".env")
	writeFile(empty, "")
	cfg, err := config.Load(empty, environ)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWorker(ctx, cfg, slog.New(slog.DiscardHandler), newMetrics(cfg), nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// join subscribes c to a presence channel as userID and returns the member ids listed in
// subscription_succeeded.
func (c *wsClient) join(channel, userID string) []string {
	c.t.Helper()
	sdk := pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret}
	b, err := sdk.AuthorizePresenceChannel([]byte("socket_id="+c.socketID+"&channel_name="+channel), pusher.MemberData{UserID: userID})
	if err != nil {
		c.t.Fatal(err)
	}
	var auth struct {
		Auth        string `json:"auth"`
		ChannelData string `json:"channel_data"`
	}
	json.Unmarshal(b, &auth)
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"auth": auth.Auth, "channel_data": auth.ChannelData, "channel": channel}})
	c.send(string(msg))
	for {
		ev, data := c.read()
		if ev != "pusher_internal:subscription_succeeded" {
			continue // member_added of others may come first
		}
		var d struct {
			Presence struct {
				IDs []string `json:"ids"`
			} `json:"presence"`
		}
		json.Unmarshal([]byte(data), &d)
		sort.Strings(d.Presence.IDs)
		return d.Presence.IDs
	}
}

// expect reads frames until one named event arrives and returns its data.
func (c *wsClient) expect(event string) string {
	c.t.Helper()
	for {
		ev, data := c.read()
		if ev == event {
			return data
		}
		if strings.HasPrefix(ev, "close:") {
			c.t.Fatalf("closed (%s) while waiting for %s", ev, event)
		}
	}
}

// memberEvent is a member_added (added) or member_removed of userID.
type memberEvent struct {
	userID string
	added  bool
}

// memberEvents reads frames for d and returns the member events among them, in order.
func (c *wsClient) memberEvents(d time.Duration) []memberEvent {
	c.t.Helper()
	var out []memberEvent
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		msg, err := readServerMessage(c.conn, c.r)
		if err != nil {
			return out // the deadline: the connection is not read again
		}
		var f struct {
			Event string `json:"event"`
			Data  string `json:"data"`
		}
		var data struct {
			UserID string `json:"user_id"`
		}
		if json.Unmarshal(msg, &f) != nil || json.Unmarshal([]byte(f.Data), &data) != nil {
			continue
		}
		switch f.Event {
		case "pusher_internal:member_added":
			out = append(out, memberEvent{data.UserID, true})
		case "pusher_internal:member_removed":
			out = append(out, memberEvent{data.UserID, false})
		}
	}
}

// next reads the next frame that is not a presence member event.
func (c *wsClient) next() string {
	c.t.Helper()
	for {
		ev, _ := c.read()
		if !strings.HasPrefix(ev, "pusher_internal:member_") {
			return ev
		}
	}
}

func channelInfo(t *testing.T, p *process, channel string) (users, subs int) {
	t.Helper()
	info := "user_count,subscription_count"
	ch, err := p.sdk(t).Channel(channel, pusher.ChannelParams{Info: &info})
	if err != nil {
		t.Fatal(err)
	}
	return ch.UserCount, ch.SubscriptionCount
}

func TestClusterFanOutAndExclusion(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodes := []*process{startProcess(t, env...), startProcess(t, env...), startProcess(t, env...)}
	startWorker(t, env)
	for _, p := range nodes {
		waitUp(t, p, http.StatusOK)
	}
	clients := make([]*wsClient, 3)
	for i, p := range nodes {
		clients[i] = p.dial(t)
		clients[i].subscribe("private-tenant.1")
	}
	sdk := nodes[0].sdk(t)
	if err := sdk.Trigger("private-tenant.1", "order.paid", map[string]int{"id": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.TriggerWithParams("private-tenant.1", "excluded", "x", pusher.TriggerParams{SocketID: &clients[1].socketID}); err != nil {
		t.Fatal(err)
	}
	if err := sdk.Trigger("private-tenant.1", "marker", "y"); err != nil {
		t.Fatal(err)
	}
	// Several nodes' workers run the three tasks concurrently, so only the set is fixed:
	// each event exactly once, the excluded one nowhere on node 1.
	for i, c := range clients {
		want := []string{"excluded", "marker", "order.paid"}
		if i == 1 {
			want = []string{"marker", "order.paid"}
		}
		var got []string
		for range want {
			got = append(got, c.next())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("client on node %d got %v, want %v", i, got, want)
		}
	}
	if err := sdk.Trigger("private-tenant.1", "marker2", "y"); err != nil {
		t.Fatal(err)
	}
	if ev := clients[1].next(); ev != "marker2" {
		t.Errorf("client on node 1 got %s after the markers, want no excluded event", ev)
	}
	for _, c := range []*wsClient{clients[0], clients[2]} {
		if ev := c.next(); ev != "marker2" {
			t.Errorf("got %s, want marker2 (no duplicates)", ev)
		}
	}
	// Client events cross nodes too, never echoed to the sender.
	clients[0].send(`{"event":"client-typing","channel":"private-tenant.1","data":{"on":true}}`)
	for _, c := range clients[1:] {
		if ev := c.next(); ev != "client-typing" {
			t.Errorf("client event reached another node as %s", ev)
		}
	}
	if err := sdk.Trigger("private-tenant.1", "after-client-event", "z"); err != nil {
		t.Fatal(err)
	}
	if ev := clients[0].next(); ev != "after-client-event" {
		t.Errorf("sender got %s, want its client event never echoed", ev)
	}
	// Every node reports the same channels and counts.
	for i, p := range nodes {
		if _, subs := channelInfo(t, p, "private-tenant.1"); subs != 3 {
			t.Errorf("node %d: subscription_count %d, want 3", i, subs)
		}
		prefix := "private-"
		list, err := p.sdk(t).Channels(pusher.ChannelsParams{FilterByPrefix: &prefix})
		if err != nil || len(list.Channels) != 1 {
			t.Errorf("node %d: channels %+v (%v), want private-tenant.1 only", i, list, err)
		}
	}
}

func TestClusterPresence(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodes := startNodes(t, 3, env)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const ch = "presence-tenant.1"
	lin := c.dial(t)
	if ids := lin.join(ch, "9"); strings.Join(ids, ",") != "9" {
		t.Fatalf("first member sees %v", ids)
	}
	ada1 := a.dial(t)
	if ids := ada1.join(ch, "7"); strings.Join(ids, ",") != "7,9" {
		t.Errorf("member on node a sees %v, want members of every node", ids)
	}
	if data := lin.expect("pusher_internal:member_added"); !strings.Contains(data, `"7"`) {
		t.Errorf("member_added = %s", data)
	}
	ada2 := b.dial(t)
	if ids := ada2.join(ch, "7"); strings.Join(ids, ",") != "7,9" {
		t.Errorf("second connection of a user sees %v", ids)
	}
	for i, p := range []*process{a, b, c} {
		if users, subs := channelInfo(t, p, ch); users != 2 || subs != 3 {
			t.Errorf("node %d: user_count %d subscription_count %d, want 2 and 3", i, users, subs)
		}
	}
	// Ada's first connection leaves: no member_removed; her last: one member_removed.
	ada1.conn.Close()
	if err := a.sdk(t).Trigger(ch, "marker", "1"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := lin.read(); ev != "marker" {
		t.Errorf("after Ada's first connection left, Lin got %s, want no member_removed yet", ev)
	}
	ada2.conn.Close()
	if data := lin.expect("pusher_internal:member_removed"); data != `{"user_id":"7"}` {
		t.Errorf("member_removed = %s", data)
	}
}

func TestClusterCacheTerminateAndConnections(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	if err := a.sdk(t).Trigger("cache-prices", "price.updated", map[string]float64{"eur": 1.07}); err != nil {
		t.Fatal(err)
	}
	// The event is cached in Redis by whichever worker ran it; a subscriber on the other node
	// gets it (waiting until the worker has run).
	var got string
	for deadline := time.Now().Add(10 * time.Second); got != "price.updated"; {
		sub := b.dial(t)
		sub.subscribe("cache-prices")
		got, _ = sub.read()
		sub.conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("cache miss on the other node: %s", got)
		}
	}
	u1, u2 := a.dial(t), b.dial(t)
	u1.join("presence-room", "42")
	u2.join("presence-room", "42")
	for _, p := range []*process{a, b} {
		resp, err := p.sdk(t).GetChannelUsers("presence-room")
		if err != nil || len(resp.List) != 1 || resp.List[0].ID != "42" {
			t.Errorf("users via %s: %+v %v", p.addr, resp, err)
		}
		var n struct {
			Connections int `json:"connections"`
		}
		if err := json.Unmarshal(signedRequest(t, p, "GET", "/apps/"+e2eID+"/connections", ""), &n); err != nil || n.Connections != 2 {
			t.Errorf("connections via %s: %d (%v), want 2", p.addr, n.Connections, err)
		}
	}
	// terminate_connections through node a closes the user's connections on both nodes.
	signedRequest(t, a, "POST", "/apps/"+e2eID+"/users/42/terminate_connections", "{}")
	for _, c := range []*wsClient{u1, u2} {
		c.expect("pusher:error")
		if ev, _ := c.read(); ev != "close:4009" {
			t.Errorf("terminated connection got %s, want close:4009", ev)
		}
	}
}

// signedRequest sends a request signed as the SDKs sign it and returns the 200 body.
func signedRequest(t *testing.T, p *process, method, path, body string) []byte {
	t.Helper()
	q := url.Values{}
	q.Set("auth_key", e2eKey)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("auth_version", "1.0")
	if body != "" {
		sum := md5.Sum([]byte(body))
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	raw, _ := url.QueryUnescape(q.Encode())
	q.Set("auth_signature", registry.Sign(e2eSecret, method+"\n"+path+"\n"+raw))
	req, err := http.NewRequest(method, "http://"+p.addr+path+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// nodeAndVictim starts a cluster of an in-process node a and a reverbd binary, the victim of
// the fault a test injects, with user 1 on a's presence-room and user 2 on the victim's; the
// survivor (user 1) has seen user 2 join.
func nodeAndVictim(t *testing.T) (a *process, victim *binaryProcess, survivor, remote *wsClient) {
	t.Helper()
	env := clusterEnv(t, redistest.URL(t))
	a = startProcess(t, env...)
	waitUp(t, a, http.StatusOK)
	victim = startBinary(t, env)
	survivor = a.dial(t)
	survivor.join("presence-room", "1")
	remote = victim.dial(t)
	remote.join("presence-room", "2")
	survivor.expect("pusher_internal:member_added")
	return a, victim, survivor, remote
}

// A node killed with SIGKILL leaves: its members are removed, once, within the lease TTL.
func TestClusterNodeKilled(t *testing.T) {
	a, victim, survivor, _ := nodeAndVictim(t)
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	if data := survivor.expect("pusher_internal:member_removed"); data != `{"user_id":"2"}` {
		t.Errorf("member_removed = %s", data)
	}
	if users, subs := channelInfo(t, a, "presence-room"); users != 1 || subs != 1 {
		t.Errorf("after the kill: user_count %d subscription_count %d, want 1 and 1", users, subs)
	}
	// Exactly once: the next frame is a marker, not a second member_removed.
	if err := a.sdk(t).Trigger("presence-room", "marker", "1"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := survivor.read(); ev != "marker" {
		t.Errorf("got %s, want the marker (member_removed only once)", ev)
	}
}

// A node stopped with SIGTERM while a trigger is still uploading to it removes its members at
// once: the others announce them gone long before the upload's timeout.
func TestClusterNodeStoppedDuringUpload(t *testing.T) {
	_, victim, survivor, _ := nodeAndVictim(t)
	upload, err := net.Dial("tcp", victim.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer upload.Close()
	// Headers and a part of the body; the rest never comes.
	fmt.Fprintf(upload, "POST /apps/%s/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":", e2eID, victim.addr)
	time.Sleep(100 * time.Millisecond) // the request is being read
	start := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if data := survivor.expect("pusher_internal:member_removed"); data != `{"user_id":"2"}` {
		t.Errorf("member_removed = %s", data)
	}
	t.Logf("member_removed %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// binaryProcess is reverbd running as its own process, so it can be killed with SIGKILL.
type binaryProcess struct {
	process
	cmd *exec.Cmd
	log *lockedBuffer // stderr: the log
}

var buildOnce sync.Once
var binaryPath string

// buildBinary builds reverbd once per test run and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reverbd-test")
		if err != nil {
			t.Fatal(err)
		}
		binaryPath = filepath.Join(dir, "reverbd")
		if out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	})
	if binaryPath == "" {
		t.Fatal("the reverbd binary was not built")
	}
	return binaryPath
}

// startBinary runs `reverbd start` with env on a free loopback port until the test ends. The
// port may be taken again before reverbd binds it (other tests run meanwhile): a process that
// exits before it is up is started again on another port.
func startBinary(t *testing.T, env []string) *binaryProcess {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		p, err := tryBinary(t, "127.0.0.1:"+port, env, "start", "--env-file", os.DevNull, "--host", "127.0.0.1", "--port", port)
		if err == nil {
			return p
		}
		if attempt == 5 {
			t.Fatal(err)
		}
	}
}

// runBinary runs the reverbd binary with args, the test app's credentials and env in its
// environment, until the test ends, and waits for /up on addr to answer 200.
func runBinary(t *testing.T, addr string, env []string, args ...string) *binaryProcess {
	t.Helper()
	p, err := tryBinary(t, addr, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryBinary is runBinary, failing when the process exits before /up answers 200.
func tryBinary(t *testing.T, addr string, env []string, args ...string) (*binaryProcess, error) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append(os.Environ(), append([]string{"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)...)
	p := &binaryProcess{process: process{addr: addr}, cmd: cmd, log: new(lockedBuffer)}
	cmd.Stderr = p.log
	startUntilTestEnds(t, cmd)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/up"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		// A process that could not bind its port says so and exits.
		if strings.Contains(p.log.String(), "address already in use") {
			return nil, fmt.Errorf("%q: the port was taken:\n%s", args, p.log.String())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%q: /up never answered 200 on %s:\n%s", args, addr, p.log.String())
		}
	}
}

// Redis stops and starts again (without persistence, so it forgets everything): nodes keep
// their connections and local client events, triggers get 503 and /up 503 meanwhile, and
// afterwards every node re-asserts its members: the counts are right again through any node
// and fan-out across nodes works, without restarting anything.
func TestClusterRedisOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	env := clusterEnv(t, srv.URL())
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	sender, local, remote := a.dial(t), a.dial(t), b.dial(t)
	for _, c := range []*wsClient{sender, local, remote} {
		c.join("presence-chat", "u-"+c.socketID)
	}

	srv.Stop()
	waitUp(t, a, http.StatusServiceUnavailable)
	err := a.sdk(t).Trigger("presence-chat", "during", "x")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("trigger during the outage: %v, want 503", err)
	}
	sender.send(`{"event":"client-typing","channel":"presence-chat","data":{}}`)
	if ev := local.next(); ev != "client-typing" {
		t.Errorf("local client event during the outage arrived as %s", ev)
	}

	srv.Start()
	waitUp(t, a, http.StatusOK)
	waitUp(t, b, http.StatusOK)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		users, subs := channelInfo(t, b, "presence-chat")
		if users == 3 && subs == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back: user_count %d subscription_count %d, want 3 and 3", users, subs)
		}
	}
	if err := a.sdk(t).Trigger("presence-chat", "after", "y"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{sender, local, remote} {
		ev := c.next()
		if c == remote && ev == "client-typing" {
			// go-redis retries a failed publish for up to the publish timeout; when Redis is
			// back within it, the client event reaches the other node a little late.
			ev = c.next()
		}
		if ev != "after" {
			t.Errorf("after the outage got %s", ev)
		}
	}
}

// With the workers in one `reverbd worker` process (socket nodes at REVERB_QUEUE_WORKERS=false,
// concurrency 1), events keep their order across the cluster.
func TestClusterOrderWithOneWorkerProcess(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodeEnv := append(append([]string(nil), env...), "REVERB_QUEUE_WORKERS=false")
	a, b := startProcess(t, nodeEnv...), startProcess(t, nodeEnv...)
	startWorker(t, env)
	waitUp(t, a, http.StatusOK)
	waitUp(t, b, http.StatusOK)
	ca, cb := a.dial(t), b.dial(t)
	ca.subscribe("private-tenant.9")
	cb.subscribe("private-tenant.9")
	names := []string{"order.paid", "order.shipped", "order.refunded"}
	for i := range 30 {
		if err := a.sdk(t).Trigger("private-tenant.9", names[i%3], i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*wsClient{ca, cb} {
		for i := range 30 {
			if ev := c.next(); ev != names[i%3] {
				t.Fatalf("event %d arrived as %s, want %s (in order)", i, ev, names[i%3])
			}
		}
	}
}

// max_connections holds across the cluster, not per node.
func TestClusterConnectionQuota(t *testing.T) {
	env := append(clusterEnv(t, redistest.URL(t)), "REVERB_APP_MAX_CONNECTIONS=2")
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	a.dial(t)
	b.dial(t)
	for _, p := range []*process{a, b} {
		conn, br, _, err := ws.Dial(context.Background(), "ws://"+p.addr+"/app/"+e2eKey+"?protocol=7")
		if err != nil {
			t.Fatal(err)
		}
		c := &wsClient{t: t, conn: conn, r: conn}
		if br != nil {
			c.r = io.MultiReader(br, conn)
		}
		if ev, data := c.read(); ev != "pusher:error" || !strings.Contains(data, "4004") {
			t.Errorf("third connection via %s: %s %s, want pusher:error 4004", p.addr, ev, data)
		}
		conn.Close()
	}
}

// A node started while Redis is down serves nothing through Redis, says so on /up, and joins
// the cluster once Redis answers.
func TestClusterNodeStartsWithoutRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	env := clusterEnv(t, srv.URL())
	srv.Stop()
	a := startProcess(t, env...)
	waitUp(t, a, http.StatusServiceUnavailable)
	srv.Start()
	waitUp(t, a, http.StatusOK)
	c := a.dial(t)
	c.subscribe("orders")
	if err := a.sdk(t).Trigger("orders", "after", "{}"); err != nil {
		t.Fatal(err)
	}
	if ev := c.next(); ev != "after" {
		t.Errorf("got %s", ev)
	}
}

// Two deployments with the same app on one Redis, told apart only by their prefixes, never
// see each other's events, members or counts.
func TestClusterDeploymentsDoNotCrossTalk(t *testing.T) {
	url := redistest.URL(t)
	// The same REVERB_QUEUE_NAME too: the prefix alone must keep the deployments apart.
	queue := "REVERB_QUEUE_NAME=" + redistest.Name(t)
	staging := startProcess(t, append(clusterEnv(t, url), queue)...)
	production := startProcess(t, append(clusterEnv(t, url), queue)...)
	waitUp(t, staging, http.StatusOK)
	waitUp(t, production, http.StatusOK)
	s, p := staging.dial(t), production.dial(t)
	s.join("presence-room", "1")
	p.join("presence-room", "2")
	for i := range 5 {
		if err := staging.sdk(t).Trigger("presence-room", "staging-only", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := production.sdk(t).Trigger("presence-room", "marker", "1"); err != nil {
		t.Fatal(err)
	}
	if ev := p.next(); ev != "marker" {
		t.Errorf("production client got %s, want only production's events", ev)
	}
	if users, _ := channelInfo(t, production, "presence-room"); users != 1 {
		t.Errorf("production sees %d users, want 1", users)
	}
	for range 5 {
		if ev := s.next(); ev != "staging-only" {
			t.Errorf("staging client got %s", ev)
		}
	}
}

// connections is GET /connections through p.
func connections(t *testing.T, p *process) int {
	t.Helper()
	var n struct {
		Connections int `json:"connections"`
	}
	if err := json.Unmarshal(signedRequest(t, p, "GET", "/apps/"+e2eID+"/connections", ""), &n); err != nil {
		t.Fatal(err)
	}
	return n.Connections
}

// Redis flushed while every node's connection and PINGs stay fine: the nodes notice that
// their state is gone and write it back, counts and members alike.
func TestClusterRedisFlushed(t *testing.T) {
	srv := redistest.StartServer(t)
	env := clusterEnv(t, srv.URL())
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	a.dial(t).join("presence-room", "1")
	b.dial(t).join("presence-room", "2")
	b.dial(t).join("presence-room", "1")
	if err := srv.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		users, subs := channelInfo(t, a, "presence-room")
		n := connections(t, b)
		if users == 2 && subs == 3 && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after FLUSHALL: user_count %d subscription_count %d connections %d, want 2, 3 and 3", users, subs, n)
		}
	}
}

// A node paused (SIGSTOP) past its lease is reaped by the others, which announce its users
// gone; resumed, it writes its state back and announces them again. Its own client, which
// may or may not have heard the member_removed (a relay subscription that the pause broke
// loses it, and the node then reads its lists again), ends with both members.
func TestClusterNodePausedPastItsLease(t *testing.T) {
	a, victim, survivor, paused := nodeAndVictim(t)
	if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if data := survivor.expect("pusher_internal:member_removed"); data != `{"user_id":"2"}` {
		t.Errorf("member_removed = %s", data)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if data := survivor.expect("pusher_internal:member_added"); !strings.Contains(data, `"user_id":"2"`) {
		t.Errorf("member_added after the node resumed = %s", data)
	}
	present := map[string]bool{"1": true, "2": true} // the paused client's list
	for _, ev := range paused.memberEvents(3 * time.Second) {
		present[ev.userID] = ev.added
	}
	if !present["1"] || !present["2"] {
		t.Errorf("the paused node's client ends with members %v, want 1 and 2", present)
	}
	if users, subs := channelInfo(t, a, "presence-room"); users != 2 || subs != 2 {
		t.Errorf("after the node resumed: user_count %d subscription_count %d, want 2 and 2", users, subs)
	}
}
