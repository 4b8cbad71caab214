package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gobwas/ws"
)

// The reconnect storm is what a deploy does to a server: every client of the app reconnects
// at once, and pusher-js subscribes each one again to its channels as soon as its connection
// is established. Client i is user i of tenant i/--tenant-size and subscribes to
// private-tenant.{t}, private-user.{i} and presence-tenant.{t}, signed with the app secret
// as the app's auth endpoint would sign them.

// The three subscriptions of a storm client, in the order they are sent.
const (
	stormTenant = iota
	stormUser
	stormPresence
	stormSubs
)

// stormKinds name the three subscriptions in the report.
var stormKinds = [stormSubs]string{"private-tenant", "private-user", "presence-tenant"}

// storm is one reconnect-storm run.
type storm struct {
	opt       *options
	progress  io.Writer // nil: quiet
	wsURL     string
	sourceIPs []net.IP
	nofile    uint64
	clients   []*stormClient

	readers    sync.WaitGroup
	done       atomic.Int64 // clients whose three subscriptions were all answered, or that failed
	subscribed atomic.Int64 // clients whose three subscriptions all succeeded
	closing    atomic.Bool  // set before the tool closes its connections

	mu       sync.Mutex
	dialErrs map[string]int
	closed   bool // the tool has closed every registered socket; close new ones at once
}

// stormClient is one connection of the storm. Its goroutine owns every field (sock is
// shared under s.mu) until the run is over.
type stormClient struct {
	wsConn
	s        *storm
	idx      int
	channels [stormSubs]string
	userData string // the presence channel_data

	sock net.Conn // nc, registered for the tool to close at the end; guarded by s.mu

	dialStart, dialDone time.Time
	sentAt, okAt        [stormSubs]time.Time
	refused             [stormSubs]string // the answer, when it was not subscription_succeeded
	pending             int               // subscriptions sent and not answered yet
	finished            bool              // counted in s.done

	errCodes []int  // codes of the pusher:error frames received
	outcome  string // how the connection ended before the tool closed it; "" if it did not

	listSize int            // members in the presence channel's subscription_succeeded
	view     int64          // members the client knows of: listSize, +1/−1 per later added/removed
	members  int64          // member_added/removed frames after subscription_succeeded
	early    int64          // member_added/removed frames before it
	foreign  int64          // answers for a channel the client did not subscribe to
	trace    *presenceTrace // with --presence-detail: the ids told (see storm_views.go)
}

// stormUserData is the channel_data a Laravel app's presence authorizer signs for a user
// who returns ['id' => …, 'name' => …]: user_id is the auth identifier, a number.
func stormUserData(i int) string {
	id := strconv.Itoa(i)
	return `{"user_id":` + id + `,"user_info":{"id":` + id + `,"name":"User ` + id + `"}}`
}

// newStorm prepares a storm run: limits, the URL and every client's channels.
func newStorm(o *options, progress io.Writer) (*storm, error) {
	s := &storm{opt: o, dialErrs: map[string]int{}}
	if o.progress {
		s.progress = progress
	}
	var err error
	if s.sourceIPs, err = parseSourceIPs(o.sourceIPs); err != nil {
		return nil, err
	}
	limit, err := raiseNofile()
	if err != nil {
		s.logf("cannot raise the open-file limit: %v", err)
	}
	s.nofile = limit
	if need := uint64(o.conns + 64); limit > 0 && need > limit {
		return nil, fmt.Errorf("%d connections need about %d open files; the limit is %d", o.conns, need, limit)
	}
	s.wsURL = stormURL(o.url, o.key)
	s.clients = make([]*stormClient, o.conns)
	for i := range s.clients {
		s.clients[i] = &stormClient{s: s, idx: i, userData: stormUserData(i), channels: stormChannels(i, o.tenantSize)}
	}
	return s, nil
}

// stormURL is the WebSocket URL of app key at base, as pusher-js opens it.
func stormURL(base, key string) string {
	return strings.TrimRight(base, "/") + "/app/" + key + "?protocol=7&client=js&version=8.6.0&flash=false"
}

// stormChannels are the channels of storm client i: its tenant's private and presence
// channels and its own user channel.
func stormChannels(i, tenantSize int) [stormSubs]string {
	t := strconv.Itoa(i / tenantSize)
	return [stormSubs]string{"private-tenant." + t, "private-user." + strconv.Itoa(i), "presence-tenant." + t}
}

func (s *storm) logf(format string, args ...any) {
	if s.progress != nil {
		fmt.Fprintf(s.progress, "reverbd-bench: "+format+"\n", args...)
	}
}

func (s *storm) rss() int64 {
	if s.opt.serverPID <= 0 {
		return -1
	}
	v, err := procRSS(s.opt.serverPID)
	if err != nil {
		s.logf("server RSS: %v", err)
		return -1
	}
	return v
}

// run dials every client at once (at most --dialers dials in flight, all of them unless
// set), waits until each has its three subscriptions answered or failed (or --timeout),
// samples the server's RSS then and --settle later, and closes everything.
func (s *storm) run(ctx context.Context) *stormReport {
	o := s.opt
	rep := &stormReport{Mode: "storm", URL: o.url, Conns: o.conns, TenantSize: o.tenantSize,
		Tenants: (o.conns-1)/o.tenantSize + 1, Dialers: min(o.dialers, o.conns), NofileLimit: s.nofile}
	rep.rssBefore = s.rss()
	net0 := readListenCounters()
	cpu0 := sampleCPU(o.serverPID)

	dialCtx, cancelDials := context.WithCancel(ctx)
	defer cancelDials()
	sem := make(chan struct{}, min(o.dialers, o.conns))
	start := time.Now()
	for _, c := range s.clients {
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			select {
			case sem <- struct{}{}:
			case <-dialCtx.Done():
				s.dialFailed(dialCtx.Err())
				return
			}
			err := c.dial(dialCtx)
			<-sem
			if err != nil {
				s.dialFailed(err)
				return
			}
			if s.register(c) {
				c.run()
			}
		}()
	}

	deadline := start.Add(o.timeout)
	next := start.Add(2 * time.Second)
	for s.done.Load() < int64(o.conns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
		if time.Now().After(next) {
			s.logf("storm: %d of %d clients subscribed, %d done", s.subscribed.Load(), o.conns, s.done.Load())
			next = next.Add(2 * time.Second)
		}
	}
	cpu1 := sampleCPU(o.serverPID)
	rep.rssAfter = s.rss()
	net1 := readListenCounters()
	rep.CPUSelf, rep.CPUServer = cpu0.shares(cpu1)
	rep.Kernel = net0.delta(net1)
	s.logf("%d of %d clients subscribed to all three channels in %.2fs; settling for %s",
		s.subscribed.Load(), o.conns, time.Since(start).Seconds(), o.settle)

	sleep(ctx, o.settle)
	rep.rssSettled = s.rss()

	s.closing.Store(true)
	cancelDials()
	s.closeAll()
	s.readers.Wait()
	_, rep.selfMaxRSS = selfUsage()
	rep.collect(s)
	return rep
}

// register records c's socket for closeAll; false (and the socket closed) when the run is
// already over.
func (s *storm) register(c *stormClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.nc.Close()
		s.done.Add(1)
		return false
	}
	c.sock = c.nc
	return true
}

// closeAll closes every registered socket, which ends the clients' reads.
func (s *storm) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.clients {
		if c.sock != nil {
			_ = c.sock.Close()
		}
	}
}

func (s *storm) dialFailed(err error) {
	s.mu.Lock()
	s.dialErrs[dialErrorKind(err)]++
	s.mu.Unlock()
	s.done.Add(1)
}

// dial opens the connection.
func (c *stormClient) dial(ctx context.Context) error {
	c.dialStart = time.Now()
	s := c.s
	if err := c.open(ctx, newDialer(s.opt, s.sourceIPs, 4096, 0, c.idx), s.wsURL, 4096); err != nil {
		return err
	}
	c.dialDone = time.Now()
	return nil
}

// run reads the connection until it ends or the tool closes it: connection_established →
// three pusher:subscribe → their answers, then presence member events.
func (c *stormClient) run() {
	for {
		op, p, err := c.next()
		if err != nil {
			if !c.s.closing.Load() {
				c.outcome = outcomeOf(err, lastCode(c.errCodes))
			}
			c.finish()
			return
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if err := c.handle(p); err != nil {
			if !c.s.closing.Load() {
				c.outcome = outcomeOf(err, lastCode(c.errCodes))
			}
			c.finish()
			_ = c.nc.Close()
			return
		}
	}
}

// handle processes one text frame.
func (c *stormClient) handle(p []byte) error {
	ev := frameEvent(p)
	switch string(ev) {
	case "pusher:connection_established":
		id := socketIDOf(p)
		if id == "" {
			return subscribeError{"no socket_id"}
		}
		c.pending = stormSubs
		for k := range c.channels {
			f := c.subscribeFrame(k, id)
			c.sentAt[k] = time.Now()
			if err := c.write(f); err != nil {
				return err
			}
		}
	case "pusher_internal:subscription_succeeded":
		k := c.subscription(p)
		if k < 0 || !c.okAt[k].IsZero() || c.refused[k] != "" {
			c.foreign++
			return nil
		}
		c.okAt[k] = time.Now()
		if k == stormPresence {
			n, _, _ := numberAfter(p, 0, `"count`)
			c.listSize, c.view = int(n), int64(n)
			if c.s.opt.presenceDetail > 0 {
				c.trace = &presenceTrace{}
				c.trace.list(p)
			}
		}
		c.answered()
	case "pusher:subscription_error":
		k := c.subscription(p)
		if k < 0 || !c.okAt[k].IsZero() || c.refused[k] != "" {
			c.foreign++
			return nil
		}
		status, _, _ := numberAfter(p, 0, `"status`)
		c.refused[k] = "subscription_error " + strconv.FormatUint(status, 10)
		c.answered()
	case "pusher:error":
		c.errCodes = append(c.errCodes, errorCode(p))
	case "pusher:ping":
		return c.write([]byte(`{"event":"pusher:pong","data":{}}`))
	case "pusher_internal:member_added", "pusher_internal:member_removed":
		switch {
		case c.okAt[stormPresence].IsZero():
			c.early++
		case c.s.closing.Load():
			// The tool is closing connections: not part of the storm.
		case string(ev) == "pusher_internal:member_added":
			c.members++
			c.view++
			if c.trace != nil {
				c.trace.member(p, true)
			}
		default:
			c.members++
			c.view--
			if c.trace != nil {
				c.trace.member(p, false)
			}
		}
	}
	return nil
}

// subscribeFrame is the pusher:subscribe of subscription k, signed for socket id.
func (c *stormClient) subscribeFrame(k int, socketID string) []byte {
	userData := ""
	if k == stormPresence {
		userData = c.userData
	}
	return signedSubscribe(c.s.opt, c.channels[k], userData, socketID)
}

// signedSubscribe is the pusher:subscribe of a private channel, or of a presence channel
// when userData (its channel_data) is set, signed for socket id with the app secret.
func signedSubscribe(o *options, channel, userData, socketID string) []byte {
	f := []byte(`{"event":"pusher:subscribe","data":{"auth":`)
	f = appendJSONString(f, channelAuth(o.key, o.secret, socketID, channel, userData))
	if userData != "" {
		f = appendJSONString(append(f, `,"channel_data":`...), userData)
	}
	f = appendJSONString(append(f, `,"channel":`...), channel)
	return append(f, "}}"...)
}

// subscription returns which of the client's subscriptions frame answers, or -1.
func (c *stormClient) subscription(frame []byte) int {
	ch := stringField(frame, `"channel"`)
	for k := range c.channels {
		if string(ch) == c.channels[k] {
			return k
		}
	}
	return -1
}

// answered counts one answered subscription; the third one finishes the client.
func (c *stormClient) answered() {
	c.pending--
	if c.pending > 0 || c.finished {
		return
	}
	ok := true
	for k := range c.okAt {
		ok = ok && !c.okAt[k].IsZero()
	}
	if ok {
		c.s.subscribed.Add(1)
	}
	c.finish()
}

// finish counts the client as done once: answered, or ended.
func (c *stormClient) finish() {
	if !c.finished {
		c.finished = true
		c.s.done.Add(1)
	}
}

func lastCode(codes []int) int {
	if len(codes) == 0 {
		return 0
	}
	return codes[len(codes)-1]
}

// stormReport is the result of a storm; its exported fields are the JSON line.
type stormReport struct {
	Mode        string `json:"mode"` // "storm"
	URL         string `json:"url"`
	Conns       int    `json:"conns"`
	TenantSize  int    `json:"tenant_size"`
	Tenants     int    `json:"tenants"`
	Dialers     int    `json:"dialers"`
	NofileLimit uint64 `json:"nofile_limit"`

	Connected          int              `json:"connected"`
	Subscribed         int              `json:"subscribed"` // clients with all three subscriptions
	Subscriptions      int              `json:"subscriptions"`
	AllSubscribed      bool             `json:"all_subscribed"`
	ConnectSeconds     float64          `json:"connect_s"`        // first dial → last handshake
	SubscribeSeconds   float64          `json:"all_subscribed_s"` // first dial → last subscription_succeeded
	ConnectMs          *pcts            `json:"connect_ms,omitempty"`
	SubscribeRTTMs     *pcts            `json:"subscribe_rtt_ms,omitempty"`
	SubscribeRTTKindMs map[string]*pcts `json:"subscribe_rtt_by_channel_ms,omitempty"`

	Refusals       int            `json:"refusals"` // everything below, added up
	DialErrors     map[string]int `json:"dial_errors,omitempty"`
	SubscribeErrs  map[string]int `json:"subscription_errors,omitempty"`
	PusherErrors   map[string]int `json:"pusher_errors,omitempty"`
	Closed         map[string]int `json:"closed_by_server,omitempty"`
	Unanswered     int            `json:"unanswered"` // subscriptions with no answer by --timeout
	ForeignAnswers int64          `json:"foreign_answers,omitempty"`

	PresenceListMax   int   `json:"presence_list_max"`
	PresenceListsOver int   `json:"presence_lists_over_tenant"`
	PresenceViewsOff  int   `json:"presence_views_off"`
	MemberFrames      int64 `json:"member_frames"`
	EarlyMemberFrames int64 `json:"member_frames_before_subscribed,omitempty"`
	// With --presence-detail N: up to N clients whose views are off, and how.
	PresenceViewsDetail []viewDetail `json:"presence_views_detail,omitempty"`

	ServerRSSBeforeMiB  *float64       `json:"server_rss_before_mib,omitempty"`
	ServerRSSAfterMiB   *float64       `json:"server_rss_after_mib,omitempty"`
	ServerRSSSettledMiB *float64       `json:"server_rss_settled_mib,omitempty"`
	RSSAfterPerConnKiB  *float64       `json:"server_rss_after_per_conn_kib,omitempty"`
	RSSSettledPerConn   *float64       `json:"server_rss_settled_per_conn_kib,omitempty"`
	CPUSelf             float64        `json:"cpu_self_pct"`
	CPUServer           float64        `json:"cpu_server_pct"` // -1: unknown
	SelfMaxRSSMiB       float64        `json:"self_max_rss_mib"`
	Kernel              listenCounters `json:"kernel"`

	rssBefore, rssAfter, rssSettled, selfMaxRSS int64
}

// collect computes the figures once every client goroutine has returned.
func (r *stormReport) collect(s *storm) {
	o := s.opt
	// Presence members each client should know of: the clients of its tenant whose
	// presence subscription succeeded and whose connection stayed open.
	members := make([]int64, r.Tenants)
	for _, c := range s.clients {
		if !c.okAt[stormPresence].IsZero() && c.outcome == "" {
			members[c.idx/o.tenantSize]++
		}
	}

	var connD, rtt []time.Duration
	var byKind [stormSubs][]time.Duration
	var dials dialSpan
	var lastOK time.Time
	add := func(m *map[string]int, k string) {
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[k]++
	}
	for _, c := range s.clients {
		if c.nc == nil || c.dialDone.IsZero() {
			continue
		}
		r.Connected++
		connD = append(connD, c.dialDone.Sub(c.dialStart))
		dials.add(c.dialStart, c.dialDone)
		all := true
		for k := range stormSubs {
			switch {
			case !c.okAt[k].IsZero():
				r.Subscriptions++
				d := c.okAt[k].Sub(c.sentAt[k])
				rtt = append(rtt, d)
				byKind[k] = append(byKind[k], d)
				if c.okAt[k].After(lastOK) {
					lastOK = c.okAt[k]
				}
			case c.refused[k] != "":
				all = false
				add(&r.SubscribeErrs, stormKinds[k]+": "+c.refused[k])
			default:
				all = false
				if c.outcome == "" {
					r.Unanswered++
				}
			}
		}
		if all {
			r.Subscribed++
		}
		for _, code := range c.errCodes {
			add(&r.PusherErrors, "pusher:error "+strconv.Itoa(code))
		}
		if c.outcome != "" {
			add(&r.Closed, c.outcome)
		}
		r.ForeignAnswers += c.foreign
		r.MemberFrames += c.members
		r.EarlyMemberFrames += c.early
		if !c.okAt[stormPresence].IsZero() {
			r.PresenceListMax = max(r.PresenceListMax, c.listSize)
			if c.listSize > o.tenantSize {
				r.PresenceListsOver++
			}
			if c.outcome == "" && c.view != members[c.idx/o.tenantSize] {
				r.PresenceViewsOff++
			}
		}
	}
	if o.presenceDetail > 0 {
		r.PresenceViewsDetail = presenceDetails(s, o.presenceDetail)
	}
	r.DialErrors = nonEmpty(s.dialErrs)
	for _, m := range []map[string]int{r.DialErrors, r.SubscribeErrs, r.PusherErrors, r.Closed} {
		for _, n := range m {
			r.Refusals += n
		}
	}
	r.Refusals += r.Unanswered
	r.AllSubscribed = r.Subscribed == o.conns
	r.ConnectMs, r.SubscribeRTTMs = durations(connD), durations(rtt)
	for k, d := range byKind {
		if p := durations(d); p != nil {
			if r.SubscribeRTTKindMs == nil {
				r.SubscribeRTTKindMs = map[string]*pcts{}
			}
			r.SubscribeRTTKindMs[stormKinds[k]] = p
		}
	}
	if first := dials.first; !first.IsZero() {
		r.ConnectSeconds = secs(dials.last.Sub(first))
		if !lastOK.IsZero() {
			r.SubscribeSeconds = secs(lastOK.Sub(first))
		}
	}

	r.ServerRSSBeforeMiB, r.ServerRSSAfterMiB, r.ServerRSSSettledMiB = mib(r.rssBefore), mib(r.rssAfter), mib(r.rssSettled)
	perConn := func(v int64) *float64 {
		if r.rssBefore <= 0 || v <= 0 || r.Subscribed == 0 {
			return nil
		}
		f := round(float64(v-r.rssBefore)/float64(r.Subscribed)/1024, 2)
		return &f
	}
	r.RSSAfterPerConnKiB, r.RSSSettledPerConn = perConn(r.rssAfter), perConn(r.rssSettled)
	r.CPUSelf, r.CPUServer = round(r.CPUSelf, 1), round(r.CPUServer, 1)
	r.SelfMaxRSSMiB = round(float64(r.selfMaxRSS)/(1<<20), 1)
}

// writeJSON writes the report as one JSON line.
func (r *stormReport) writeJSON(w io.Writer) error { return writeJSONLine(w, r) }

// writeTable writes the report for a human.
func (r *stormReport) writeTable(w io.Writer) {
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(t, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("run", "storm, %s: %d clients in %d tenants of %d, 3 subscriptions each, %d dials at once",
		r.URL, r.Conns, r.Tenants, r.TenantSize, r.Dialers)
	row("subscribed", "%d of %d clients on all three channels (%d of %d subscriptions); all: %v",
		r.Subscribed, r.Conns, r.Subscriptions, 3*r.Conns, r.AllSubscribed)
	if r.AllSubscribed {
		row("time", "all connected in %.3f s, all subscribed in %.3f s (first dial → last subscription_succeeded)",
			r.ConnectSeconds, r.SubscribeSeconds)
	} else {
		row("time", "last connected at %.3f s, last subscription_succeeded at %.3f s (from the first dial); not all subscribed",
			r.ConnectSeconds, r.SubscribeSeconds)
	}
	if r.ConnectMs != nil {
		row("handshake", "p50 %.2f ms, p99 %.2f ms, max %.2f ms", r.ConnectMs.P50, r.ConnectMs.P99, r.ConnectMs.Max)
	}
	if r.SubscribeRTTMs != nil {
		row("subscribe round trip", "p50 %.2f ms, p99 %.2f ms, max %.2f ms (pusher:subscribe sent → subscription_succeeded)",
			r.SubscribeRTTMs.P50, r.SubscribeRTTMs.P99, r.SubscribeRTTMs.Max)
		for _, k := range stormKinds {
			if p := r.SubscribeRTTKindMs[k]; p != nil {
				row("  "+k, "p50 %.2f ms, p99 %.2f ms, max %.2f ms", p.P50, p.P99, p.Max)
			}
		}
	}
	row("refusals", "%d: dial %s; subscription_error %s; pusher:error %s; closed %s; unanswered %d",
		r.Refusals, orNone(counts("", r.DialErrors)), orNone(counts("", r.SubscribeErrs)),
		orNone(counts("", r.PusherErrors)), orNone(counts("", r.Closed)), r.Unanswered)
	row("presence", "largest member list %d (%d over the tenant size); %d clients' views ≠ their tenant's members; %d member frames (%d before subscription_succeeded)",
		r.PresenceListMax, r.PresenceListsOver, r.PresenceViewsOff, r.MemberFrames, r.EarlyMemberFrames)
	if r.ServerRSSBeforeMiB != nil {
		row("server RSS", "before %s, all subscribed %s, settled %s MiB; per connection %s right after, %s settled",
			f1(r.ServerRSSBeforeMiB), f1(r.ServerRSSAfterMiB), f1(r.ServerRSSSettledMiB),
			kib(r.RSSAfterPerConnKiB), kib(r.RSSSettledPerConn))
	}
	row("CPU, % of one core", "during the storm: tool %.1f, server %s", r.CPUSelf, cpu(r.CPUServer))
	row("kernel, whole machine", "%s", r.Kernel)
	row("tool", "max RSS %.1f MiB, open-file limit %d", r.SelfMaxRSSMiB, r.NofileLimit)
	_ = t.Flush()
}

func kib(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f KiB", *v)
}
