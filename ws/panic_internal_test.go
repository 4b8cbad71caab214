package ws

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// panicConn is a net.Conn whose writes panic.
type panicConn struct{ discardConn }

func (panicConn) Write([]byte) (int, error) { panic("write failed") }

// countConn is a net.Conn that counts the bytes written to it.
type countConn struct {
	discardConn
	n *atomic.Int64
}

func (c countConn) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A panic while a connection's queue is written releases that connection only, logged once;
// the writers go on writing to the others.
func TestPanicWhileWritingReleasesOnlyThatConnection(t *testing.T) {
	var logs syncBuffer
	app := config.App{ID: "1", Key: "k", Secret: "s"}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy(),
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		<-done
	})
	var written atomic.Int64
	// fd -1: the pool hands the queue to a drain goroutine, which writes to nc.
	bad := registerConn(s, &Conn{srv: s, nc: panicConn{}, fd: -1})
	good := registerConn(s, &Conn{srv: s, nc: countConn{n: &written}, fd: -1})
	bad.Send([]byte("boom"))
	good.Send([]byte("hello"))
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Connections != 1 || written.Load() != 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("connections %d, %d bytes written to the good one; want 1 and 5", s.Stats().Connections, written.Load())
		}
	}
	good.Send([]byte("again"))
	for deadline := time.Now().Add(5 * time.Second); written.Load() != 10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes written after the panic, want 10", written.Load())
		}
	}
	if n := strings.Count(logs.String(), "panic while serving a connection"); n != 1 {
		t.Errorf("panic logged %d times, want once:\n%s", n, logs.String())
	}
}
