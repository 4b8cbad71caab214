package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry/redistest"
)

// nodeRedisEnv turns BenchmarkNodeRedis on; it takes minutes and 19,000 sockets.
const nodeRedisEnv = "REVERBD_BENCH_NODE"

// stormDialers bounds the storm's dials in flight: 200 at a time, as the figures in
// BENCHMARKS.md were measured (all 19,000 at once is reverbd-bench --storm's own scenario).
const stormDialers = 200

// BenchmarkNodeRedis measures what one reverbd node of a cluster costs its Redis, with the
// real binary (REVERB_SCALING_ENABLED, which needs the Redis queue) against a private
// redis-server, and the storm's clients (reverbd-bench --storm) in this process:
//
//   - the queue alone: a node without REVERB_SCALING_ENABLED, idle, for a window (30 s);
//   - the cluster node idle with no connection, for a window;
//   - the storm's clients connect, 200 at a time, and each subscribes to
//     private-tenant.{t}, private-user.{i} and presence-tenant.{t} (the commands per
//     connection);
//   - idle with those 19,000 connections, for a window;
//   - a FLUSHALL: the time until the node notices (its lease renewal) and the time its
//     write-back takes, as it logs it (announcing the 19,000 members it adds back
//     included), the longest Redis command meanwhile (slow log) and the longest PING of
//     redis-cli --latency in a process of its own;
//   - load: triggers through the HTTP API at 100 per second to the tenants' private
//     channels (50 subscribers each), for a window;
//   - the close of the 19,000 connections (the commands per connection closed);
//   - with 19,000 connections again, a SIGTERM: the time until the node has removed its
//     state from Redis and announced its members gone (its log line).
//
// Each phase reports the commands Redis ran (INFO: every command, those a script runs
// included; less this benchmark's own), per second or per connection, by command, and the
// redis-server's CPU. It runs only with REVERBD_BENCH_NODE=1, once per -count (use
// -benchtime 1x); REVERBD_BENCH_WINDOW and REVERBD_BENCH_CONNS change the window and the
// number of connections. The server and this process each hold one socket per connection,
// under the 20,000 open files a process may have here. Subscriptions refused on a busy
// machine are counted (refused-clients), not a failure.
func BenchmarkNodeRedis(b *testing.B) {
	if os.Getenv(nodeRedisEnv) == "" {
		b.Skip(nodeRedisEnv + "=1 runs it: minutes, 19,000 sockets, a private redis-server")
	}
	window := envDuration(b, "REVERBD_BENCH_WINDOW", 30*time.Second)
	conns := 19000
	if v := os.Getenv("REVERBD_BENCH_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 50 {
			b.Fatalf("REVERBD_BENCH_CONNS=%q: want a number of at least 50", v)
		}
		conns = n
	}
	for range b.N {
		runNodeRedis(b, window, conns)
	}
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a duration such as 30s", name, v)
	}
	return d
}

// nodeRedis is one run of BenchmarkNodeRedis: the private Redis, the node and the phases.
type nodeRedis struct {
	b       *testing.B
	rdb     *redis.Client // this benchmark's samples and checks
	logs    *syncBuffer   // the node's log
	wsURL   string
	port    int              // of the private redis-server
	prefix  string           // the node's key prefix, as config.ScalingKeyPrefix makes it
	own     map[string]int64 // commands this benchmark sent in the phase, besides INFO
	refused int64            // clients of the storms not subscribed to their three channels
	table   strings.Builder
}

func runNodeRedis(b *testing.B, window time.Duration, conns int) {
	srv := redistest.StartServer(b)
	n := &nodeRedis{b: b, rdb: srv.Client(), logs: &syncBuffer{}, port: srv.Port, prefix: "{reverbd}", own: map[string]int64{}}
	ctx := context.Background()
	for k, v := range map[string]string{"slowlog-log-slower-than": "1000", "slowlog-max-len": "100000"} {
		if err := n.rdb.ConfigSet(ctx, k, v).Err(); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Fprintf(&n.table, "private redis-server on port %d, %d connections, windows of %s\n", srv.Port, conns, window)
	// A node needs the Redis queue to scale (asynq, polling every 2 ms while idle): what the
	// queue alone costs comes first, from a node that does not scale.
	queueEnv := []string{"REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=" + srv.URL()}
	_, qpid := startReverbd(b, nil, queueEnv...)
	time.Sleep(2 * time.Second)
	queue := n.phase("the queue alone (a node without REVERB_SCALING_ENABLED), idle, 0 connections", func() { time.Sleep(window) })
	b.ReportMetric(queue.PerSecond(queue.Commands), "cmds/s-queue-idle")
	stopProcess(b, qpid)

	url, pid := startReverbd(b, n.logs, append(queueEnv, "REVERB_SCALING_ENABLED=true")...)
	n.wsURL = url
	fmt.Fprintf(&n.table, "the cluster node (REVERB_SCALING_ENABLED=true), pid %d:\n", pid)
	time.Sleep(2 * time.Second) // the node's first renewal and write-back of nothing

	idle0 := n.phase("idle, 0 connections", func() { time.Sleep(window) })
	b.ReportMetric(idle0.PerSecond(idle0.Commands), "cmds/s-idle-0")

	var held *heldStorm
	storm := n.phase(fmt.Sprintf("connect and subscribe (a storm, %d dials at a time)", stormDialers), func() {
		held = n.connect(conns)
	})
	b.ReportMetric(n.beyond(storm, idle0)/float64(conns), "cmds/conn-open")

	idle := n.phase(fmt.Sprintf("idle, %d connections", conns), func() { time.Sleep(window) })
	b.ReportMetric(idle.PerSecond(idle.Commands), "cmds/s-idle-conns")

	n.writeBack()

	load := n.phase("load: 100 triggers/s", func() { n.trigger(window, 100, conns) })
	b.ReportMetric(load.PerSecond(load.Commands), "cmds/s-load")
	b.ReportMetric(n.beyond(load, idle)/(100*load.Elapsed.Seconds()), "cmds/trigger")

	closed := n.phase("close every connection", func() {
		held.close() // its refusals were counted when it connected
		n.waitRedis("the connections to be removed", func() bool { return n.hlen("app:1:sockets") == 0 })
		n.settle()
	})
	b.ReportMetric(n.beyond(closed, idle0)/float64(conns), "cmds/conn-close")

	held = n.connect(conns)
	defer held.close()
	fmt.Fprintf(&n.table, "connected again: %d connections\n", conns)
	var took time.Duration
	var members int
	n.phase("SIGTERM: the graceful stop removes the node's state", func() {
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		m := n.waitLog(leftLine, 0, time.Minute)
		took = time.Since(start)
		members, _ = strconv.Atoi(string(m[1]))
	})
	fmt.Fprintf(&n.table, "    its %d members were removed and announced %.2f s after the SIGTERM\n", members, took.Seconds())
	b.ReportMetric(took.Seconds(), "s-leave")
	b.ReportMetric(float64(n.refused), "refused-clients")
	fmt.Print(n.table.String()) // b.Log would cut it short
}

// heldStorm is a storm whose clients stay connected until close.
type heldStorm struct {
	s        *storm
	end      context.CancelFunc
	reported chan *stormReport
}

// connect connects the storm's conns clients (stormDialers at a time), each subscribed to its
// three channels, and waits until Redis has them and the node has published their member
// events.
func (n *nodeRedis) connect(conns int) *heldStorm {
	b := n.b
	o, err := parseFlags([]string{"--storm", "--json-only", "--url", n.wsURL, "--app-id", stormAppID, "--key", stormKey,
		"--secret", stormSecret, "--conns", strconv.Itoa(conns), "--dialers", strconv.Itoa(stormDialers),
		"--timeout", "120s", "--settle", "24h"}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s, err := newStorm(o, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx, end := context.WithCancel(context.Background())
	h := &heldStorm{s: s, end: end, reported: make(chan *stormReport, 1)}
	go func() { h.reported <- s.run(ctx) }()
	deadline := time.Now().Add(o.timeout)
	for s.done.Load() < int64(conns) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// On a busy machine a few subscriptions may wait longer than their 5 s deadline and be
	// refused: that is a result, told in the table, not a failure of the benchmark.
	if got := s.subscribed.Load(); got != int64(conns) {
		fmt.Fprintf(&n.table, "    %d of %d clients were not subscribed to their three channels\n", int64(conns)-got, conns)
		n.refused += int64(conns) - got
	}
	open := registered(s)
	n.waitRedis("the storm's connections", func() bool { return n.hlen("app:1:sockets") == open })
	n.settle()
	return h
}

// registered is the number of the storm's clients whose connection is open.
func registered(s *storm) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, c := range s.clients {
		if c.sock != nil {
			n++
		}
	}
	return n
}

// close closes every client of the storm and returns its report; closing it again returns
// nil.
func (h *heldStorm) close() *stormReport {
	if h.end == nil {
		return nil
	}
	h.end()
	h.end = nil
	return <-h.reported
}

// phase runs do between two samples of Redis's work, and adds the work, less this
// benchmark's own commands, to the table.
func (n *nodeRedis) phase(name string, do func()) redistest.Work {
	n.b.Helper()
	ctx := context.Background()
	before, err := redistest.ReadStats(ctx, n.rdb)
	if err != nil {
		n.b.Fatal(err)
	}
	clear(n.own)
	do()
	after, err := redistest.ReadStats(ctx, n.rdb)
	if err != nil {
		n.b.Fatal(err)
	}
	w := after.Since(before)
	for name, d := range n.own {
		w.Commands -= d
		if w.Calls[name] -= d; w.Calls[name] <= 0 {
			delete(w.Calls, name)
		}
	}
	sec := w.Elapsed.Seconds()
	fmt.Fprintf(&n.table, "%s: %.1f s, %d commands (%.1f/s), %d scripts (%.1f/s), redis-server CPU %.1f %%\n    per s: %s\n",
		name, sec, w.Commands, w.PerSecond(w.Commands), w.Scripts(), w.PerSecond(w.Scripts()),
		100*w.CPU.Seconds()/sec, w.Breakdown(1/sec))
	return w
}

// beyond is what w ran beyond the rate of idle over the same time: the commands w's work
// added. The table gets a line of it.
func (n *nodeRedis) beyond(w, idle redistest.Work) float64 {
	v := float64(w.Commands) - idle.PerSecond(idle.Commands)*w.Elapsed.Seconds()
	fmt.Fprintf(&n.table, "    beyond the idle rate: %.0f commands\n", v)
	return v
}

// settle waits until the node has published what it had queued for the other nodes (the
// presence member events of the phase): until Redis's PUBLISH calls grow by at most one (the
// relay's probe, once a second) in half a second.
func (n *nodeRedis) settle() {
	n.b.Helper()
	publishes := func() int64 {
		st, err := redistest.ReadStats(context.Background(), n.rdb)
		if err != nil {
			n.b.Fatal(err)
		}
		return st.Calls["publish"]
	}
	last := publishes()
	for deadline := time.Now().Add(time.Minute); ; {
		time.Sleep(500 * time.Millisecond)
		now := publishes()
		if now-last <= 1 {
			return
		}
		if time.Now().After(deadline) {
			n.b.Fatal("the node still publishes a minute later")
		}
		last = now
	}
}

// hlen is the length of the hash at the node's key prefix:suffix.
func (n *nodeRedis) hlen(suffix string) int64 {
	n.own["hlen"]++
	v, err := n.rdb.HLen(context.Background(), n.prefix+":"+suffix).Result()
	if err != nil {
		n.b.Fatal(err)
	}
	return v
}

// waitRedis polls cond every 10 ms for a minute at most.
func (n *nodeRedis) waitRedis(what string, cond func() bool) {
	n.b.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			n.b.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The node's log lines of a write-back and of a graceful stop's removal of its state
// (registry.RedisOccupancy's Run and Leave).
var (
	wroteBack = regexp.MustCompile(`msg="registry: this node's state was written back".* connections=(\d+) .*took=(\S+)`)
	leftLine  = regexp.MustCompile(`msg="registry: this node's state was removed".* members_removed=(\d+)`)
)

// waitLog waits until the node has logged more than seen lines matching re, and returns the
// submatches of the last one.
func (n *nodeRedis) waitLog(re *regexp.Regexp, seen int, within time.Duration) [][]byte {
	n.b.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(5 * time.Millisecond) {
		if lines := re.FindAllSubmatch(n.logs.Bytes(), -1); len(lines) > seen {
			return lines[len(lines)-1]
		}
		if time.Now().After(deadline) {
			n.b.Fatalf("the node logged no line matching %s within %s:\n%s", re, within, n.logs.Bytes())
		}
	}
}

// writeBack flushes Redis and measures the node's write-back of its connections.
func (n *nodeRedis) writeBack() {
	b, ctx := n.b, context.Background()
	conns := n.hlen("app:1:sockets")
	seen := len(wroteBack.FindAllSubmatch(n.logs.Bytes(), -1))
	var flushed, noticed time.Time
	var took time.Duration
	var ping time.Duration
	w := n.phase("FLUSHALL and the write-back", func() {
		n.own["flushall"]++
		flushed = time.Now()
		if err := n.rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		n.own["slowlog|reset"]++ // after the FLUSHALL, which is slow itself
		if err := n.rdb.SlowLogReset(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		stop := watchLatency(n.b, n.port)
		m := n.waitLog(wroteBack, seen, time.Minute)
		if got, _ := strconv.ParseInt(string(m[1]), 10, 64); got != conns {
			b.Fatalf("the node wrote back %d connections, want %d", got, conns)
		}
		var err error
		if took, err = time.ParseDuration(string(m[2])); err != nil {
			b.Fatal(err)
		}
		noticed = time.Now().Add(-took)
		n.settle()
		var pings int
		ping, pings = stop()
		n.own["ping"] += int64(pings)
	})
	slow, err := redistest.ReadSlow(ctx, n.rdb)
	if err != nil {
		b.Fatal(err)
	}
	if got := n.hlen("app:1:sockets"); got != conns {
		b.Fatalf("%d connections in Redis after the write-back, want %d", got, conns)
	}
	fmt.Fprintf(&n.table, "    noticed %.2f s after the FLUSHALL; the write-back took %s (%d commands, %d scripts); "+
		"longest command %s (%s; %d over 1 ms), longest PING of another client %s\n",
		noticed.Sub(flushed).Seconds(), took, w.Commands, w.Scripts(), slow.Longest, slow.LongestName, slow.Entries, ping)
	b.ReportMetric(took.Seconds(), "s-writeback")
	b.ReportMetric(noticed.Sub(flushed).Seconds(), "s-notice")
	b.ReportMetric(float64(slow.Longest.Microseconds())/1000, "ms-longest-cmd")
	b.ReportMetric(float64(ping.Microseconds())/1000, "ms-max-ping")
}

// trigger sends rate triggers per second through the node's HTTP API for d, one event each,
// in turn to the private-tenant.{t} channels of the storm's tenants.
func (n *nodeRedis) trigger(d time.Duration, rate, conns int) {
	b := n.b
	base := "http" + strings.TrimPrefix(n.wsURL, "ws")
	client := newHTTPClient(4, nil)
	tenants := (conns-1)/50 + 1
	total := int(d.Seconds() * float64(rate))
	work := make(chan int)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				body := []byte(`{"name":"bench","channel":"private-tenant.` + strconv.Itoa(i%tenants) + `","data":"{\"seq\":` + strconv.Itoa(i) + `}"}`)
				path := "/apps/" + stormAppID + "/events"
				q := signQuery(stormKey, stormSecret, http.MethodPost, path, body, time.Now().Unix())
				res, err := client.Post(base+path+"?"+q, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		work <- i
	}
	close(work)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d triggers failed", f, total)
	}
}

// watchLatency runs redis-cli --latency against the Redis on port, a second at a time, in a
// process of its own (this one is busy with the clients' sockets), until the returned stop
// is called; stop returns the longest PING round trip seen (whole milliseconds) and the
// number of PINGs.
func watchLatency(b *testing.B, port int) (stop func() (time.Duration, int)) {
	done := make(chan struct{})
	var longest time.Duration
	var pings int
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			// Output: min max avg samples, in ms.
			out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "--latency", "--raw", "-i", "1").Output()
			f := strings.Fields(string(out))
			if err != nil || len(f) != 4 {
				b.Errorf("redis-cli --latency: %v: %q", err, out)
				return
			}
			ms, _ := strconv.Atoi(f[1])
			samples, _ := strconv.Atoi(f[3])
			longest, pings = max(longest, time.Duration(ms)*time.Millisecond), pings+samples
		}
	})
	return func() (time.Duration, int) {
		close(done)
		wg.Wait()
		return longest, pings
	}
}

// stopProcess stops the process pid, a child of this one, with SIGTERM and waits until it
// is gone.
func stopProcess(b *testing.B, pid int) {
	b.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("process %d still runs 30 s after SIGTERM", pid)
		}
	}
}

// syncBuffer is a bytes.Buffer that a process's output and the benchmark share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}
