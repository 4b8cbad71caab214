package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gobwas/ws"
)

// The drain run measures what a node's drain does to the rest of a deployment: --conns
// clients connect to the node at --url and subscribe as the storm's clients do (two private
// channels and one presence channel); the tool then sends that node SIGTERM (--server-pid)
// and, as a load balancer would route them, every client the node closes with 4200 reconnects
// at once (pusher-js does on 4200) to the node at --failover-url and subscribes again. The
// report is the reconnect curve: clients closed on the first node and clients reconnected
// (all three subscriptions answered) on the second, per 100 ms after the signal.

// drainBucket is the resolution of the curve.
const drainBucket = 100 * time.Millisecond

// drain is one drain run.
type drain struct {
	opt       *options
	progress  io.Writer // nil: quiet
	urls      [2]string // the draining node, the failover node
	sourceIPs []net.IP
	clients   []*drainClient

	readers    sync.WaitGroup
	subscribed atomic.Int64 // clients subscribed on the first node
	done       atomic.Int64 // clients back on the second node, or failed
	closing    atomic.Bool  // set before the tool closes its connections

	mu     sync.Mutex
	socks  []net.Conn // every socket the clients opened, for closeAll
	closed bool
}

// drainClient is one client of the drain run; its goroutine owns every field until the run
// is over.
type drainClient struct {
	wsConn
	d        *drain
	idx      int
	channels [stormSubs]string
	userData string

	node     int // 0 on the first node, 1 once it reconnected
	pending  int
	okAt     time.Time // all three subscriptions answered on the current node
	closedAt time.Time // the first node closed it
	backAt   time.Time // all three subscriptions answered on the second node
	outcome  string    // how it failed; "" if it did not
	finished bool
}

func newDrain(o *options, progress io.Writer) (*drain, error) {
	d := &drain{opt: o}
	if o.progress {
		d.progress = progress
	}
	var err error
	if d.sourceIPs, err = parseSourceIPs(o.sourceIPs); err != nil {
		return nil, err
	}
	if _, err := raiseNofile(); err != nil {
		d.logf("cannot raise the open-file limit: %v", err)
	}
	for i, u := range []string{o.url, o.failoverURL} {
		d.urls[i] = stormURL(u, o.key)
	}
	d.clients = make([]*drainClient, o.conns)
	for i := range d.clients {
		d.clients[i] = &drainClient{d: d, idx: i, userData: stormUserData(i), channels: stormChannels(i, o.tenantSize)}
	}
	return d, nil
}

func (d *drain) logf(format string, args ...any) {
	if d.progress != nil {
		fmt.Fprintf(d.progress, "reverbd-bench: "+format+"\n", args...)
	}
}

// run connects every client to the first node, signals it, and waits until every client
// is back on the second node (or --timeout after the signal).
func (d *drain) run(ctx context.Context) *drainReport {
	o := d.opt
	rep := &drainReport{Mode: "drain", URL: o.url, FailoverURL: o.failoverURL, Conns: o.conns, TenantSize: o.tenantSize}
	sem := make(chan struct{}, min(o.dialers, o.conns))
	for _, c := range d.clients {
		d.readers.Go(func() {
			sem <- struct{}{}
			err := c.dial(ctx, 0)
			<-sem
			if err != nil {
				c.fail("dial: " + dialErrorKind(err))
				return
			}
			c.run()
		})
	}
	deadline := time.Now().Add(o.timeout)
	for d.subscribed.Load()+d.done.Load() < int64(o.conns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	rep.Subscribed = int(d.subscribed.Load())
	d.logf("%d of %d clients subscribed on %s; sending SIGTERM to pid %d", rep.Subscribed, o.conns, o.url, o.serverPID)
	sleep(ctx, o.warmup)

	signalled := time.Now()
	if err := syscall.Kill(o.serverPID, syscall.SIGTERM); err != nil {
		d.logf("SIGTERM to pid %d: %v", o.serverPID, err)
	} else {
		deadline = signalled.Add(o.timeout)
		next := signalled.Add(2 * time.Second)
		for d.done.Load() < int64(o.conns) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			if time.Now().After(next) {
				d.logf("drain: %d of %d clients back on %s", d.done.Load(), o.conns, o.failoverURL)
				next = next.Add(2 * time.Second)
			}
		}
	}
	d.closing.Store(true)
	d.closeAll()
	d.readers.Wait()
	rep.collect(d, signalled)
	return rep
}

// register records a socket for closeAll; false (and the socket closed) once the run is over.
func (d *drain) register(nc net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = nc.Close()
		return false
	}
	d.socks = append(d.socks, nc)
	return true
}

// closeAll closes every registered socket, which ends the clients' reads.
func (d *drain) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, nc := range d.socks {
		_ = nc.Close()
	}
}

// dial opens the connection to node i (0: the draining one, 1: the failover).
func (c *drainClient) dial(ctx context.Context, node int) error {
	d := c.d
	c.node, c.pending, c.okAt = node, stormSubs, time.Time{}
	if err := c.open(ctx, newDialer(d.opt, d.sourceIPs, 4096, 0, c.idx), d.urls[node], 4096); err != nil {
		return err
	}
	if !d.register(c.nc) {
		return errors.New("the run is over")
	}
	return nil
}

// run reads the connection until the tool closes it; when the first node closes it with
// 4200, the client dials the second at once and subscribes again.
func (c *drainClient) run() {
	for {
		op, p, err := c.next()
		if err != nil {
			if c.d.closing.Load() {
				c.fail("")
				return
			}
			var ce closeError
			if c.node == 0 && errors.As(err, &ce) && ce.code == 4200 {
				c.closedAt = time.Now()
				_ = c.nc.Close()
				if err := c.dial(context.Background(), 1); err != nil {
					c.fail("redial: " + dialErrorKind(err))
					return
				}
				continue
			}
			c.fail(fmt.Sprintf("node %d: %s", c.node, outcomeOf(err, 0)))
			return
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if err := c.handle(p); err != nil {
			c.fail(fmt.Sprintf("node %d: %s", c.node, outcomeOf(err, 0)))
			_ = c.nc.Close()
			return
		}
	}
}

// handle processes one text frame.
func (c *drainClient) handle(p []byte) error {
	switch string(frameEvent(p)) {
	case "pusher:connection_established":
		id := socketIDOf(p)
		if id == "" {
			return subscribeError{"no socket_id"}
		}
		for k, ch := range c.channels {
			userData := ""
			if k == stormPresence {
				userData = c.userData
			}
			if err := c.write(signedSubscribe(c.d.opt, ch, userData, id)); err != nil {
				return err
			}
		}
	case "pusher_internal:subscription_succeeded":
		c.pending--
		if c.pending > 0 {
			return nil
		}
		c.okAt = time.Now()
		if c.node == 0 {
			c.d.subscribed.Add(1)
		} else {
			c.backAt = c.okAt
			c.finish()
		}
	case "pusher:subscription_error":
		return subscribeError{"subscription_error"}
	case "pusher:ping":
		return c.write([]byte(`{"event":"pusher:pong","data":{}}`))
	}
	return nil
}

// fail records why the client did not make it back (nothing when the tool closed it).
func (c *drainClient) fail(outcome string) {
	if c.outcome == "" && c.backAt.IsZero() {
		c.outcome = outcome
	}
	c.finish()
}

func (c *drainClient) finish() {
	if !c.finished {
		c.finished = true
		c.d.done.Add(1)
	}
}

// drainReport is the result of a drain run; its exported fields are the JSON line.
type drainReport struct {
	Mode        string `json:"mode"` // "drain"
	URL         string `json:"url"`
	FailoverURL string `json:"failover_url"`
	Conns       int    `json:"conns"`
	TenantSize  int    `json:"tenant_size"`

	Subscribed  int            `json:"subscribed"`  // on the first node, before the signal
	Closed4200  int            `json:"closed_4200"` // by the first node
	Reconnected int            `json:"reconnected"` // subscribed again on the second node
	Failed      map[string]int `json:"failed,omitempty"`

	FirstCloseS     float64 `json:"first_close_s"` // after the signal
	LastCloseS      float64 `json:"last_close_s"`
	LastReconnectS  float64 `json:"last_reconnect_s"`
	MaxClosedPer100 int     `json:"max_closed_per_100ms"`
	MaxBackPer100   int     `json:"max_reconnected_per_100ms"`
	ReconnectMs     *pcts   `json:"reconnect_ms,omitempty"` // closed → subscribed again
	// The curve, one entry per 100 ms from the signal.
	ClosedPer100 []int `json:"closed_per_100ms"`
	BackPer100   []int `json:"reconnected_per_100ms"`
}

// collect computes the figures once every client goroutine has returned.
func (r *drainReport) collect(d *drain, signalled time.Time) {
	var reconnect []time.Duration
	var firstClose, lastClose, lastBack time.Duration = -1, 0, 0
	add := func(curve *[]int, at time.Time) {
		i := int(at.Sub(signalled) / drainBucket)
		for len(*curve) <= i {
			*curve = append(*curve, 0)
		}
		(*curve)[max(i, 0)]++
	}
	for _, c := range d.clients {
		if !c.closedAt.IsZero() {
			r.Closed4200++
			add(&r.ClosedPer100, c.closedAt)
			at := c.closedAt.Sub(signalled)
			if firstClose < 0 || at < firstClose {
				firstClose = at
			}
			lastClose = max(lastClose, at)
		}
		if !c.backAt.IsZero() {
			r.Reconnected++
			add(&r.BackPer100, c.backAt)
			reconnect = append(reconnect, c.backAt.Sub(c.closedAt))
			lastBack = max(lastBack, c.backAt.Sub(signalled))
		}
		outcome := c.outcome
		switch {
		case outcome != "":
		case c.closedAt.IsZero() && !c.okAt.IsZero():
			outcome = "still open on the first node at the end"
		case c.backAt.IsZero() && !c.closedAt.IsZero():
			outcome = "not back on the failover node by the end"
		}
		if outcome != "" {
			if r.Failed == nil {
				r.Failed = map[string]int{}
			}
			r.Failed[outcome]++
		}
	}
	r.FirstCloseS, r.LastCloseS, r.LastReconnectS = secs(max(firstClose, 0)), secs(lastClose), secs(lastBack)
	for _, n := range r.ClosedPer100 {
		r.MaxClosedPer100 = max(r.MaxClosedPer100, n)
	}
	for _, n := range r.BackPer100 {
		r.MaxBackPer100 = max(r.MaxBackPer100, n)
	}
	for len(r.BackPer100) < len(r.ClosedPer100) {
		r.BackPer100 = append(r.BackPer100, 0)
	}
	for len(r.ClosedPer100) < len(r.BackPer100) {
		r.ClosedPer100 = append(r.ClosedPer100, 0)
	}
	r.ReconnectMs = durations(reconnect)
}

// writeJSON writes the report as one JSON line.
func (r *drainReport) writeJSON(w io.Writer) error { return writeJSONLine(w, r) }

// writeTable writes the report for a human: the totals, then the curve one second per row.
func (r *drainReport) writeTable(w io.Writer) {
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(t, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("run", "drain of %s, failover to %s: %d clients, 3 subscriptions each", r.URL, r.FailoverURL, r.Conns)
	row("clients", "%d subscribed, %d closed with 4200, %d subscribed again on the failover node; failed: %s",
		r.Subscribed, r.Closed4200, r.Reconnected, orNone(counts("", r.Failed)))
	row("closes", "from %.3f s to %.3f s after SIGTERM; at most %d in 100 ms", r.FirstCloseS, r.LastCloseS, r.MaxClosedPer100)
	row("reconnects", "last at %.3f s after SIGTERM; at most %d in 100 ms", r.LastReconnectS, r.MaxBackPer100)
	if p := r.ReconnectMs; p != nil {
		row("close → subscribed again", "p50 %.2f ms, p99 %.2f ms, max %.2f ms", p.P50, p.P99, p.Max)
	}
	for s := 0; s*10 < len(r.BackPer100); s++ {
		end := min(s*10+10, len(r.BackPer100))
		row(fmt.Sprintf("  %d–%d s", s, s+1), "reconnected per 100 ms: %s", ints(r.BackPer100[s*10:end]))
	}
	_ = t.Flush()
}

// ints writes a list of counts separated by spaces.
func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}
