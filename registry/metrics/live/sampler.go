package live

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

const (
	// minInterval is the least time between two readings: a poll sooner gets the last one.
	minInterval = 900 * time.Millisecond
	// window is the trailing time the latency percentiles cover.
	window = 10 * time.Second
	// span is how far back the series go.
	span = 2 * time.Minute
	// presenceEvery is how often the presence channels are listed again, at least, and
	// presenceTimeout how long a listing may take. A listing that took long waits
	// presenceBackoff times as long before the next, so that a store with very many
	// channels is not kept busy by a page left open.
	presenceEvery   = 2 * time.Second
	presenceTimeout = 2 * time.Second
	presenceBackoff = 20
	// presencePrefix starts every presence channel's name (presence-cache- ones included).
	presencePrefix = "presence-"
)

// Occupancy lists an app's channels whose names start with prefix, with their sizes;
// registry.Occupancy does.
type Occupancy interface {
	Channels(ctx context.Context, appID, prefix string) (map[string]registry.ChannelInfo, error)
}

// sampler takes readings of the metrics when asked and keeps what the rates, percentiles and
// series need. It runs nothing of its own.
type sampler struct {
	metrics   *metrics.Metrics
	occupancy Occupancy // nil: no presence channels
	now       func() time.Time

	mu            sync.Mutex
	readings      []*reading                   // oldest first: the window's baseline, …, the newest
	points        []point                      // the series, oldest first
	rooms         map[string][]PresenceChannel // by app, the largest first
	roomsNext     time.Time                    // when to list them again
	presenceError string
	json          []byte // the newest reading's Stats
}

// statsJSON returns the Stats of a reading at most minInterval old, taking a new one when
// the last is older.
func (s *sampler) statsJSON(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if n := len(s.readings); n > 0 && now.Sub(s.readings[n-1].at) < minInterval {
		return s.json, nil
	}
	fams, err := s.metrics.Families()
	if len(fams) == 0 {
		return nil, errors.Join(errors.New("live: no metrics gathered"), err)
	}
	cur := read(now, fams)
	s.listPresence(ctx, cur)

	s.readings = append(s.readings, cur)
	for len(s.readings) > 2 && !s.readings[1].at.After(now.Add(-window)) {
		s.readings = s.readings[1:]
	}
	var prev, base *reading
	if n := len(s.readings); n > 1 {
		prev, base = s.readings[n-2], s.readings[0]
	}
	st := compute(cur, prev, base, s.rooms)
	st.PresenceError = s.presenceError

	s.points = append(s.points, pointOf(st))
	for len(s.points) > 0 && s.points[0].at.Before(now.Add(-span)) {
		s.points = s.points[1:]
	}
	st.Series = seriesOf(s.points)
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	s.json = b
	return b, nil
}

// listPresence lists the presence channels of the apps of r again when it is time; a failed
// listing keeps the channels listed before.
func (s *sampler) listPresence(ctx context.Context, r *reading) {
	if s.occupancy == nil || r.at.Before(s.roomsNext) {
		return
	}
	start := time.Now()
	defer func() { s.roomsNext = r.at.Add(max(presenceEvery, presenceBackoff*time.Since(start))) }()
	// The listing is every viewer's: the asker going away does not cut it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	rooms := map[string][]PresenceChannel{}
	for _, id := range r.order {
		if id == metrics.UnknownApp {
			continue
		}
		channels, err := s.occupancy.Channels(ctx, id, presencePrefix)
		if err != nil {
			s.presenceError = err.Error()
			return
		}
		list := make([]PresenceChannel, 0, len(channels))
		for name, info := range channels {
			list = append(list, PresenceChannel{AppID: id, Channel: name, Users: info.UserCount, Connections: info.SubscriptionCount})
		}
		sortPresence(list)
		rooms[id] = first(list) // the top of each app holds the top of all

	}
	s.rooms, s.presenceError = rooms, ""
}
