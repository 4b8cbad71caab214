package ws_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/reverbd/reverbd/config"
	rws "github.com/reverbd/reverbd/ws"
)

// lockedBuffer is an io.Writer safe for the server's concurrent log calls.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines that mention socketID.
func (b *lockedBuffer) lines(socketID string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, "socket_id="+socketID) {
			out = append(out, l)
		}
	}
	return out
}

// A flood of bad frames from one connection becomes a handful of log lines, not one per frame.
func TestBadFramesDoNotFloodTheLog(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	limited := testApp()
	limited.ID, limited.Key = "4", "limited-key"
	limited.RateLimiting = config.RateLimiting{Enabled: true, MaxAttempts: 1, DecaySeconds: 60}
	e := newEnv(t, rws.Params{Log: log}, testApp(), limited)

	c := e.connect(t)
	bad := [][]byte{
		[]byte(`not json`),
		[]byte(`{"event":"pusher:nonsense"}`),
		[]byte(`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"` + testKey + `:00"}}`),
		[]byte(`{"event":"pusher:subscribe","data":{"channel":"bad channel!"}}`),
		[]byte(`{"event":"client-x","channel":"private-x","data":{}}`),
		[]byte(`{"event":"client-x","channel":"orders","data":{}}`),
	}
	const frames = 1000
	for i := range frames {
		c.sendRaw(bad[i%len(bad)])
	}
	for range frames {
		c.read() // every bad frame is answered
	}
	c.ping()

	r, _ := e.dial(t, "limited-key")
	for range frames {
		r.send(map[string]any{"event": "pusher:ping"})
	}
	for range frames {
		r.read()
	}

	for _, sock := range []*client{c, r} {
		lines := sock.lines(logs)
		if len(lines) == 0 || len(lines) > 6 {
			t.Errorf("%d log lines for %d bad frames, want 1 to 6:\n%s", len(lines), frames, strings.Join(lines, "\n"))
		}
	}
}

func (c *client) lines(logs *lockedBuffer) []string { return logs.lines(c.socketID) }
