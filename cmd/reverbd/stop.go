package main

import (
	"context"
	"errors"
	"net"
	"time"
)

const (
	// requestGrace is how long the HTTP requests in flight when the listener closes have to
	// be answered before the queue stops taking events (a trigger still uploading then is
	// answered 503), so a stalled upload does not hold the drain back.
	requestGrace = 2 * time.Second
	// hardStopGrace is what is left of the stop after a second signal: the sockets are
	// closed at once, and the close frames and the shared state's clean-up get this long.
	hardStopGrace = 2 * time.Second
)

// requestRestart makes serve stop as on SIGTERM; requests after the first are dropped.
func (s *server) requestRestart(from string) {
	select {
	case s.restarts <- "restart (" + from + ")":
	default:
	}
}

// stop drains and shuts the server down in the order that loses nothing, within
// REVERB_SHUTDOWN_TIMEOUT:
//
//  1. /up answers 503 {"health":"draining"} at once, while connections and triggers are
//     still taken for REVERB_SHUTDOWN_DELAY, so a load balancer stops sending new ones.
//  2. The listener closes: no new triggers or sockets. With no drain window, in a cluster,
//     the node's members and connections leave the shared state at the same time, announced
//     to the other nodes, so a request still uploading does not hold that back. The requests
//     in flight get requestGrace; then the queue delivers what is still fresh (a trigger
//     answered 200 before this point reaches every client still connected).
//  3. The sockets are closed with 4200, spread over REVERB_SHUTDOWN_DRAIN (ws.Server.Drain).
//     With a window, each presence member is announced gone as its last socket closes,
//     when its client is already reconnecting elsewhere; what is left leaves the shared
//     state after the last close, and the node drops its lease.
//  4. The webhooks hand out their last batch and stop; POSTs in flight may finish.
//  5. The restart turn is handed on (cluster), the admin listener and Redis client close.
//
// A second signal skips what is left of the delay and the window, and cuts the rest to
// hardStopGrace.
func (s *server) stop(reason string) {
	cfg := s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	go s.watchHardStop(ctx, cancel)
	s.draining.Store(true)
	s.ready.Store(false)
	s.log.Info("reverbd draining", "reason", reason, "delay", cfg.ShutdownDelay,
		"drain", cfg.ShutdownDrain, "timeout", cfg.ShutdownTimeout)
	if s.control != nil {
		s.control.stop()
	}
	if s.turns != nil {
		s.turns.stop()
	}
	s.wait(ctx, cfg.ShutdownDelay)

	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Shutdown(ctx) }()
	_ = s.ws.StopAccepting(ctx)
	leaveNow := s.cluster != nil && cfg.ShutdownDrain == 0
	if leaveNow {
		s.cluster.leave(ctx)
	}
	s.log.Info("stopped accepting connections and triggers")
	httpStopped := s.waitHTTP(ctx, httpDone, requestGrace)
	if err := s.queue.Shutdown(ctx); err != nil {
		s.log.Warn("queue shutdown", "err", err)
	}
	if err := s.ws.Drain(ctx, cfg.ShutdownDrain, s.hardStop); err != nil {
		s.log.Warn("websocket shutdown", "err", err)
	}
	if s.cluster != nil {
		if !leaveNow {
			s.cluster.leave(ctx)
		}
		s.cluster.stop()
	}
	// After the sockets closed, so the events their leaving decides are sent too.
	s.webhooks.stop(ctx)
	if s.turns != nil {
		s.turns.release()
	}
	if !httpStopped {
		s.waitHTTP(ctx, httpDone, cfg.ShutdownTimeout)
	}
	if err := s.admin.Shutdown(ctx); err != nil {
		s.log.Warn("admin shutdown", "err", err)
	}
	if err := s.closeUI(); err != nil {
		s.log.Warn("web ui close", "err", err)
	}
	if s.redis != nil {
		if err := s.redis.Close(); err != nil {
			s.log.Warn("redis close", "err", err)
		}
	}
	s.log.Info("reverbd stopped")
}

// watchHardStop cuts the stop to hardStopGrace when a second signal comes, until ctx ends.
func (s *server) watchHardStop(ctx context.Context, cancel context.CancelFunc) {
	select {
	case <-s.hardStop:
	case <-ctx.Done():
		return
	}
	s.log.Warn("second signal: the sockets left are closed at once", "grace", hardStopGrace)
	t := time.NewTimer(hardStopGrace)
	defer t.Stop()
	select {
	case <-t.C:
		cancel()
	case <-ctx.Done():
	}
}

// wait waits for d, until ctx ends or a second signal.
func (s *server) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.hardStop:
	}
}

// waitHTTP waits up to d for the HTTP server's Shutdown to return on done and logs its
// error; it reports whether it returned.
func (s *server) waitHTTP(ctx context.Context, done <-chan error, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		// The listener is the ws server's too: whichever closes it second is told it was.
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("http shutdown", "err", err)
		}
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-s.hardStop:
	}
	return false
}
