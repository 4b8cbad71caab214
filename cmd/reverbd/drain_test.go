package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// drainClient is one WebSocket client of the drain tests, read by a goroutine of its own:
// it records the events it receives and when and how the server closed it.
type drainClient struct {
	conn       net.Conn
	r          io.Reader
	subscribed bool

	mu       sync.Mutex
	events   []string // data of each "ev" event, in order
	closedAt time.Time
	code     int // close code; 0 while open, -1 when the connection ended without a close frame
	err      error
}

// dialDrainClient connects to p's app and, with channel set, subscribes to it.
func dialDrainClient(addr, channel string) (*drainClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/app/"+e2eKey+"?protocol=7&client=js&version=8.6.0")
	if err != nil {
		return nil, err
	}
	c := &drainClient{conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	if ev, _, err := c.frame(); err != nil || ev != "pusher:connection_established" {
		conn.Close()
		return nil, fmt.Errorf("first frame %q: %v", ev, err)
	}
	if channel != "" {
		c.subscribed = true
		msg := `{"event":"pusher:subscribe","data":{"channel":"` + channel + `"}}`
		if err := wsutil.WriteClientText(conn, []byte(msg)); err != nil {
			conn.Close()
			return nil, err
		}
		if ev, _, err := c.frame(); err != nil || ev != "pusher_internal:subscription_succeeded" {
			conn.Close()
			return nil, fmt.Errorf("subscribe: %q: %v", ev, err)
		}
	}
	return c, nil
}

// errClosed is frame's error for a close frame; code holds its code.
type errClosed struct{ code int }

func (e errClosed) Error() string { return "closed with " + strconv.Itoa(e.code) }

// frame reads the next frame: its event and data string.
func (c *drainClient) frame() (string, string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	msg, err := readServerMessage(c.conn, c.r)
	var closed wsutil.ClosedError
	if errors.As(err, &closed) {
		return "", "", errClosed{int(closed.Code)}
	}
	if err != nil {
		return "", "", err
	}
	var f struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	if err := json.Unmarshal(msg, &f); err != nil {
		return "", "", fmt.Errorf("frame %s: %w", msg, err)
	}
	return f.Event, f.Data, nil
}

// read records frames until the connection ends.
func (c *drainClient) read() {
	defer c.conn.Close()
	for {
		ev, data, err := c.frame()
		c.mu.Lock()
		var closed errClosed
		switch {
		case errors.As(err, &closed):
			c.closedAt, c.code = time.Now(), closed.code
		case err != nil:
			c.closedAt, c.code, c.err = time.Now(), -1, err
		case ev == "ev":
			c.events = append(c.events, data)
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// dialDrainClients opens n clients to addr, the first idle of them subscribed to nothing and
// the others to channel, each read by its own goroutine (owned by wg).
func dialDrainClients(t *testing.T, wg *sync.WaitGroup, addr, channel string, n, idle int) []*drainClient {
	t.Helper()
	clients := make([]*drainClient, n)
	errs := make(chan error, n)
	var dial sync.WaitGroup
	const parallel = 16
	for w := range parallel {
		dial.Go(func() {
			for i := w; i < n; i += parallel {
				ch := channel
				if i < idle {
					ch = ""
				}
				c, err := dialDrainClient(addr, ch)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				clients[i] = c
			}
		})
	}
	dial.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range clients {
		t.Cleanup(func() { c.conn.Close() })
		wg.Go(c.read)
	}
	return clients
}

// upAnswer is one GET /up: the status and the health field.
func upAnswer(addr string) (int, string, error) {
	resp, err := http.Get("http://" + addr + "/up")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Health string `json:"health"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Health, err
}

// waitExit waits for the process to exit and returns when it did and its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) (time.Time, int) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		at := time.Now()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return at, exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return at, 0
	case <-time.After(within):
		t.Fatalf("the process did not exit within %s", within)
	}
	return time.Time{}, 0
}

// The drain a SIGTERM starts, through the real binary with 1,000 clients: /up answers 503
// "draining" at once while the listener still takes connections and triggers for the delay;
// then the sockets are closed with 4200 spread over the drain window (never all at once),
// those subscribed to nothing first; the process exits 0 within the timeout, and every
// trigger answered 200 before the signal, or during the delay, reached every subscribed
// client before its close.
func TestDrainSpreadsClosesAndLosesNoTrigger(t *testing.T) {
	const (
		clients  = 1000
		idle     = 100 // subscribed to nothing
		triggers = 20
		delay    = time.Second
		window   = 3 * time.Second
		timeout  = 10 * time.Second
	)
	for _, queue := range []string{"memory", "redis"} {
		t.Run(queue, func(t *testing.T) {
			var env []string
			if queue == "redis" {
				env = redisQueueEnv(t)
			}
			p := startBinary(t, append([]string{
				"REVERB_SHUTDOWN_DELAY=" + delay.String(), "REVERB_SHUTDOWN_DRAIN=" + window.String(),
				"REVERB_SHUTDOWN_TIMEOUT=" + timeout.String(),
			}, env...))
			var readers sync.WaitGroup
			all := dialDrainClients(t, &readers, p.addr, "drain", clients, idle)
			sdk := p.sdk(t)
			for i := range triggers {
				if err := sdk.Trigger("drain", "ev", strconv.Itoa(i)); err != nil {
					t.Fatalf("trigger %d: %v", i, err)
				}
			}

			// A kept-alive connection for /up, so the polls below pay no connection set-up.
			if code, _, err := upAnswer(p.addr); err != nil || code != http.StatusOK {
				t.Fatalf("/up before the signal: %d, %v", code, err)
			}
			signalled := time.Now()
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for {
				code, health, err := upAnswer(p.addr)
				if err != nil {
					t.Fatalf("/up during the delay: %v", err)
				}
				if code == http.StatusServiceUnavailable && health == "draining" {
					break
				}
				if code != http.StatusOK {
					t.Fatalf("/up answered %d %q, want 200 until the signal is handled, then 503 draining", code, health)
				}
			}
			// When /up turned: the server logs the draining line as it turns, on the same clock;
			// the line may reach the test's copy of the log a moment after the answer.
			for deadline := time.Now().Add(2 * time.Second); !strings.Contains(p.log.String(), `msg="reverbd draining"`) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if took := logTime(t, p.log.String(), `msg="reverbd draining"`).Sub(signalled); took > 100*time.Millisecond {
				t.Errorf("/up turned to 503 draining %s after SIGTERM, want within 100ms", took)
			} else {
				t.Logf("/up turned to 503 draining %s after SIGTERM", took)
			}
			// The delay: the listener still takes sockets and triggers.
			late, err := dialDrainClient(p.addr, "")
			if err != nil {
				t.Fatalf("a connection during the delay was refused: %v", err)
			}
			t.Cleanup(func() { late.conn.Close() })
			readers.Go(late.read)
			if err := sdk.Trigger("drain", "ev", "during the delay"); err != nil {
				t.Fatalf("a trigger during the delay: %v", err)
			}
			if time.Since(signalled) >= delay {
				t.Fatalf("the checks of the delay took longer than the delay (%s); the test machine is too slow for them", delay)
			}

			exited, code := waitExit(t, p.cmd, timeout+5*time.Second)
			readers.Wait()
			if code != 0 {
				t.Errorf("exit code %d, want 0:\n%s", code, p.log.String())
			}
			if took := exited.Sub(signalled); took > timeout {
				t.Errorf("exited %s after SIGTERM, want within REVERB_SHUTDOWN_TIMEOUT=%s", took, timeout)
			}
			checkDrainCloses(t, append(all, late), signalled, delay, window)
			for i, c := range all[idle:] {
				if want := triggers + 1; len(c.events) != want || c.events[triggers] != "during the delay" {
					t.Errorf("subscribed client %d got %d events (%v), want all %d triggers answered 200 before its close", i, len(c.events), c.events, want)
					break
				}
			}
		})
	}
}

// checkDrainCloses checks that every client was closed with 4200 after the delay, spread
// over at least 80% of the window and never all in one 100 ms, those subscribed to nothing
// mostly first.
func checkDrainCloses(t *testing.T, clients []*drainClient, signalled time.Time, delay, window time.Duration) {
	t.Helper()
	var at, idleAt, subscribedAt []time.Duration
	for i, c := range clients {
		if c.code != 4200 {
			t.Fatalf("client %d: closed with %d (%v), want 4200", i, c.code, c.err)
		}
		d := c.closedAt.Sub(signalled)
		at = append(at, d)
		if c.subscribed {
			subscribedAt = append(subscribedAt, d)
		} else {
			idleAt = append(idleAt, d)
		}
	}
	slices.Sort(at)
	first, last := at[0], at[len(at)-1]
	t.Logf("%d closes from %s to %s after SIGTERM (delay %s, window %s)", len(at), first.Round(time.Millisecond), last.Round(time.Millisecond), delay, window)
	if first < delay {
		t.Errorf("first close %s after SIGTERM, before the end of the delay (%s)", first, delay)
	}
	if span := last - first; span < window*8/10 {
		t.Errorf("closes spread over %s, want at least 80%% of the %s window", span, window)
	}
	buckets := map[time.Duration]int{}
	for _, d := range at {
		buckets[d.Truncate(100*time.Millisecond)]++
	}
	// Evenly spread, 100 ms of a 3 s window hold about 3% of the closes; closing all at once
	// puts them all in one or two. The bound leaves room for a loaded machine, whose client
	// readers see closes in bunches.
	for b, n := range buckets {
		if n > len(at)/4 {
			t.Errorf("%d of %d closes in the 100 ms from %s: not spread", n, len(at), b)
		}
	}
	if median(idleAt) >= median(subscribedAt) {
		t.Errorf("connections subscribed to nothing were closed at a median of %s, subscribed ones at %s: want the idle ones first",
			median(idleAt), median(subscribedAt))
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// A second signal ends the drain at once: every socket left is closed with 4200 and the
// process exits 0 long before the window would end (waitExit fails past half of it).
func TestSecondSignalStopsAtOnce(t *testing.T) {
	const window = 20 * time.Second
	p := startBinary(t, []string{"REVERB_SHUTDOWN_DRAIN=" + window.String(), "REVERB_SHUTDOWN_TIMEOUT=30s"})
	var readers sync.WaitGroup
	all := dialDrainClients(t, &readers, p.addr, "drain", 50, 0)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p.log, `msg="closing connections"`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, code := waitExit(t, p.cmd, window/2); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	readers.Wait()
	closed := 0
	for _, c := range all {
		if c.code == 4200 {
			closed++
		}
	}
	if closed != len(all) {
		t.Errorf("%d of %d clients got their 4200 close", closed, len(all))
	}
}
