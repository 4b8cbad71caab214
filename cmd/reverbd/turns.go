package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry"
)

const (
	// restartPoll is how often a process of a cluster looks for a restart request and, once
	// one is there, for its turn.
	restartPoll = 250 * time.Millisecond
	// restartSettleMax is how long a socket node waits, when its turn is free, for the
	// deployment to have as many live nodes again as when the restart was asked (the node
	// before it replaced by its process manager); past it, it takes its turn anyway.
	restartSettleMax = 30 * time.Second
	// turnMargin is added to the shutdown timeout for the turn's expiry, which only matters
	// when the process holding the turn dies before it hands it over.
	turnMargin = 15 * time.Second
)

// releaseTurn deletes the turn only if this process still holds it.
var releaseTurn = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// restartTurns takes this process's turn at a `reverbd restart` of a cluster, so that the
// deployment's processes drain and exit one after another, never all at once. The command
// bumps a generation in Redis; each process that started before it waits for the turn, a
// lock one process holds at a time, then drains and exits, and hands the turn on as it
// exits (its process manager starts it again, and the new process, which has seen the new
// generation, does not take a turn). A socket node takes a free turn only once as many nodes
// hold a lease as when the restart was asked, so the node before it is back up first (at
// most restartSettleMax).
//
// Keys under the deployment's key prefix P:
//
//	P:restart       hash: gen (bumped by each `reverbd restart`), nodes (live nodes then)
//	P:restart:turn  the process whose turn it is (PX: its shutdown timeout plus turnMargin)
type restartTurns struct {
	rdb    redis.UniversalClient
	prefix string
	id     string        // this process, as the turn key holds it
	settle bool          // a socket node: wait for the nodes to be back before its turn
	hold   time.Duration // the turn's expiry
	log    *slog.Logger

	seen   int64 // the generation this process has answered; -1 until read
	short  time.Time
	held   atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRestartTurns(rdb redis.UniversalClient, prefix, id string, settle bool, shutdownTimeout time.Duration, log *slog.Logger) *restartTurns {
	return &restartTurns{rdb: rdb, prefix: prefix, id: id, settle: settle, hold: shutdownTimeout + turnMargin,
		log: log.With("component", "restart"), seen: -1}
}

// start reads the current generation (a restart asked before this process started is not
// for it) and watches for a newer one until stop, calling onTurn once when this process's
// turn comes.
func (r *restartTurns) start(onTurn func()) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	rctx, rcancel := context.WithTimeout(ctx, controlTimeout)
	if gen, _, err := r.read(rctx); err == nil {
		r.seen = gen
	}
	rcancel()
	r.wg.Go(func() { r.run(ctx, onTurn) })
}

// stop ends the watch; a turn already taken stays held until release.
func (r *restartTurns) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

func (r *restartTurns) run(ctx context.Context, onTurn func()) {
	t := time.NewTicker(restartPoll)
	defer t.Stop()
	for {
		if r.poll(ctx) {
			onTurn()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll looks once for a restart request and for this process's turn; it reports whether
// the turn is now this process's. Redis errors wait for the next poll.
func (r *restartTurns) poll(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	gen, nodes, err := r.read(ctx)
	switch {
	case err != nil:
		return false
	case r.seen < 0 || gen < r.seen:
		r.seen = gen // the first read, or Redis lost the key: nothing is asked of this process
		return false
	case gen == r.seen:
		return false
	}
	if !r.settled(ctx, nodes) {
		return false
	}
	ok, err := r.rdb.SetNX(ctx, r.turnKey(), r.id, r.hold).Result()
	if err != nil || !ok {
		return false
	}
	r.held.Store(true)
	r.log.Info("restart: this process's turn to drain and exit", "generation", gen)
	return true
}

// settled reports whether a socket node may take a free turn: as many nodes hold a lease as
// when the restart was asked, or it has waited restartSettleMax for that.
func (r *restartTurns) settled(ctx context.Context, want int) bool {
	if !r.settle {
		return true
	}
	live, err := registry.LiveNodes(ctx, r.rdb, r.prefix)
	if err != nil {
		return false
	}
	if live >= want {
		r.short = time.Time{}
		return true
	}
	if r.short.IsZero() {
		r.short = time.Now()
		return false
	}
	if time.Since(r.short) < restartSettleMax {
		return false
	}
	r.log.Warn("restart: fewer nodes are up than when the restart was asked; this node takes its turn anyway",
		"live", live, "asked", want, "waited", restartSettleMax)
	return true
}

// release hands the turn on, if this process holds it; call it last, after the node's
// lease is dropped.
func (r *restartTurns) release() {
	if !r.held.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	if err := releaseTurn.Run(ctx, r.rdb, []string{r.turnKey()}, r.id).Err(); err != nil {
		r.log.Warn("restart: the turn was not handed on; the next process takes it when it expires", "err", err, "expires_in", r.hold)
	}
}

// read returns the restart generation and the live nodes counted when it was asked.
func (r *restartTurns) read(ctx context.Context) (gen int64, nodes int, err error) {
	vals, err := r.rdb.HMGet(ctx, restartKey(r.prefix), "gen", "nodes").Result()
	if err != nil {
		return 0, 0, err
	}
	gen = hashInt(vals[0])
	return gen, int(hashInt(vals[1])), nil
}

func (r *restartTurns) turnKey() string { return restartKey(r.prefix) + ":turn" }

// restartKey is the hash of the deployment's restart requests.
func restartKey(prefix string) string { return prefix + ":restart" }

// hashInt reads an HMGET value written by HINCRBY or HSET; a missing one is 0.
func hashInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// requestRestart asks every process of the deployment under prefix to restart in turn,
// recording how many socket nodes are live now; it returns the new generation.
func requestRestart(ctx context.Context, rdb redis.UniversalClient, prefix string, nodes int) (int64, error) {
	var gen *redis.IntCmd
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		gen = p.HIncrBy(ctx, restartKey(prefix), "gen", 1)
		p.HSet(ctx, restartKey(prefix), "nodes", nodes)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ask for the restart in redis: %w", err)
	}
	return gen.Val(), nil
}
