package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bench is one benchmark run: the options, the clients and what they share.
type bench struct {
	opt       *options
	progress  io.Writer // nil: quiet
	wsURL     string    // full connection URL, /app/{key}?protocol=7…
	httpBase  string    // API base, with the server's path prefix
	channels  []string
	kind      string // public, private, presence
	sourceIPs []net.IP
	readBuf   int // bufio size per connection
	nofile    uint64

	clients []*client
	latency []*histogram // shards, by client index

	readers    sync.WaitGroup
	subscribed atomic.Int64
	failed     atomic.Int64  // dial or subscription failures
	drain      chan struct{} // closed: slow clients read again
	stop       chan struct{} // closed: the run is over
	closing    atomic.Bool   // set before the tool closes its connections

	mu       sync.Mutex
	dialErrs map[string]int
	subErrs  map[string]int
}

// newBench prepares a run: limits, URLs, channels and the client table.
func newBench(o *options, progress io.Writer) (*bench, error) {
	b := &bench{
		opt:      o,
		kind:     channelKind(o.channel),
		drain:    make(chan struct{}),
		stop:     make(chan struct{}),
		dialErrs: map[string]int{},
		subErrs:  map[string]int{},
	}
	if o.progress {
		b.progress = progress
	}
	var err error
	if b.sourceIPs, err = parseSourceIPs(o.sourceIPs); err != nil {
		return nil, err
	}
	limit, err := raiseNofile()
	if err != nil {
		b.logf("cannot raise the open-file limit: %v", err)
	}
	b.nofile = limit
	if need := uint64(o.conns + o.publishers + 64); limit > 0 && need > limit {
		return nil, fmt.Errorf("%d connections need about %d open files; the limit is %d", o.conns, need, limit)
	}
	if o.payload > 10240 && !o.idle && o.events > 0 {
		b.logf("note: events with more than 10 KiB of data exceed Pusher's data limit and will get 413")
	}
	b.wsURL = strings.TrimRight(o.url, "/") + "/app/" + o.key + "?protocol=7&client=js&version=8.6.0&flash=false"
	b.httpBase = strings.TrimRight(o.httpURL, "/")
	if o.channels == 1 {
		b.channels = []string{o.channel}
	} else {
		for i := range o.channels {
			b.channels = append(b.channels, o.channel+"-"+strconv.Itoa(i))
		}
	}
	// Room for a whole event frame in the bufio buffer, so it is parsed in place.
	b.readBuf = min(max(4096, o.payload+o.payload/8+1024), 64<<10)
	b.latency = make([]*histogram, 4*runtime.GOMAXPROCS(0))
	for i := range b.latency {
		b.latency[i] = new(histogram)
	}

	perChannel := 0
	if o.events > 0 {
		perChannel = (o.events-1)/o.channels + 1
	}
	words := (perChannel + 63) / 64
	seen := make([]uint64, words*o.conns) // one allocation for every client's bitset
	b.clients = make([]*client, o.conns)
	step := 0
	if o.slow > 0 {
		step = o.conns / o.slow
	}
	for i := range b.clients {
		// Slow clients are spread evenly: the last of every step connections.
		slow := step > 0 && i%step == step-1 && i/step < o.slow
		b.clients[i] = &client{b: b, idx: i, ch: i % o.channels, slow: slow, lastSeq: -1,
			seen: seen[i*words : (i+1)*words : (i+1)*words]}
	}
	return b, nil
}

// logf prints a progress line to stderr unless --json-only.
func (b *bench) logf(format string, args ...any) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, "reverbd-bench: "+format+"\n", args...)
	}
}

// subscribeFrame is the pusher:subscribe message of client c on socket id.
func (b *bench) subscribeFrame(c *client, socketID string) []byte {
	ch := b.channels[c.ch]
	f := []byte(`{"event":"pusher:subscribe","data":{"auth":`)
	switch b.kind {
	case "public":
		f = append(f, `""`...)
	case "private":
		f = appendJSONString(f, channelAuth(b.opt.key, b.opt.secret, socketID, ch, ""))
	case "presence":
		data := `{"user_id":"bench-` + strconv.Itoa(c.idx) + `"}`
		f = appendJSONString(f, channelAuth(b.opt.key, b.opt.secret, socketID, ch, data))
		f = appendJSONString(append(f, `,"channel_data":`...), data)
	}
	f = appendJSONString(append(f, `,"channel":`...), ch)
	return append(f, "}}"...)
}

// dialFailed and subscribeFailed count a connection that never got subscribed.
func (b *bench) dialFailed(err error) {
	b.mu.Lock()
	b.dialErrs[dialErrorKind(err)]++
	b.mu.Unlock()
	b.failed.Add(1)
}

func (b *bench) subscribeFailed(c *client, err error) {
	b.mu.Lock()
	b.subErrs[outcomeOf(err, c.errCode)]++
	b.mu.Unlock()
	b.failed.Add(1)
}

// sleep waits d or until ctx ends; it reports whether the whole time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rss samples the server's RSS, -1 without --server-pid or on error.
func (b *bench) rss() int64 {
	if b.opt.serverPID <= 0 {
		return -1
	}
	v, err := procRSS(b.opt.serverPID)
	if err != nil {
		b.logf("server RSS: %v", err)
		return -1
	}
	return v
}

// run performs the whole benchmark and returns its report.
func (b *bench) run(ctx context.Context) *report {
	o := b.opt
	rep := newReport(b)
	rep.rssBefore = b.rss()
	cpu0 := sampleCPU(o.serverPID)
	start := time.Now()
	b.connect(ctx)
	cpu1 := sampleCPU(o.serverPID)
	rep.CPUSelfConnect, rep.CPUServerConnect = cpu0.shares(cpu1)
	b.logf("%d subscribed, %d failed in %.1fs", b.subscribed.Load(), b.failed.Load(), time.Since(start).Seconds())

	sleep(ctx, o.warmup)
	rep.rssIdle = b.rss()

	var pub *pubResult
	phase0 := sampleCPU(o.serverPID)
	switch {
	case ctx.Err() != nil:
	case o.idle:
		b.logf("holding %d connections for %s", b.subscribed.Load(), o.hold)
		sleep(ctx, o.hold)
	case o.events > 0 && b.subscribed.Load() > 0:
		b.logf("publishing %d events", o.events)
		pub = b.publish(ctx)
		b.logf("published in %.2fs (%d accepted); waiting for deliveries", pub.end.Sub(pub.start).Seconds(), pub.nAccepted)
		b.waitDeliveries(ctx, pub)
	}
	phase1 := sampleCPU(o.serverPID)
	rep.CPUSelfRun, rep.CPUServerRun = phase0.shares(phase1)
	rep.runEnd = phase1.at
	rep.rssAfter = b.rss()

	if o.slow > 0 {
		b.logf("draining slow connections")
		close(b.drain)
		deadline := time.Now().Add(o.slowDrain + 2*time.Second)
		for _, c := range b.clients {
			for c.slow && c.nc != nil && !c.ended.Load() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}

	b.closing.Store(true)
	close(b.stop)
	for _, c := range b.clients {
		if c.nc != nil {
			_ = c.nc.Close()
		}
	}
	b.readers.Wait()
	_, rep.selfMaxRSS = selfUsage()
	rep.collect(b, pub)
	return rep
}

// connect dials every client, --dialers at a time and at most --connect-rate per second,
// and waits until each has subscribed or failed (or --timeout passed).
func (b *bench) connect(ctx context.Context) {
	o := b.opt
	jobs := make(chan *client)
	var dialers sync.WaitGroup
	var dialed atomic.Int64
	for range o.dialers {
		dialers.Go(func() {
			for c := range jobs {
				if err := c.dial(ctx); err != nil {
					b.dialFailed(err)
					continue
				}
				dialed.Add(1)
				b.readers.Add(1)
				go c.run()
			}
		})
	}
	done := make(chan struct{})
	go b.every(done, func() string {
		return fmt.Sprintf("connecting: %d open, %d subscribed, %d failed", dialed.Load(), b.subscribed.Load(), b.failed.Load())
	})
	defer close(done)

	start := time.Now()
feed:
	for i, c := range b.clients {
		if o.connectRate > 0 {
			if !sleep(ctx, time.Until(start.Add(time.Duration(float64(i)/o.connectRate*float64(time.Second))))) {
				break
			}
		}
		select {
		case jobs <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	dialers.Wait()

	deadline := time.Now().Add(o.timeout)
	for b.subscribed.Load()+b.failed.Load() < int64(o.conns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// every logs status() every two seconds until done is closed.
func (b *bench) every(done <-chan struct{}, status func() string) {
	if b.progress == nil {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			b.logf("%s", status())
		}
	}
}

// waitDeliveries waits until every live, reading, subscribed client has received every
// accepted event of its channel, or --timeout after the last publish.
func (b *bench) waitDeliveries(ctx context.Context, pub *pubResult) {
	done := make(chan struct{})
	defer close(done)
	var got atomic.Int64
	go b.every(done, func() string { return fmt.Sprintf("delivered %d", got.Load()) })
	deadline := pub.end.Add(b.opt.timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pending, sum := false, int64(0)
		for _, c := range b.clients {
			if c.slow || !c.subOK.Load() {
				continue
			}
			n := c.recv.Load()
			sum += n
			if n < pub.perChannel[c.ch] && !c.ended.Load() {
				pending = true
			}
		}
		got.Store(sum)
		if !pending {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.logf("gave up waiting for deliveries")
}

// popcountAndNot returns the number of bits set in a &^ b (a, b of equal length).
func popcountAndNot(a, b []uint64) int64 {
	var n int
	for i := range a {
		n += bits.OnesCount64(a[i] &^ b[i])
	}
	return int64(n)
}

// durations sorts d and returns its p50/p99/max in milliseconds.
func durations(d []time.Duration) *pcts {
	if len(d) == 0 {
		return nil
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := int(p/100*float64(len(d))+0.999999) - 1
		return ms(int64(d[min(max(i, 0), len(d)-1)]))
	}
	return &pcts{P50: at(50), P90: at(90), P99: at(99), Max: ms(int64(d[len(d)-1]))}
}

// ms converts nanoseconds to milliseconds, rounded to the microsecond.
func ms(ns int64) float64 { return float64(ns/1000) / 1000 }
