package ws_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// listenerEnv is a Server behind its real Listener on a loopback port. The HTTP server
// behind it serves GET /hello and the WebSocket route (upgrades on kept-alive connections).
type listenerEnv struct {
	*env
	addr string
	logs *logRecorder

	once        sync.Once
	shutdownErr error
}

func newListenerEnv(t testing.TB, params rws.Params) *listenerEnv {
	t.Helper()
	logs := &logRecorder{}
	params.Log = slog.New(logs)
	params.Apps = registry.NewApps([]config.App{testApp()})
	occupancy, cache := registry.NewMemoryOccupancy(), registry.NewMemoryCache()
	params.Occupancy, params.Cache = occupancy, cache
	srv, err := rws.New(params)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	srv.Routes(r)
	r.Get("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	hs := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
		MaxHeaderBytes: params.MaxHeaderBytes}
	public := srv.Listener(ln, "")
	go func() { _ = hs.Serve(public) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	addr := ln.Addr().String()
	e := &listenerEnv{env: &env{srv: srv, occupancy: occupancy, cache: cache, url: "ws://" + addr}, addr: addr, logs: logs}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
		if err := e.shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return e
}

// shutdown shuts the server down once; later calls return the first call's result.
func (e *listenerEnv) shutdown(ctx context.Context) error {
	e.once.Do(func() { e.shutdownErr = e.srv.Shutdown(ctx) })
	return e.shutdownErr
}

// logRecorder is a slog.Handler that keeps every record's level, message and attributes.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

// count returns how many records contain s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// dump returns every record, one a line.
func (r *logRecorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}
