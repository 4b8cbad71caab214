// Package bare is a benchmark baseline, not a server to deploy: about the least a Pusher
// Channels server does during a reconnect storm, so reverbd's storm figures can be set
// against it on the same machine, measured the same way. It upgrades with gobwas/ws,
// sends pusher:connection_established, answers every pusher:subscribe with
// pusher_internal:subscription_succeeded (presence channels with an empty member list) and
// pusher:ping with pusher:pong. It checks no signature, keeps no channel, member or count,
// decodes no JSON (it finds the event and channel names by scanning), and runs one
// goroutine per connection.
package bare

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Serve accepts connections on ln until ctx ends, then closes ln and every connection and
// returns once their goroutines have stopped.
func Serve(ctx context.Context, ln net.Listener) error {
	s := &server{conns: map[net.Conn]struct{}{}}
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		s.closeAll()
	})
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		if !s.add(nc) {
			_ = nc.Close()
			continue
		}
		s.wg.Go(func() {
			defer s.remove(nc)
			s.serve(nc)
		})
	}
}

type server struct {
	wg     sync.WaitGroup
	nextID atomic.Uint64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *server) add(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *server) remove(nc net.Conn) {
	_ = nc.Close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for nc := range s.conns {
		_ = nc.Close()
	}
}

// serve runs one connection: the upgrade, connection_established, then one answer per
// message until the client goes away.
func (s *server) serve(nc net.Conn) {
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	n := s.nextID.Add(1)
	id := strconv.FormatUint(n/1000000+1, 10) + "." + strconv.FormatUint(n%1000000, 10)
	established := `{"event":"pusher:connection_established","data":"{\"socket_id\":\"` + id + `\",\"activity_timeout\":30}"}`
	if wsutil.WriteServerText(nc, []byte(established)) != nil {
		return
	}
	for {
		msg, op, err := wsutil.ReadClientData(nc)
		if err != nil {
			return // the client left, or the server is stopping
		}
		if op != ws.OpText {
			continue
		}
		var reply []byte
		switch string(field(msg, `"event"`)) {
		case "pusher:subscribe":
			reply = succeeded(field(msg, `"channel"`))
		case "pusher:ping":
			reply = []byte(`{"event":"pusher:pong","data":{}}`)
		default:
			continue
		}
		if wsutil.WriteServerText(nc, reply) != nil {
			return
		}
	}
}

// succeeded is the subscription_succeeded frame of channel.
func succeeded(channel []byte) []byte {
	data := `"{}"`
	if bytes.HasPrefix(channel, []byte("presence-")) {
		data = `"{\"presence\":{\"count\":0,\"ids\":[],\"hash\":{}}}"`
	}
	b := append([]byte(`{"event":"pusher_internal:subscription_succeeded","channel":"`), channel...)
	return append(append(append(b, `","data":`...), data...), '}')
}

// field returns the string value of the first occurrence of key (quoted) in msg, or nil.
// Channel and event names hold no quote or backslash, so the value ends at the next quote.
func field(msg []byte, key string) []byte {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(msg[i+len(key):], " \t:")
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return nil
	}
	return rest[1 : 1+end]
}
