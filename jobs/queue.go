package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// Errors a Queue returns from Enqueue. The HTTP API answers both with 503.
var (
	ErrQueueFull   = errors.New("jobs: queue is full")
	ErrQueueClosed = errors.New("jobs: queue is shutting down")
)

// Backlog is what a queue holds: the events accepted and not yet delivered, and how long
// ago the oldest of them was accepted.
type Backlog struct {
	Events int
	Oldest time.Duration
}

// Queue is the seam between an accepted trigger and its delivery. Enqueue stores the event
// and returns without waiting for delivery; workers owned by the queue run it through a
// Worker, once, under the Rules. Backends: MemoryQueue (in process, the default) and the
// asynq queue on Redis.
type Queue interface {
	// Enqueue stores ev for delivery. It never waits for delivery.
	Enqueue(ctx context.Context, ev registry.Event) error
	// Run starts the workers and returns once ctx ends and they have stopped.
	Run(ctx context.Context) error
	// Shutdown stops taking events, delivers those still fresh, and returns when done or
	// when ctx ends.
	Shutdown(ctx context.Context) error
}
