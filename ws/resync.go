package ws

import (
	"context"
	"sync"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// DeliverMember applies a presence member event that the occupancy decided (on a cluster,
// relayed from the script that decided it) to this node's subscribers of its channel: each
// is told the change once, in the channel's order (see hub_members.go). It never blocks.
func (s *Server) DeliverMember(ev registry.MemberEvent) {
	if s.hub.member(ev) {
		s.resyncs.request(channelKey{ev.AppID, ev.Channel})
	}
}

// ResyncPresence reads again the member list of every presence channel with subscribers on
// this node and tells them what changed, in the background. A cluster calls it when this
// node may have missed member events (its relay subscription was down) or its state was
// repaired (written back into Redis).
func (s *Server) ResyncPresence() { s.resyncs.requestAll() }

// resyncTimeout bounds the member list read of one channel's resync.
const resyncTimeout = 5 * time.Second

// resyncQueue collects the presence channels whose view is to be read again (see
// Hub.resync); one goroutine of Run works through them.
type resyncQueue struct {
	mu      sync.Mutex
	pending map[channelKey]struct{}
	all     bool
	kick    chan struct{}
}

func (q *resyncQueue) init() {
	q.pending = map[channelKey]struct{}{}
	q.kick = make(chan struct{}, 1)
}

func (q *resyncQueue) request(k channelKey) {
	q.mu.Lock()
	q.pending[k] = struct{}{}
	q.mu.Unlock()
	q.wake()
}

func (q *resyncQueue) requestAll() {
	q.mu.Lock()
	q.all = true
	q.mu.Unlock()
	q.wake()
}

func (q *resyncQueue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// take empties the queue and returns what it held.
func (q *resyncQueue) take(h *Hub) []channelKey {
	q.mu.Lock()
	all, pending := q.all, q.pending
	q.all, q.pending = false, map[channelKey]struct{}{}
	q.mu.Unlock()
	if all {
		return h.presenceChannels()
	}
	keys := make([]channelKey, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	return keys
}

// resyncRetry is how long a channel whose list could not be read waits to be tried again.
const resyncRetry = time.Second

// run resyncs what is requested until ctx ends. A channel whose list cannot be read (Redis
// still away) is logged and tried again resyncRetry later, until it is read.
func (q *resyncQueue) run(ctx context.Context, s *Server) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		}
		var failed []channelKey
		for _, k := range q.take(s.hub) {
			rctx, cancel := context.WithTimeout(ctx, resyncTimeout)
			p, err := s.occupancy.Members(rctx, k.app, k.channel)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("presence members not read again; retrying", "app_id", k.app, "channel", k.channel, "err", err)
				}
				failed = append(failed, k)
				continue
			}
			s.hub.resync(k.app, k.channel, p)
		}
		if len(failed) == 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(resyncRetry):
		}
		for _, k := range failed {
			q.request(k)
		}
	}
}
