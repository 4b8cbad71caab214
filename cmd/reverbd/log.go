package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/reverbd/reverbd/config"
)

// repeatWindow is how long a warning or error is not logged again once it was.
const repeatWindow = time.Minute

// maxRepeatKeys bounds the messages the repeat limiter remembers.
const maxRepeatKeys = 4096

// newLogger is the process logger on w: text or JSON lines (REVERB_LOG_FORMAT) from the level
// of REVERB_LOG_LEVEL, or debug with REVERB_DEBUG or --debug. While Redis is away every poller
// (asynq's, the lease, the relay) fails the same way every second, so a warning or error
// logged again within repeatWindow is counted instead, and the next one that is logged
// carries the count (suppressed_repeats).
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return newLevelLogger(cfg, cfg.SlogLevel(), w)
}

// newLevelLogger is newLogger at level, which a *slog.LevelVar lets a reload change.
func newLevelLogger(cfg *config.Config, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.JSONLogs() {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(newRepeatLimiter(h, repeatWindow))
}

// repeatLimiter is a slog.Handler that passes a warning or error on at most once per window
// for each logger (its attributes and groups), level and message. Debug and info records
// always pass.
type repeatLimiter struct {
	next   slog.Handler
	scope  string // the attributes and groups added with With, as text
	shared *repeats
}

type repeats struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]*repeat
}

type repeat struct {
	logged     time.Time
	suppressed int
}

func newRepeatLimiter(next slog.Handler, window time.Duration) *repeatLimiter {
	return &repeatLimiter{next: next, shared: &repeats{window: window, seen: make(map[string]*repeat)}}
}

func (h *repeatLimiter) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *repeatLimiter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	suppressed, ok := h.shared.note(h.scope+"\x00"+r.Level.String()+"\x00"+r.Message, now)
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed_repeats", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// note records a record with key at now. It reports whether to log it and, if so, how many
// were suppressed since the last one was logged.
func (s *repeats) note(key string, now time.Time) (suppressed int, log bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.seen[key]; ok {
		if now.Sub(e.logged) < s.window {
			e.suppressed++
			return 0, false
		}
		suppressed = e.suppressed
	}
	if len(s.seen) >= maxRepeatKeys {
		for k, e := range s.seen { // forget what was logged long enough ago
			if now.Sub(e.logged) >= s.window {
				delete(s.seen, k)
			}
		}
		if len(s.seen) >= maxRepeatKeys {
			return suppressed, true // as many distinct messages in one window: log, do not track
		}
	}
	s.seen[key] = &repeat{logged: now}
	return suppressed, true
}

func (h *repeatLimiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.scope)
	for _, a := range attrs {
		b.WriteString(" " + a.String())
	}
	return &repeatLimiter{next: h.next.WithAttrs(attrs), scope: b.String(), shared: h.shared}
}

func (h *repeatLimiter) WithGroup(name string) slog.Handler {
	return &repeatLimiter{next: h.next.WithGroup(name), scope: h.scope + " " + name + ".", shared: h.shared}
}
