package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/cmd/reverbd-bench/internal/bare"
)

const (
	stormAppID  = "1"
	stormKey    = "storm-key"
	stormSecret = "storm-secret"
)

var (
	buildOnce   sync.Once
	reverbdPath string
	buildErr    error
)

// startReverbd builds cmd/reverbd once and starts it on a free loopback port, as the
// benchmark commands in BENCHMARKS.md do, with env added to the environment and its log
// going to logs (nil: discarded); it returns the WebSocket URL and the process id.
func startReverbd(t testing.TB, logs io.Writer, env ...string) (string, int) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reverbd-bench-test")
		if err != nil {
			buildErr = err
			return
		}
		reverbdPath = filepath.Join(dir, "reverbd")
		if out, err := exec.Command("go", "build", "-o", reverbdPath, "../reverbd").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	// The free port may be taken again before reverbd binds it (other packages' tests run
	// at the same time): a process that exits early is started again on another port.
	for attempt := 1; ; attempt++ {
		port, pid, err := tryStartReverbd(t, logs, env)
		if err == nil {
			return "ws://127.0.0.1:" + port, pid
		}
		if attempt == 5 {
			t.Fatal(err)
		}
	}
}

// tryStartReverbd starts reverbd on a port that was free a moment ago and waits for /up.
func tryStartReverbd(t testing.TB, logs io.Writer, env []string) (string, int, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	cmd := exec.Command(reverbdPath, "start", "--env-file", os.DevNull, "--host", "127.0.0.1", "--port", port)
	cmd.Env = append(os.Environ(), "REVERB_APP_ID="+stormAppID, "REVERB_APP_KEY="+stormKey, "REVERB_APP_SECRET="+stormSecret)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://127.0.0.1:" + port + "/up")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
				return port, cmd.Process.Pid, nil
			}
		}
		select {
		case <-exited:
			return "", 0, fmt.Errorf("reverbd exited before it came up on port %s", port)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return "", 0, fmt.Errorf("reverbd did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runStorm runs the storm with the given flags and returns its report.
func runStorm(t *testing.T, args ...string) *stormReport {
	t.Helper()
	o, err := parseFlags(append([]string{"--storm", "--json-only", "--app-id", stormAppID, "--key", stormKey,
		"--timeout", "20s", "--settle", "100ms"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newStorm(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.run(context.Background())
	var table strings.Builder
	rep.writeTable(&table)
	t.Log("\n" + table.String())
	return rep
}

// A storm of 60 clients (a tenant of 50 and one of 10) against reverbd: every client gets
// its three subscriptions, nothing is refused, each presence list holds the client's tenant
// and no more, and every member_added frame of the storm arrives.
func TestStormReverbd(t *testing.T) {
	url, pid := startReverbd(t, nil)
	r := runStorm(t, "--url", url, "--secret", stormSecret, "--conns", "60", "--server-pid", fmt.Sprint(pid))

	if !r.AllSubscribed || r.Subscribed != 60 || r.Subscriptions != 180 || r.Connected != 60 {
		t.Errorf("subscribed %d clients (%d subscriptions, %d connected), want 60 (180, 60)", r.Subscribed, r.Subscriptions, r.Connected)
	}
	if r.Refusals != 0 {
		t.Errorf("%d refusals: dial %v, subscription %v, pusher:error %v, closed %v, unanswered %d",
			r.Refusals, r.DialErrors, r.SubscribeErrs, r.PusherErrors, r.Closed, r.Unanswered)
	}
	if r.Tenants != 2 || r.PresenceListMax != 50 || r.PresenceListsOver != 0 || r.PresenceViewsOff != 0 {
		t.Errorf("presence: %d tenants, largest list %d, %d over, %d views off; want 2, 50, 0, 0",
			r.Tenants, r.PresenceListMax, r.PresenceListsOver, r.PresenceViewsOff)
	}
	// Each member is announced to those of its tenant who joined before it.
	if want := int64(50*49/2 + 10*9/2); r.MemberFrames+r.EarlyMemberFrames != want {
		t.Errorf("%d member frames (%d early), want %d", r.MemberFrames, r.EarlyMemberFrames, want)
	}
	if r.SubscribeRTTMs == nil || len(r.SubscribeRTTKindMs) != 3 || r.SubscribeSeconds <= 0 {
		t.Errorf("no round trips or time: %+v %v %v", r.SubscribeRTTMs, r.SubscribeRTTKindMs, r.SubscribeSeconds)
	}
	if r.ServerRSSBeforeMiB == nil || r.RSSSettledPerConn == nil {
		t.Error("no server RSS with --server-pid")
	}
}

// Signed with the wrong secret, every subscription is refused, and the report counts each.
func TestStormRefused(t *testing.T) {
	url, _ := startReverbd(t, nil)
	r := runStorm(t, "--url", url, "--secret", "wrong", "--conns", "60")

	if r.Subscribed != 0 || r.AllSubscribed || r.Refusals != 180 {
		t.Errorf("subscribed %d, %d refusals; want 0 and 180", r.Subscribed, r.Refusals)
	}
	for _, k := range stormKinds {
		if n := r.SubscribeErrs[k+": subscription_error 401"]; n != 60 {
			t.Errorf("%s: %d refused with 401, want 60 (%v)", k, n, r.SubscribeErrs)
		}
	}
}

// The bare baseline answers every subscription and keeps no presence, so every client's
// view of its tenant is off: that line of the report means nothing against it.
func TestStormBare(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bare.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	r := runStorm(t, "--url", "ws://"+ln.Addr().String(), "--secret", stormSecret, "--conns", "60")
	if !r.AllSubscribed || r.Subscriptions != 180 || r.Refusals != 0 {
		t.Errorf("subscribed %d (%d subscriptions), %d refusals; want 60 (180), 0", r.Subscribed, r.Subscriptions, r.Refusals)
	}
	if r.PresenceListMax != 0 || r.PresenceViewsOff != 60 || r.MemberFrames != 0 {
		t.Errorf("presence against the bare server: list %d, views off %d, frames %d; want 0, 60, 0",
			r.PresenceListMax, r.PresenceViewsOff, r.MemberFrames)
	}
}
