package ws

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sharedDeadline hands out contexts that end between 0.9·d and d from when they are asked
// for. One context, with its timer, serves every call made within a tenth of d of its
// creation: a subscribe or unsubscribe gets its deadline without a timer of its own (a timer
// each cost about a quarter of a subscribe's CPU, BenchmarkSubscribePrivate).
type sharedDeadline struct {
	parent context.Context
	d      time.Duration
	cur    atomic.Pointer[deadlineContext]
	mu     sync.Mutex // serializes making the next context
}

type deadlineContext struct {
	ctx      context.Context
	cancel   context.CancelFunc // not called: the context ends by itself at its deadline
	deadline time.Time
}

// context returns a context that ends between 0.9·d and d from now.
func (s *sharedDeadline) context() context.Context {
	now := time.Now()
	if c := s.cur.Load(); c != nil && c.deadline.Sub(now) >= s.d-s.d/10 {
		return c.ctx
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cur.Load(); c != nil && c.deadline.Sub(now) >= s.d-s.d/10 {
		return c.ctx
	}
	deadline := now.Add(s.d)
	ctx, cancel := context.WithDeadline(s.parent, deadline)
	s.cur.Store(&deadlineContext{ctx: ctx, cancel: cancel, deadline: deadline})
	return ctx
}
