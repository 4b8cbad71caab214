package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/ws/internal/netpoll"
)

// raceServer returns a server that is not running: its connections are made by socketConn.
func raceServer(t *testing.T, params Params) *Server {
	t.Helper()
	app := config.App{ID: "1", Key: "k", Secret: "s", AllowedOrigins: []string{"*"}}
	params.Apps = registry.NewApps([]config.App{app})
	params.Occupancy = registry.NewMemoryOccupancy()
	s, err := New(params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.writers.stop()
		s.wg.Wait()
		_ = s.poller.Close()
	})
	return s
}

// registerConn makes c a live connection of s's first app with an id, as accept does, and
// returns it.
func registerConn(s *Server, c *Conn) *Conn {
	c.app.Store(s.apps.All()[0])
	s.live.Add(1)
	c.id = s.conns.add(c)
	return c
}

// socketPair returns the two ends of a non-blocking Unix stream socket pair.
func socketPair(tb testing.TB) (server, client net.Conn) {
	tb.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return fileConn(tb, fds[0]), fileConn(tb, fds[1])
}

// pollFD is the file descriptor of c for the poller.
func pollFD(tb testing.TB, c net.Conn) int {
	tb.Helper()
	fd, err := netpoll.FD(c)
	if err != nil {
		tb.Fatal(err)
	}
	return fd
}

// socketConn registers a connection on one end of a Unix stream socket pair, as accept
// does, and returns it with the other end, which the test closes.
func socketConn(t *testing.T, s *Server) (*Conn, net.Conn) {
	t.Helper()
	server, client := socketPair(t)
	t.Cleanup(func() { server.Close(); client.Close() })
	return registerConn(s, &Conn{srv: s, nc: server, fd: pollFD(t, server)}), client
}

// subscribed reports whether c is in the hub's list for channel.
func (h *Hub) subscribed(app, channel string, c *Conn) bool {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.channels[k]
	if subs == nil {
		return false
	}
	return subs.find(c) >= 0
}

// signinMessage is the data of a valid pusher:signin of c as userData.
func signinMessage(c *Conn, userData string) json.RawMessage {
	raw, _ := json.Marshal(map[string]string{
		"auth":      c.App().Key + ":" + registry.Sign(c.App().Secret, c.id+"::user::"+userData),
		"user_data": userData,
	})
	return raw
}

// A sign-in racing the connection's release never leaves the released connection in a
// user's channel.
func TestSigninRacingReleaseLeavesNoDeadConn(t *testing.T) {
	s := raceServer(t, Params{})

	// A connection signed in as user 6 signs in again as another user, in another hub shard,
	// while the shard of user 6 is held: sign-in stops between recording the new user and
	// changing the hub, and release runs meanwhile.
	c, _ := socketConn(t, s)
	c.signin(signinMessage(c, `{"id":"6"}`))
	old := channelKey{"1", registry.UserChannelPrefix + "6"}
	id := 7
	for s.hub.index(channelKey{"1", registry.UserChannelPrefix + strconv.Itoa(id)}) == s.hub.index(old) {
		id++
	}
	user := registry.UserChannelPrefix + strconv.Itoa(id)
	sh := s.hub.shard(old)
	sh.mu.Lock()
	signedIn := make(chan struct{})
	go func() { c.signin(signinMessage(c, `{"id":`+strconv.Itoa(id)+`}`)); close(signedIn) }()
	// Wait until sign-in has recorded the new user, or holds c.mu while it waits for the shard.
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c.mu.TryLock() {
			recorded := c.userID != "6"
			c.mu.Unlock()
			if recorded {
				break
			}
		}
	}
	released := make(chan struct{})
	go func() { c.release(); close(released) }()
	select {
	case <-released:
	case <-time.After(50 * time.Millisecond): // release waits for sign-in to finish
	}
	sh.mu.Unlock()
	<-signedIn
	<-released
	for _, ch := range []string{old.channel, user} {
		if s.hub.subscribed("1", ch, c) {
			t.Errorf("released connection is still in %s", ch)
		}
	}

	// Free-running races, for the race detector and any other interleaving.
	for range 500 {
		c, _ := socketConn(t, s)
		msg := signinMessage(c, `{"id":"8"}`)
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; c.signin(msg) })
		wg.Go(func() { <-start; c.release() })
		close(start)
		wg.Wait()
		if s.hub.subscribed("1", registry.UserChannelPrefix+"8", c) {
			t.Fatalf("released connection %s is still in its user channel", c.id)
		}
	}
	// An event for the users reaches no one and breaks nothing.
	s.hub.Deliver(context.Background(), registry.Event{AppID: "1", Channels: []string{user, registry.UserChannelPrefix + "8"}, Name: "notice", Data: "{}"})
	if n := s.conns.len(); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

// epollWatches reports whether any epoll instance of the process watches fd.
func epollWatches(t *testing.T, fd int) bool {
	t.Helper()
	links, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range links {
		if target, err := os.Readlink(link); err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + filepath.Base(link))
		if err != nil {
			continue // closed meanwhile
		}
		for line := range strings.Lines(string(info)) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
				return true
			}
		}
	}
	return false
}

// A connection released before accept hands it to the poller (a client gone at once, or a
// shutdown) is not registered: its socket's number may already belong to another file.
func TestReleasedConnIsNotWatched(t *testing.T) {
	s := raceServer(t, Params{})
	c, _ := socketConn(t, s)
	c.release()
	// Another file takes the closed socket's number, as the next accepted socket may.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	reused, err := unix.FcntlInt(uintptr(efd), unix.F_DUPFD_CLOEXEC, c.fd)
	unix.Close(efd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(reused) })
	if reused != c.fd {
		t.Fatalf("number %d taken by another file; got %d", c.fd, reused)
	}
	if err := c.watch(); err != nil {
		t.Errorf("watch: %v", err)
	}
	if epollWatches(t, reused) {
		t.Errorf("the file that took the released socket's number %d is watched", reused)
	}
}

// A reader that finishes after Run has returned and closed the poller (Shutdown stops Run
// first) leaves its connection open, so Shutdown's 4200 still reaches the client.
func TestReaderAfterPollerClosedLeavesCloseToShutdown(t *testing.T) {
	s := raceServer(t, Params{})
	c, client := socketConn(t, s)
	if err := c.watch(); err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientText(client, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	_ = s.poller.Close() // Run returns; the reader it started is still running
	c.readable()
	c.close(errShutdown)

	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for {
		h, payload, err := readServerFrame(client)
		if err != nil {
			got = append(got, err.Error())
			break
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(payload)
			got = append(got, "close "+strconv.Itoa(int(code)))
			break
		}
		got = append(got, string(payload))
	}
	_, shutdown, err := readServerFrame(bytes.NewReader(errorFrame(errShutdown)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"event":"pusher:pong"}`, string(shutdown), "close 4200"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("client read %q, want %q", got, want)
	}
}

// readServerFrame reads one unmasked frame of at most 64 KiB.
func readServerFrame(r io.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked || h.Length > 64<<10 {
		return h, nil, fmt.Errorf("unexpected frame header %+v", h)
	}
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(r, payload)
	return h, payload, err
}
