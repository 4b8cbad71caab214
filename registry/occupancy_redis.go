package registry

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOccupancy is the Occupancy of a cluster: every node keeps connections, subscriptions
// and presence members in one shared Redis, and each first/last decision and quota check is
// one Lua script, so it is made once for the whole cluster. Each node holds a lease that Run
// renews; Run on any node reaps the state of a node whose lease expired. Each node also keeps
// its own record of what it holds, and Run writes it back whenever Redis lost it (see
// reassert).
//
// Keys, all starting with the prefix P ({app} is the app id with '%' and ':' escaped as %25
// and %3A; values, never keys, are parsed):
//
//	P:nodes                     set of node ids that may hold state
//	P:lease:{node}              a node's lease (PX LeaseTTL)
//	P:node:{node}:state         marker: the node's state is in Redis (gone: write it back)
//	P:node:{node}:socks         set of "app\x00channel\x00socket" the node subscribed
//	P:node:{node}:sockets       set of "app\x00socket": the node's connections
//	P:seq                       counter giving presence members their join order
//	P:app:{app}:sockets         hash socket → node: the app's connections (Connections is HLEN)
//	P:app:{app}:channels        set of occupied channel names
//	P:app:{app}:ch:{ch}:socks   hash socket → node, or node "\x00" user id on presence channels
//	P:app:{app}:ch:{ch}:users   hash user id → connection count
//	P:app:{app}:ch:{ch}:members hash user id → encoded Member
//	P:app:{app}:ch:{ch}:order   sorted set user id → join sequence
//	P:app:{app}:ch:{ch}:mseq    the sequence number of the channel's last member event
//
// Member events are published, by the script that decides them, on the relay's pub/sub
// channel (RedisOccupancyParams.Relay) as the relay's "member" messages (jobs.RedisRelay),
// so every node hears a channel's member events in the order they were decided. Likewise,
// for the apps with subscription_count on (RedisOccupancyParams.Apps), each script that
// changes the subscription count of a non-presence channel publishes the count it leaves as
// a "count" message.
//
// With RedisOccupancyParams.Webhooks set, the same scripts decide the webhook events
// channel_occupied, channel_vacated, member_added, member_removed and subscription_count
// of the apps that take them, and append them to the feed's streams (see
// RedisWebhookFeed); for the other apps they cost one argument.
//
// In Redis Cluster the prefix must be a hash tag such as "{reverbd}", so that every key lives
// in one slot: the scripts build keys from the prefix.
type RedisOccupancy struct {
	rdb    redis.UniversalClient
	prefix string
	relay  string
	node   string
	ttl    time.Duration
	log    *slog.Logger
	apps   *Apps             // whose subscription_count setting says which apps' counts are published
	hooks  *RedisWebhookFeed // decides webhook events into it; nil: none
	batch  int               // entries one reap or reassert script handles; reapBatch except in tests

	book *nodeBook
	// calls sends the scripts of the node's own calls (Connect, Subscribe, …) that are made
	// at the same time as one pipeline.
	calls *scriptBatcher
	// writes is the barrier between the node's writes and a reassert batch: every write
	// holds it shared while it changes the book and Redis, a batch holds it alone, so a batch
	// never sees a write half done.
	writes sync.RWMutex
	// kick asks Run to write this node's state back (capacity 1: requests coalesce).
	kick chan struct{}
	// leaving is set by Leave: the node's state is never written back again.
	leaving atomic.Bool
	// repair is held by a write-back and by Leave, which never run at once.
	repair sync.Mutex

	renewed, renewFailed atomic.Uint64 // lease renewals, see LeaseStats
}

// LeaseStats counts this node's lease renewals since it started: those Redis took, and
// those that failed (Redis unreachable, or slower than the renewal interval).
type LeaseStats struct {
	Renewed, Failed uint64
}

// LeaseStats returns the lease renewal counters. It is safe for concurrent use.
func (o *RedisOccupancy) LeaseStats() LeaseStats {
	return LeaseStats{Renewed: o.renewed.Load(), Failed: o.renewFailed.Load()}
}

// RedisOccupancyParams configures NewRedisOccupancy.
type RedisOccupancyParams struct {
	// Redis is the client of the Redis every node shares.
	Redis redis.UniversalClient
	// Prefix starts every key, e.g. "reverbd"; deployments sharing a Redis use different ones.
	Prefix string
	// Relay is the pub/sub channel on which member events are published to every node (the
	// relay's, REVERB_SCALING_CHANNEL); "" publishes none.
	Relay string
	// NodeID is this node's id, unique in the cluster.
	NodeID string
	// LeaseTTL is how long a node's lease lives without renewal; zero means 10 s.
	LeaseTTL time.Duration
	// Log receives reaping reports and renewal errors; nil means slog.Default().
	Log *slog.Logger
	// Apps are the configured apps: the subscription counts of those with subscription_count
	// on are published on Relay (see CountEvent). Nil publishes none. With Webhooks set,
	// the reap and the write-back decide the webhook events of these apps.
	Apps *Apps
	// Webhooks, when set, is the feed the scripts decide webhook events into, for the apps
	// its Wants takes them of; it shares Redis and Prefix. Nil decides none.
	Webhooks *RedisWebhookFeed
}

// DefaultLeaseTTL is the LeaseTTL used when RedisOccupancyParams leaves it zero.
const DefaultLeaseTTL = 10 * time.Second

// NewRedisOccupancy returns an Occupancy kept in p.Redis. It does no I/O; the node takes its
// lease on its first write or when Run starts.
func NewRedisOccupancy(p RedisOccupancyParams) *RedisOccupancy {
	o := &RedisOccupancy{
		rdb: p.Redis, prefix: p.Prefix, relay: p.Relay, node: p.NodeID, ttl: p.LeaseTTL, log: p.Log, apps: p.Apps, hooks: p.Webhooks, batch: reapBatch,
		book: newNodeBook(), calls: newScriptBatcher(p.Redis), kick: make(chan struct{}, 1),
	}
	if o.ttl <= 0 {
		o.ttl = DefaultLeaseTTL
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o
}

//go:embed occupancy_lua/*.lua
var occupancyLua embed.FS

var (
	connectScript     = occupancyScript("connect")
	disconnectScript  = occupancyScript("disconnect")
	subscribeScript   = occupancyScript("subscribe")
	unsubscribeScript = occupancyScript("unsubscribe")
	membersScript     = occupancyScript("members")
	reapScript        = occupancyScript("reap")
)

// occupancyScript is the script occupancy_lua/{name}.lua preceded by the shared helpers
// (common.lua) and, in order, the helper files named by with.
func occupancyScript(name string, with ...string) *redis.Script {
	var src strings.Builder
	for _, f := range append(append([]string{"common"}, with...), name) {
		b, err := occupancyLua.ReadFile("occupancy_lua/" + f + ".lua")
		if err != nil {
			panic(err)
		}
		src.Write(b)
		src.WriteByte('\n')
	}
	return redis.NewScript(src.String())
}

// run runs script with the prefix and the relay's channel as ARGV[1] and ARGV[2] and the
// nodes key as KEYS[1].
func (o *RedisOccupancy) run(ctx context.Context, s *redis.Script, args ...any) *redis.Cmd {
	return s.Run(ctx, o.rdb, []string{o.prefix + ":nodes"}, append([]any{o.prefix, o.relay}, args...)...)
}

// call is run through o.calls: in one pipeline with the other calls made at the same time.
// A call whose error wraps errNotSent changed nothing in Redis.
func (o *RedisOccupancy) call(ctx context.Context, s *redis.Script, args ...any) *redis.Cmd {
	return o.calls.run(ctx, s, []string{o.prefix + ":nodes"}, append([]any{o.prefix, o.relay}, args...)...)
}

func (o *RedisOccupancy) ttlMillis() int64 { return o.ttl.Milliseconds() }

// counts is the count argument of the subscribe and unsubscribe scripts: "1" when the
// subscription counts of channel are published.
func (o *RedisOccupancy) counts(appID, channel string) string {
	if o.apps == nil || o.relay == "" || KindOf(channel).IsPresence() {
		return ""
	}
	if app, err := o.apps.ByID(appID); err == nil && app.SubscriptionCount {
		return "1"
	}
	return ""
}

// countedApps is the count arguments of the reap and write-back scripts: how many apps have
// their subscription counts published, then their ids.
func (o *RedisOccupancy) countedApps() []any {
	out := []any{0}
	if o.apps == nil || o.relay == "" {
		return out
	}
	for _, app := range o.apps.All() {
		if app.SubscriptionCount {
			out = append(out, app.ID)
		}
	}
	out[0] = len(out) - 1
	return out
}

// hookApp is the webhook apps argument (see hook_apps in common.lua) of a script that
// changes one app's channels: none, or the app and the webhook event types it takes.
func (o *RedisOccupancy) hookApp(args []any, appID string) []any {
	if o.hooks == nil {
		return append(args, 0)
	}
	letters := o.hooks.letters(appID)
	if letters == "" {
		return append(args, 0)
	}
	return append(args, 1, o.hooks.delay.Milliseconds(), appID, letters)
}

// hookApps is the webhook apps argument of the reap and write-back scripts: every app that
// takes webhook events the occupancy decides.
func (o *RedisOccupancy) hookApps(args []any) []any {
	if o.hooks == nil || o.apps == nil {
		return append(args, 0)
	}
	at := len(args)
	args = append(args, 0, o.hooks.delay.Milliseconds())
	n := 0
	for _, app := range o.apps.All() {
		if letters := o.hooks.letters(app.ID); letters != "" {
			args = append(args, app.ID, letters)
			n++
		}
	}
	if n == 0 {
		return args[:at+1]
	}
	args[at] = n
	return args
}

// appKey matches app_key in common.lua.
func (o *RedisOccupancy) appKey(appID string) string {
	return o.prefix + ":app:" + appKeyEscaper.Replace(appID)
}

var appKeyEscaper = strings.NewReplacer("%", "%25", ":", "%3A")

func (o *RedisOccupancy) chKey(appID, channel, suffix string) string {
	return o.appKey(appID) + ":ch:" + channel + ":" + suffix
}

// Connect implements Occupancy; the quota holds across the cluster. A Connect that fails may
// still have been recorded (a reply lost on the way): the node then writes its state back,
// which removes the record.
func (o *RedisOccupancy) Connect(ctx context.Context, appID, socketID string, max int) error {
	o.writes.RLock()
	defer o.writes.RUnlock()
	ok, err := o.call(ctx, connectScript, o.node, appID, socketID, max, o.ttlMillis()).Int()
	if err != nil {
		if !errors.Is(err, errNotSent) {
			o.book.failed()
		}
		return fmt.Errorf("registry: connect to app %s: %w", appID, err)
	}
	if ok == 0 {
		return ErrOverQuota
	}
	o.book.connect(appID, socketID)
	return nil
}

// Disconnect implements Occupancy.
func (o *RedisOccupancy) Disconnect(ctx context.Context, appID, socketID string) error {
	o.writes.RLock()
	defer o.writes.RUnlock()
	o.book.disconnect(appID, socketID)
	if err := o.call(ctx, disconnectScript, o.node, appID, socketID).Err(); err != nil {
		o.book.failed()
		return fmt.Errorf("registry: disconnect from app %s: %w", appID, err)
	}
	return nil
}

// Connections implements Occupancy: the connections of every node.
func (o *RedisOccupancy) Connections(ctx context.Context, appID string) (int, error) {
	n, err := o.rdb.HLen(ctx, o.appKey(appID)+":sockets").Result()
	if err != nil {
		return 0, fmt.Errorf("registry: connections of app %s: %w", appID, err)
	}
	return int(n), nil
}

// Subscribe implements Occupancy; first and the presence limit are decided across the
// cluster, and the member list comes from the same script.
func (o *RedisOccupancy) Subscribe(ctx context.Context, appID, channel, socketID string, m *Member, maxMembers int) (Subscribed, error) {
	args := []any{o.node, appID, channel, socketID, o.ttlMillis(), max(maxMembers, 0), o.counts(appID, channel)}
	args = o.hookApp(args, appID)
	if m != nil {
		b, err := encodeMember(*m)
		if err != nil {
			return Subscribed{}, err
		}
		args = append(args, m.UserID, b)
	}
	o.writes.RLock()
	defer o.writes.RUnlock()
	res, err := o.call(ctx, subscribeScript, args...).Slice()
	if err != nil {
		if !errors.Is(err, errNotSent) {
			o.book.failed() // it may have been recorded all the same
		}
		return Subscribed{}, fmt.Errorf("registry: subscribe to %s: %w", channel, err)
	}
	if first, _ := res[0].(int64); first < 0 {
		return Subscribed{}, ErrPresenceFull
	}
	o.book.subscribe(appID, channel, socketID, m)
	var sub Subscribed
	sub.First = res[0] == int64(1)
	if m != nil {
		if sub.Presence, err = presenceOf(res[1:]); err != nil {
			return Subscribed{}, fmt.Errorf("registry: subscribe to %s: %w", channel, err)
		}
	}
	return sub, nil
}

// presenceOf reads a script's {seq, encoded members...} reply.
func presenceOf(res []any) (Presence, error) {
	var p Presence
	if len(res) == 0 {
		return p, errors.New("registry: empty member list reply")
	}
	seq, _ := res[0].(string)
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return p, fmt.Errorf("registry: member list sequence %q: %w", seq, err)
	}
	p.Seq = n
	p.Members = make([]Member, 0, len(res)-1)
	for _, v := range res[1:] {
		s, _ := v.(string)
		m, err := decodeMember(s)
		if err != nil {
			return p, err
		}
		p.Members = append(p.Members, m)
	}
	return p, nil
}

// Unsubscribe implements Occupancy; last is decided across the cluster. When it fails, the
// node's record forgets the subscription all the same, and Redis is made to agree once the
// node's state is written back (which tells the member_removed then, if it is due).
func (o *RedisOccupancy) Unsubscribe(ctx context.Context, appID, channel, socketID string) (string, bool, error) {
	o.writes.RLock()
	defer o.writes.RUnlock()
	o.book.unsubscribe(appID, channel, socketID)
	args := o.hookApp([]any{appID, channel, socketID, o.counts(appID, channel)}, appID)
	res, err := o.call(ctx, unsubscribeScript, args...).Slice()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		o.book.failed()
		return "", false, fmt.Errorf("registry: unsubscribe from %s: %w", channel, err)
	}
	user, _ := res[0].(string)
	last, _ := res[1].(int64)
	return user, last == 1, nil
}

// Channel implements Occupancy.
func (o *RedisOccupancy) Channel(ctx context.Context, appID, channel string) (ChannelInfo, error) {
	var socks, users *redis.IntCmd
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		socks = p.HLen(ctx, o.chKey(appID, channel, "socks"))
		users = p.HLen(ctx, o.chKey(appID, channel, "users"))
		return nil
	})
	if err != nil {
		return ChannelInfo{}, fmt.Errorf("registry: channel %s: %w", channel, err)
	}
	return ChannelInfo{SubscriptionCount: int(socks.Val()), UserCount: int(users.Val())}, nil
}

// Channels implements Occupancy.
func (o *RedisOccupancy) Channels(ctx context.Context, appID, prefix string) (map[string]ChannelInfo, error) {
	names, err := o.rdb.SMembers(ctx, o.appKey(appID)+":channels").Result()
	if err != nil {
		return nil, fmt.Errorf("registry: channels of app %s: %w", appID, err)
	}
	type counts struct{ socks, users *redis.IntCmd }
	found := map[string]counts{}
	_, err = o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			if strings.HasPrefix(name, prefix) {
				found[name] = counts{
					socks: p.HLen(ctx, o.chKey(appID, name, "socks")),
					users: p.HLen(ctx, o.chKey(appID, name, "users")),
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: channels of app %s: %w", appID, err)
	}
	out := make(map[string]ChannelInfo, len(found))
	for name, c := range found {
		if n := c.socks.Val(); n > 0 { // vacated since SMEMBERS
			out[name] = ChannelInfo{SubscriptionCount: int(n), UserCount: int(c.users.Val())}
		}
	}
	return out, nil
}

// Members implements Occupancy: the users of every node, in the order they joined.
func (o *RedisOccupancy) Members(ctx context.Context, appID, channel string) (Presence, error) {
	res, err := o.call(ctx, membersScript, appID, channel).Slice()
	if err != nil {
		return Presence{}, fmt.Errorf("registry: members of %s: %w", channel, err)
	}
	p, err := presenceOf(res)
	if err != nil {
		return Presence{}, fmt.Errorf("registry: members of %s: %w", channel, err)
	}
	return p, nil
}

// encodeMember stores a Member as a JSON array of strings [user id, raw id(, info)], which
// keeps RawID and Info byte for byte and tells a nil Info from an empty one.
func encodeMember(m Member) (string, error) {
	fields := []string{m.UserID, string(m.RawID)}
	if m.Info != nil {
		fields = append(fields, string(m.Info))
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("registry: encode member %s: %w", m.UserID, err)
	}
	return string(b), nil
}

func decodeMember(s string) (Member, error) {
	var fields []string
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return Member{}, fmt.Errorf("registry: decode member %q: %w", s, err)
	}
	return MemberFromFields(fields)
}

// MemberFromFields is the Member stored as fields [user id, raw id(, info)]: the "m" of a
// relayed member event (see RedisOccupancy).
func MemberFromFields(fields []string) (Member, error) {
	if len(fields) < 2 {
		return Member{}, fmt.Errorf("registry: decode member %q: too few fields", fields)
	}
	m := Member{UserID: fields[0], RawID: json.RawMessage(fields[1])}
	if len(fields) > 2 {
		m.Info = json.RawMessage(fields[2])
	}
	return m, nil
}
