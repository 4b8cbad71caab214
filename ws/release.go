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
//   - it is over when the count moved by fewer than burstGrowth/10 between two sweeps;
//   - then debug.FreeOSMemory runs (a full collection, after which every free page goes back
//     to the kernel), at most once per releaseInterval.
//
// The collection runs concurrently with the server's other goroutines and costs about as
// much CPU as one the heap's growth would start anyway (BENCHMARKS.md, "Reconnect storm").
const (
	burstGrowth     = 1000
	releaseInterval = 10 * time.Second
)

// burstRelease decides, from the connection count seen at each sweep, when a burst of
// connections is over and memory is worth returning to the kernel. The zero value starts
// from no connections. It is used by the sweep goroutine only.
type burstRelease struct {
	low  int       // fewest connections since the last release
	prev int       // connections at the previous sweep
	last time.Time // the last release; zero before the first
}

// observe records n connections at now and reports whether to release memory now.
func (b *burstRelease) observe(now time.Time, n int) bool {
	prev := b.prev
	b.prev = n
	b.low = min(b.low, n)
	if n-b.low <= burstGrowth {
		return false // no burst
	}
	if d := n - prev; d >= burstGrowth/10 || d <= -burstGrowth/10 {
		return false // still moving
	}
	if !b.last.IsZero() && now.Sub(b.last) < releaseInterval {
		return false // the count stays above low: it is tried again at the next sweep
	}
	b.low, b.last = n, now
	return true
}

// releaseMemory returns the heap's free pages to the kernel after a burst of connections.
func (s *Server) releaseMemory(conns int) {
	start := time.Now()
	debug.FreeOSMemory()
	s.log.Debug("memory returned after a burst of connections", "connections", conns,
		"took", time.Since(start))
}
