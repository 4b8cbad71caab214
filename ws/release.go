package ws

import (
	"runtime/debug"
	"time"
)

// A burst of connections (every client of a deploy reconnecting at once) leaves the Go heap
// much bigger than what the connections keep once it is over: the garbage of their
// handshakes and subscriptions waits for the next collection, and the runtime returns freed
// pages to the kernel only over minutes. The liveness sweep therefore releases memory once
// after each burst:
//
//   - a burst is a growth of more than burstGrowth connections over the fewest seen since
//     the last release;
//   - it is over when neither the connections nor their subscriptions moved by as many as
//     burstGrowth/10 since the previous sweep (the clients of a storm subscribe after they
//     connect);
//   - then debug.FreeOSMemory runs (a full collection, after which every free page goes back
//     to the kernel), at most once per releaseInterval.
//
// Its cost is measured in BENCHMARKS.md, "Reconnect storm".
const (
	burstGrowth     = 1000
	releaseInterval = 10 * time.Second
)

// burstRelease decides, from the connections and subscriptions counted at each sweep, when
// a burst of connections is over and memory is worth returning to the kernel. The zero value
// starts from no connections. It is used by the sweep goroutine only.
type burstRelease struct {
	low       int       // fewest connections since the last release
	prevConns int       // connections at the previous sweep
	prevSubs  int       // subscriptions at the previous sweep
	last      time.Time // the last release; zero before the first
}

// observe records conns connections with subs subscriptions at now and reports whether to
// release memory now.
func (b *burstRelease) observe(now time.Time, conns, subs int) bool {
	moving := moved(conns, b.prevConns) || moved(subs, b.prevSubs)
	b.prevConns, b.prevSubs = conns, subs
	b.low = min(b.low, conns)
	switch {
	case conns-b.low <= burstGrowth: // no burst
		return false
	case moving:
		return false
	case !b.last.IsZero() && now.Sub(b.last) < releaseInterval:
		return false // the count stays above low: it is tried again at the next sweep
	}
	b.low, b.last = conns, now
	return true
}

// moved reports whether a count changed by burstGrowth/10 or more.
func moved(now, before int) bool {
	d := now - before
	return d >= burstGrowth/10 || d <= -burstGrowth/10
}

// releaseMemory returns the heap's free pages to the kernel after a burst of connections.
func (s *Server) releaseMemory(conns int) {
	start := time.Now()
	debug.FreeOSMemory()
	s.log.Debug("memory returned after a burst of connections", "connections", conns,
		"took", time.Since(start))
}
