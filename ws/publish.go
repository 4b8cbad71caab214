package ws

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Frames made on this node (client events) go to the other nodes through a queue, after
// they are queued for the local subscribers: the goroutine that made a frame (a reader)
// never waits for Redis.
const (
	// maxPublishQueue is the most frames waiting to be published (or being published); past
	// it a frame is not sent to the other nodes, and is counted in Stats.PublishesDropped.
	maxPublishQueue = 1 << 16
	// publishLanes is how many goroutines publish at once at most. A channel's frames all
	// go through one lane, in order; one lane publishes about 20,000 frames a second to a
	// local Redis, one round trip each.
	publishLanes = 4
	// publishTimeout bounds publishing one frame, so a Redis paused for a few seconds loses
	// nothing, and one that hangs costs each frame at most this long.
	publishTimeout = 5 * time.Second
	// publishLogInterval is the least time between two log lines about frames not sent.
	publishLogInterval = 10 * time.Second
)

// remoteFrame is one frame payload for the other nodes (see Publisher).
type remoteFrame struct {
	appID, channel, except string
	payload                []byte
}

// publishQueue holds the frames for the other nodes until they are published. Each lane
// keeps its frames in the order they were made and has a goroutine, started when the lane
// stops being empty and gone when it is empty again, that publishes them one after the
// other.
type publishQueue struct {
	lanes   [publishLanes]publishLane
	pending atomic.Int64 // frames waiting or being published, in every lane

	dropped atomic.Uint64 // frames dropped because the queue was full
	failed  atomic.Uint64 // frames whose publish failed

	logMu   sync.Mutex
	lastLog time.Time // the last line about frames not sent
	unsaid  uint64    // frames dropped or failed since that line

	// ctx is the parent of each publish; Shutdown cancels it when its own deadline passes.
	ctx    context.Context
	cancel context.CancelFunc
}

type publishLane struct {
	mu      sync.Mutex
	frames  []remoteFrame // waiting, oldest first
	spare   []remoteFrame // an emptied array to reuse
	running bool          // the lane's goroutine is on
}

// publishRemote queues payload for the other nodes; it never blocks. With the queue full the
// frame is dropped and counted.
func (s *Server) publishRemote(appID, channel, except string, payload []byte) {
	if s.publisher == nil {
		return
	}
	q := &s.publishes
	if q.pending.Add(1) > maxPublishQueue {
		q.pending.Add(-1)
		q.dropped.Add(1)
		s.notSent(channel, "the publish queue is full", nil)
		return
	}
	lane := &q.lanes[s.hub.index(channelKey{appID, channel})%publishLanes]
	lane.mu.Lock()
	lane.frames = append(lane.frames, remoteFrame{appID: appID, channel: channel, except: except, payload: payload})
	start := !lane.running
	lane.running = true
	lane.mu.Unlock()
	if start {
		s.spawn(func() { s.runPublishes(lane) })
	}
}

// runPublishes publishes lane's frames in order until it is empty.
func (s *Server) runPublishes(lane *publishLane) {
	q := &s.publishes
	for {
		lane.mu.Lock()
		if len(lane.frames) == 0 {
			lane.running = false
			lane.mu.Unlock()
			return
		}
		batch := lane.frames
		lane.frames, lane.spare = lane.spare, nil
		lane.mu.Unlock()

		for i := range batch {
			f := &batch[i]
			ctx, cancel := context.WithTimeout(q.ctx, publishTimeout)
			err := s.publisher.PublishFrame(ctx, f.appID, f.channel, f.except, f.payload)
			cancel()
			q.pending.Add(-1)
			if err != nil {
				q.failed.Add(1)
				s.notSent(f.channel, "publish failed", err)
			}
			*f = remoteFrame{}
		}

		lane.mu.Lock()
		if cap(batch) <= 1024 {
			lane.spare = batch[:0]
		}
		lane.mu.Unlock()
	}
}

// notSent logs that a frame was not sent to the other nodes, at most once every
// publishLogInterval, with the number of frames not sent since the last line.
func (s *Server) notSent(channel, reason string, err error) {
	q := &s.publishes
	q.logMu.Lock()
	q.unsaid++
	now := time.Now()
	if now.Sub(q.lastLog) < publishLogInterval {
		q.logMu.Unlock()
		return
	}
	q.lastLog = now
	unsaid := q.unsaid
	q.unsaid = 0
	q.logMu.Unlock()
	args := []any{"channel", channel, "not_sent", unsaid,
		"dropped_total", q.dropped.Load(), "failed_total", q.failed.Load()}
	if err != nil {
		args = append(args, "err", err)
	}
	s.log.Warn("events not sent to the other nodes: "+reason, args...)
}
