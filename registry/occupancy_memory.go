package registry

import (
	"context"
	"strings"
	"sync"
)

// MemoryOccupancy is the Occupancy of a single node, kept in process.
type MemoryOccupancy struct {
	mu     sync.Mutex
	apps   map[string]*appState // guarded by mu
	notify func(MemberEvent)    // guarded by mu
	counts func(CountEvent)     // guarded by mu
	hooks  *MemoryWebhookFeed   // guarded by mu; nil decides no webhook events
	topSeq uint64               // the greatest member event sequence number so far; guarded by mu

	signins map[string]*appSignins // by app id, created when needed; guarded by mu
	online  func(OnlineEvent)      // guarded by mu
}

type appState struct {
	sockets  map[string]struct{} // the open connections' socket ids
	channels map[string]*channelState
}

type channelState struct {
	sockets socketSet
	users   map[string]*userState // presence channels only
	order   []string              // presence user ids in join order
	seq     uint64                // the sequence number of the channel's last member event
}

type userState struct {
	member Member
	conns  int
}

// NewMemoryOccupancy returns an empty in-process Occupancy.
func NewMemoryOccupancy() *MemoryOccupancy {
	return &MemoryOccupancy{apps: map[string]*appState{}}
}

// NotifyMembers implements MemberNotifier.
func (o *MemoryOccupancy) NotifyMembers(f func(MemberEvent)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notify = f
}

// NotifyCounts implements CountNotifier.
func (o *MemoryOccupancy) NotifyCounts(f func(CountEvent)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts = f
}

// NotifyWebhooks makes the occupancy decide the webhook events channel_occupied,
// channel_vacated, member_added, member_removed and subscription_count into f, for the apps
// f wants them of, while each decision is held; nil stops it.
func (o *MemoryOccupancy) NotifyWebhooks(f *MemoryWebhookFeed) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hooks = f
}

// tellCount passes the subscription count of a non-presence channel, just changed to n, to
// the counts function. Called with o.mu held.
func (o *MemoryOccupancy) tellCount(appID, channel string, n int) {
	if (o.counts == nil && o.hooks == nil) || KindOf(channel).IsPresence() {
		return
	}
	if o.counts != nil {
		o.counts(CountEvent{AppID: appID, Channel: channel, Count: n})
	}
	if o.hooks != nil {
		o.hooks.counted(appID, channel, n)
	}
}

// tell numbers a member event of ch and passes it to the notify function. Called with o.mu
// held. A channel's numbers follow each other; a channel created again starts past every
// number given so far, so they never go back.
func (o *MemoryOccupancy) tell(ch *channelState, ev MemberEvent) {
	if ch.seq == 0 {
		ch.seq = o.topSeq
	}
	ch.seq++
	o.topSeq = max(o.topSeq, ch.seq)
	ev.Seq = ch.seq
	if o.notify != nil {
		o.notify(ev)
	}
	if o.hooks != nil {
		o.hooks.member(ev.AppID, ev.Channel, ev.Member.UserID, ev.Added)
	}
}

// presence returns the member list of ch. Called with o.mu held.
func (ch *channelState) presence() Presence {
	out := make([]Member, 0, len(ch.order))
	for _, id := range ch.order {
		out = append(out, ch.users[id].member)
	}
	return Presence{Members: out, Seq: ch.seq}
}

// app returns the state of appID, creating it. Called with o.mu held.
func (o *MemoryOccupancy) app(appID string) *appState {
	a := o.apps[appID]
	if a == nil {
		a = &appState{sockets: map[string]struct{}{}, channels: map[string]*channelState{}}
		o.apps[appID] = a
	}
	return a
}

// Connect implements Occupancy.
func (o *MemoryOccupancy) Connect(_ context.Context, appID, socketID string, max int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.app(appID)
	if _, ok := a.sockets[socketID]; ok {
		return nil
	}
	if max > 0 && len(a.sockets) >= max {
		return ErrOverQuota
	}
	a.sockets[socketID] = struct{}{}
	return nil
}

// Disconnect implements Occupancy.
func (o *MemoryOccupancy) Disconnect(_ context.Context, appID, socketID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.apps[appID]; a != nil {
		delete(a.sockets, socketID)
	}
	return nil
}

// Connections implements Occupancy.
func (o *MemoryOccupancy) Connections(_ context.Context, appID string) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.apps[appID]; a != nil {
		return len(a.sockets), nil
	}
	return 0, nil
}

// Subscribe implements Occupancy.
func (o *MemoryOccupancy) Subscribe(_ context.Context, appID, channel, socketID string, m *Member, maxMembers int) (Subscribed, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.app(appID)
	ch := a.channels[channel]
	if ch == nil {
		ch = &channelState{}
		a.channels[channel] = ch
	}
	if _, ok := ch.sockets.get(socketID); ok {
		if m == nil {
			return Subscribed{}, nil
		}
		return Subscribed{Presence: ch.presence()}, nil
	}
	if m != nil && maxMembers > 0 && ch.users[m.UserID] == nil && len(ch.users) >= maxMembers {
		return Subscribed{}, ErrPresenceFull // a new channel has no users, so it is never left empty here
	}
	if m == nil {
		ch.sockets.add(socketID, "")
		o.filled(appID, channel, ch)
		o.tellCount(appID, channel, ch.sockets.len())
		return Subscribed{}, nil
	}
	ch.sockets.add(socketID, m.UserID)
	o.filled(appID, channel, ch)
	if ch.users == nil {
		ch.users = map[string]*userState{}
	}
	if u := ch.users[m.UserID]; u != nil {
		u.conns++
		return Subscribed{Presence: ch.presence()}, nil
	}
	ch.users[m.UserID] = &userState{member: *m, conns: 1}
	ch.order = append(ch.order, m.UserID)
	o.tell(ch, MemberEvent{AppID: appID, Channel: channel, Member: *m, Added: true, Except: socketID})
	return Subscribed{First: true, Presence: ch.presence()}, nil
}

// Unsubscribe implements Occupancy.
func (o *MemoryOccupancy) Unsubscribe(_ context.Context, appID, channel, socketID string) (string, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.apps[appID]
	if a == nil {
		return "", false, nil
	}
	ch := a.channels[channel]
	if ch == nil {
		return "", false, nil
	}
	userID, ok := ch.sockets.remove(socketID)
	if !ok {
		return "", false, nil
	}
	last := false
	if u := ch.users[userID]; userID != "" && u != nil {
		u.conns--
		if u.conns == 0 {
			last = true
			delete(ch.users, userID)
			for i, id := range ch.order {
				if id == userID {
					ch.order = append(ch.order[:i], ch.order[i+1:]...)
					break
				}
			}
			o.tell(ch, MemberEvent{AppID: appID, Channel: channel, Member: Member{UserID: userID, RawID: u.member.RawID}})
		}
	}
	o.tellCount(appID, channel, ch.sockets.len())
	if ch.sockets.len() == 0 {
		delete(a.channels, channel)
		if o.hooks != nil {
			o.hooks.emptied(appID, channel)
		}
	}
	return userID, last, nil
}

// filled tells the webhook feed that ch got its first subscriber, if it did. Called with
// o.mu held.
func (o *MemoryOccupancy) filled(appID, channel string, ch *channelState) {
	if o.hooks != nil && ch.sockets.len() == 1 {
		o.hooks.filled(appID, channel)
	}
}

// Channel implements Occupancy.
func (o *MemoryOccupancy) Channel(_ context.Context, appID, channel string) (ChannelInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.apps[appID]; a != nil {
		if ch := a.channels[channel]; ch != nil {
			return ch.info(), nil
		}
	}
	return ChannelInfo{}, nil
}

// Channels implements Occupancy.
func (o *MemoryOccupancy) Channels(_ context.Context, appID, prefix string) (map[string]ChannelInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]ChannelInfo{}
	if a := o.apps[appID]; a != nil {
		for name, ch := range a.channels {
			if strings.HasPrefix(name, prefix) {
				out[name] = ch.info()
			}
		}
	}
	return out, nil
}

// Members implements Occupancy.
func (o *MemoryOccupancy) Members(_ context.Context, appID, channel string) (Presence, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.apps[appID]; a != nil {
		if ch := a.channels[channel]; ch != nil {
			return ch.presence(), nil
		}
	}
	return Presence{}, nil
}

func (ch *channelState) info() ChannelInfo {
	return ChannelInfo{SubscriptionCount: ch.sockets.len(), UserCount: len(ch.users)}
}
