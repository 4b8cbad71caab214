package ws

// registerMetrics adds the families the server reports when scraped: the presence members
// of this node, by app and channel shape.
func (s *Server) registerMetrics() {
	if s.metrics == nil {
		return
	}
	s.metrics.Gauge("presence_members", "Distinct users of the presence channels with a subscriber on this node (a user counts once per channel), by channel shape.",
		[]string{"app_id", "shape"}, s.hub.presenceMembers)
}

// presenceMembers reports, for each app and presence channel shape, the distinct users of
// this node's presence channels: each channel's users counted once, summed over the shape.
func (h *Hub) presenceMembers(yield func(value float64, labelValues ...string)) {
	type key struct{ app, shape string }
	sums := map[key]int{}
	users := map[string]struct{}{}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for _, subs := range sh.channels {
			if subs.users == nil || subs.stats == nil {
				continue
			}
			clear(users)
			for _, id := range subs.users {
				users[id] = struct{}{}
			}
			sums[key{subs.stats.App().ID(), subs.stats.Shape()}] += len(users)
		}
		sh.mu.RUnlock()
	}
	for k, n := range sums {
		yield(float64(n), k.app, k.shape)
	}
}
