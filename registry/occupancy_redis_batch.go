package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher sends the occupancy's scripts that are called at the same time as one
// pipeline of EVALSHA, so that a reconnect storm's thousands of Connect and Subscribe calls
// cost Redis and the node a few hundred round trips instead of one each (group commit).
//
// A call made while no other is queued or in flight goes out at once, alone, sent by its
// caller as Script.Run would. Calls made meanwhile are queued, and one owner goroutine sends
// them, at most maxBatchCalls a pipeline and maxPipelines pipelines in flight: it is started
// by the call that finds none running and returns once nothing is queued or in flight, so
// there is nothing to stop. Calls are taken in the order they were queued and a pipeline
// runs in order; a connection makes each call after the one before returned, so its calls
// reach Redis in the order it made them, whichever pipelines carry them.
//
// A queued caller whose context ends stops waiting at once. If its call was not sent yet it
// never is, and the error says so (errNotSent). If it was, it runs all the same, unseen: the
// caller's error marks the node's record dirty, as any failed write does, and the node writes
// its state back (see reassert), which first waits for every call queued or in flight before
// it (wait), so the call that outlived its caller is in Redis before the write-back corrects
// it. A call sent alone honours its context as go-redis does (its deadline).
type scriptBatcher struct {
	rdb redis.UniversalClient

	wake chan struct{} // capacity 1: the owner looks at the queue again

	mu       sync.Mutex
	queue    []*scriptCall
	running  bool // the owner goroutine runs
	inflight int  // pipelines sent and not answered yet

	// For tests and benchmarks: calls sent in a pipeline with others, and round trips
	// (pipelines and calls sent alone).
	grouped, trips atomic.Uint64
}

func newScriptBatcher(rdb redis.UniversalClient) *scriptBatcher {
	return &scriptBatcher{rdb: rdb, wake: make(chan struct{}, 1)}
}

// maxBatchCalls bounds the scripts of one pipeline, so that one pipeline does not hold
// Redis for long.
const maxBatchCalls = 128

// maxPipelines bounds the pipelines in flight at once: while Redis runs one, the node
// writes the next and reads the answers of the one before.
const maxPipelines = 2

// errNotSent is part of the error of a call whose context ended before it was sent to
// Redis: the call changed nothing.
var errNotSent = errors.New("registry: not sent to Redis")

// The states of a scriptCall.
const (
	callQueued    int32 = iota
	callSent            // taken by the owner: it runs, whatever its caller does
	callAbandoned       // its caller stopped waiting first: never sent
)

type scriptCall struct {
	ctx    context.Context
	script *redis.Script // nil: a marker of wait
	keys   []string
	args   []any
	state  atomic.Int32
	cmd    *redis.Cmd    // the reply, set before done is closed
	done   chan struct{} // closed when cmd is set (for a marker: when it is reached)
}

// run runs script as Script.Run does, in the next pipeline.
func (b *scriptBatcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		return failedCmd(ctx, fmt.Errorf("%w: %w", errNotSent, err))
	}
	if b.alone() {
		b.trips.Add(1)
		defer b.answered()
		return script.Run(ctx, b.rdb, keys, args...)
	}
	c := &scriptCall{ctx: ctx, script: script, keys: keys, args: args, done: make(chan struct{})}
	b.enqueue(c)
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
	}
	if c.state.CompareAndSwap(callQueued, callAbandoned) {
		return failedCmd(ctx, fmt.Errorf("%w: %w", errNotSent, ctx.Err()))
	}
	select {
	case <-c.done: // answered as ctx ended
		return c.cmd
	default:
		return failedCmd(ctx, ctx.Err())
	}
}

// wait returns once every call queued or in flight before it has been answered or abandoned,
// or when ctx ends.
func (b *scriptBatcher) wait(ctx context.Context) error {
	c := &scriptCall{done: make(chan struct{})}
	b.enqueue(c)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// alone reports whether a call may go out at once, by its caller, with no other waiting:
// then it counts in flight until answered is called.
func (b *scriptBatcher) alone() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running || b.inflight > 0 {
		return false
	}
	b.inflight++
	return true
}

// answered ends a pipeline or a call sent alone.
func (b *scriptBatcher) answered() {
	b.mu.Lock()
	b.inflight--
	b.mu.Unlock()
	b.nudge()
}

func (b *scriptBatcher) enqueue(c *scriptCall) {
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.own()
	} else {
		b.nudge()
	}
}

// nudge wakes the owner: a call was queued or a pipeline answered.
func (b *scriptBatcher) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// own sends what is queued, up to maxPipelines pipelines at once, until the queue is empty
// and every pipeline answered.
func (b *scriptBatcher) own() {
	for {
		calls, wait, ok := b.take()
		if !ok {
			return
		}
		if wait {
			<-b.wake
			continue
		}
		if len(calls) == 0 {
			continue // every call taken was abandoned
		}
		go func() {
			defer b.answered()
			b.send(calls)
		}()
	}
}

// take takes the calls at the head of the queue, at most maxBatchCalls of them and none
// past a marker of wait, and counts them in flight. It returns wait when the owner must
// wait for a pipeline's answer or a new call first, and ok false, and the owner is done,
// when nothing is queued or in flight. A marker at the head is passed once no pipeline is in
// flight.
func (b *scriptBatcher) take() (calls []*scriptCall, wait, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.queue) > 0 && b.queue[0].script == nil && b.inflight == 0 {
		close(b.queue[0].done)
		b.pop(1)
	}
	switch {
	case len(b.queue) == 0 && b.inflight == 0:
		b.running = false
		return nil, false, false
	case len(b.queue) == 0 || b.inflight == maxPipelines || b.queue[0].script == nil:
		return nil, true, true
	}
	n := 0
	for n < len(b.queue) && len(calls) < maxBatchCalls && b.queue[n].script != nil {
		c := b.queue[n]
		n++
		if c.state.CompareAndSwap(callQueued, callSent) {
			calls = append(calls, c)
		}
	}
	b.pop(n)
	if len(calls) == 0 {
		return nil, false, true // all abandoned: look again
	}
	b.inflight++
	return calls, false, true
}

// pop drops the first n calls of the queue. Called with b.mu held.
func (b *scriptBatcher) pop(n int) {
	left := copy(b.queue, b.queue[n:])
	clear(b.queue[left:])
	b.queue = b.queue[:left]
}

// send runs calls, alone or as one pipeline, and answers each caller. A script Redis does
// not have (NOSCRIPT: it restarted or was flushed) is sent again with its source once, as
// Script.Run does; the commands sent again run after the rest of the pipeline.
func (b *scriptBatcher) send(calls []*scriptCall) {
	b.trips.Add(1)
	ctx, cancel := batchContext(calls)
	defer cancel()
	if len(calls) == 1 {
		c := calls[0]
		c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
		close(c.done)
		return
	}
	b.grouped.Add(uint64(len(calls)))
	pipe := b.rdb.Pipeline()
	for _, c := range calls {
		c.cmd = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	var again []*scriptCall
	for _, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			again = append(again, c)
		} else {
			close(c.done)
		}
	}
	if len(again) == 0 {
		return
	}
	pipe = b.rdb.Pipeline()
	loaded := map[*redis.Script]bool{}
	for _, c := range again {
		if loaded[c.script] {
			c.cmd = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
		} else {
			loaded[c.script] = true
			c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...) // loads it for those after
		}
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range again {
		close(c.done)
	}
}

// batchContext bounds a pipeline by the latest deadline of its callers, none when one of
// them has none (the client's read timeout still applies): the pipeline outlives no caller
// for long, and a caller's deadline bounds what it waits as before.
func batchContext(calls []*scriptCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// failedCmd is a reply holding err.
func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
