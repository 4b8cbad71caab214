package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/selfsigned"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// discardConn is a net.Conn whose writes succeed at once; reads never return data.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)         { return len(p), nil }
func (discardConn) Close() error                        { return nil }
func (discardConn) SetWriteDeadline(time.Time) error    { return nil }
func (discardConn) SetReadDeadline(time.Time) error     { return nil }
func (discardConn) RemoteAddr() net.Addr                { return &net.TCPAddr{} }
func (discardConn) LocalAddr() net.Addr                 { return &net.TCPAddr{} }
func (discardConn) SetDeadline(t time.Time) error       { return nil }
func (discardConn) Read(p []byte) (int, error)          { select {} }
func (d discardConn) WriteBuffers(v *net.Buffers) error { return nil }

// benchHub returns a server whose hub has n subscribers of "orders" writing to nowhere.
func benchHub(b *testing.B, n int) *Server { return benchHubMetrics(b, n, nil) }

// benchHubMetrics is benchHub counting in m (nil: metrics off).
func benchHubMetrics(b *testing.B, n int, m *metrics.Metrics) *Server {
	b.Helper()
	app := config.App{ID: "1", Key: "k", Secret: "s"}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy(), WriteLimit: 1 << 30, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	for range n {
		s.hub.add("1", "orders", registerConn(s, &Conn{srv: s, nc: discardConn{}, fd: -1}))
	}
	return s
}

// socketHub returns a server whose hub has n subscribers of "orders" on real Unix stream
// sockets, each drained by a reader; n is kept under the open-file limit (2 fds a pair).
func socketHub(b *testing.B, n int) *Server { return socketHubMetrics(b, n, nil) }

// socketHubMetrics is socketHub counting in m (nil: metrics off).
func socketHubMetrics(b *testing.B, n int, m *metrics.Metrics) *Server {
	b.Helper()
	s := benchHubMetrics(b, 0, m)
	for range n {
		server, client := socketPair(b)
		go func() { _, _ = io.Copy(io.Discard, client) }()
		s.hub.add("1", "orders", registerConn(s, &Conn{srv: s, nc: server, fd: pollFD(b, server)}))
		b.Cleanup(func() { server.Close(); client.Close() })
	}
	return s
}

// orderPaid is the event the delivery benchmarks fan out to "orders".
func orderPaid() registry.Event {
	return registry.Event{AppID: "1", Channels: []string{"orders"}, Name: "order.paid",
		Data: `{"order":{"id":1,"total":"12.50"}}`, QueuedAt: time.Now()}
}

// deliverWritten delivers ev on s and waits until every frame of it is written.
func deliverWritten(s *Server, ev registry.Event) {
	s.hub.Deliver(context.Background(), ev)
	s.writers.waitIdle()
	s.wg.Wait()
}

// ordersQueueOnly makes the writer the owner of each subscriber of "orders" on s, so that a
// publish only appends to its queue of capacity size, and returns those subscribers.
func ordersQueueOnly(s *Server, size int) []*Conn {
	conns := s.hub.shard(channelKey{"1", "orders"}).channels[channelKey{"1", "orders"}].conns
	for _, c := range conns {
		c.writing = true
		c.queue = make(net.Buffers, 0, size)
	}
	return conns
}

// publishOrdersLoop publishes one shared frame to "orders" each b.Loop, emptying the queues
// of conns every 1,000 publishes, and reports cpu-ns/op.
func publishOrdersLoop(b *testing.B, s *Server, conns []*Conn) {
	frame := eventFrame("order.paid", "orders", `{"id":1}`)
	sameFrame := func() []byte { return frame }
	b.ReportAllocs()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		s.hub.publish("1", "orders", "", sameFrame)
		if i++; i%1000 == 0 {
			for _, c := range conns {
				c.queue, c.queued = c.queue[:0], 0
			}
		}
	}
	reportCPUPerOp(b, cpu)
}

// reportCPUPerOp reports the CPU time used since cpu (a cpuTime) per op as cpu-ns/op.
func reportCPUPerOp(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time the process has used, user and system. Unlike the wall time it does
// not grow while other processes hold the cores, so cpu-ns/op stays comparable on a shared
// machine (it includes the process's other goroutines, such as socket readers in a test).
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fileConn(tb testing.TB, fd int) net.Conn {
	tb.Helper()
	f := os.NewFile(uintptr(fd), "socket")
	defer f.Close()
	c, err := net.FileConn(f) // dups fd; f's copy is closed on return
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkHubDeliverSockets is the fan-out to real sockets: one event, n subscribers, each
// frame written (inline or by a writer) inside the timed region.
func BenchmarkHubDeliverSockets(b *testing.B) {
	for _, n := range []int{1, 100, 5000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			s := socketHub(b, n)
			ev := orderPaid()
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				deliverWritten(s, ev) // every frame written inside the timed region
			}
			reportCPUPerOp(b, cpu)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// tlsSocketHub is socketHub with every subscriber on TLS: the server side of each pair is
// a tls.Conn over a tlsTransport, as the Listener makes it, and each client decrypts what it
// reads.
func tlsSocketHub(b *testing.B, n int) *Server {
	b.Helper()
	pair, err := selfsigned.New(time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := pair.Certificate()
	if err != nil {
		b.Fatal(err)
	}
	serverTLS := tlsConfig(&tls.Config{Certificates: []tls.Certificate{cert}})
	clientTLS := &tls.Config{RootCAs: pair.Pool(), ServerName: "localhost"}
	s := benchHub(b, 0)
	for range n {
		raw, plain := socketPair(b)
		client := tls.Client(plain, clientTLS)
		server := tls.Server(&tlsTransport{Conn: raw}, serverTLS)
		done := make(chan error, 1)
		go func() { done <- client.Handshake() }()
		if err := server.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_, sock := tlsSocketOf(server)
		sock.tr.holdWrites(true)
		s.hub.add("1", "orders", registerConn(s, &Conn{srv: s, nc: server, fd: pollFD(b, raw), tls: sock}))
		b.Cleanup(func() { raw.Close(); client.Close() })
	}
	return s
}

// BenchmarkHubDeliverTLSSockets is BenchmarkHubDeliverSockets over TLS: each frame is sealed
// for its connection before the write.
func BenchmarkHubDeliverTLSSockets(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			s := tlsSocketHub(b, n)
			ev := orderPaid()
			b.ReportAllocs()
			for b.Loop() {
				deliverWritten(s, ev)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkHubPublishLoop measures the per-subscriber fan-out step alone: queueing one shared
// frame on each connection (writers are already running, as under load).
func BenchmarkHubPublishLoop(b *testing.B) {
	s := benchHub(b, 1000)
	publishOrdersLoop(b, s, ordersQueueOnly(s, 1<<16))
}

// benchMetrics is the two settings the metrics benchmarks compare.
var benchMetrics = []struct {
	name string
	new  func() *metrics.Metrics
}{
	{"metrics=off", func() *metrics.Metrics { return nil }},
	{"metrics=on", func() *metrics.Metrics {
		return metrics.New(metrics.Params{Prefix: "reverbd_", Port: 8080, AppIDs: []string{"1"}})
	}},
}

// BenchmarkHubPublishMetrics is BenchmarkHubPublishLoop with the metrics off and on: what
// counting costs the per-subscriber fan-out (counted once per publish, never per socket).
func BenchmarkHubPublishMetrics(b *testing.B) {
	for _, bm := range benchMetrics {
		b.Run(bm.name, func(b *testing.B) {
			s := benchHubMetrics(b, 1000, bm.new())
			conns := ordersQueueOnly(s, 1024) // emptied every 1,000 publishes
			// The set-up's garbage is not collected inside the timed region.
			runtime.GC()
			publishOrdersLoop(b, s, conns)
		})
	}
}

// BenchmarkHubDeliverMetrics is BenchmarkHubDeliverSockets with the metrics off and on: the
// fan-out of one event to real sockets, with its latency histograms when on.
func BenchmarkHubDeliverMetrics(b *testing.B) {
	for _, n := range []int{1, 100} {
		for _, bm := range benchMetrics {
			b.Run(fmt.Sprintf("subs=%d/%s", n, bm.name), func(b *testing.B) {
				s := socketHubMetrics(b, n, bm.new())
				ev := orderPaid()
				runtime.GC()
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					deliverWritten(s, ev)
				}
				reportCPUPerOp(b, cpu)
			})
		}
	}
}

// BenchmarkHubDeliverMetricsCost is the part of an event's delivery the metrics add, alone:
// Deliver to a channel without local subscribers, metrics off and on (on: two clock reads,
// the app's handles, the fan-out and trigger-to-delivery histograms).
func BenchmarkHubDeliverMetricsCost(b *testing.B) {
	for _, bm := range benchMetrics {
		b.Run(bm.name, func(b *testing.B) {
			s := benchHubMetrics(b, 0, bm.new())
			ev := registry.Event{AppID: "1", Channels: []string{"orders"}, Name: "order.paid", Data: "x", QueuedAt: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				s.hub.Deliver(context.Background(), ev)
			}
		})
	}
}

func BenchmarkEventFrame(b *testing.B) {
	data := `{"order":{"id":1,"total":"12.50","customer":"Zoë","url":"https:\/\/shop.test\/o\/1"}}`
	b.ReportAllocs()
	for b.Loop() {
		_ = eventFrame(`App\Events\OrderShipped`, "private-tenant.42", data)
	}
}

func BenchmarkHandleMessagePing(b *testing.B) {
	s := benchHub(b, 0)
	app := &config.App{ID: "1", Key: "k", Secret: "s"}
	c := &Conn{srv: s, nc: discardConn{}, fd: -1}
	c.app.Store(app)
	msg := []byte(`{"event":"pusher:ping","data":{}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.handleMessage(msg)
		s.wg.Wait()
	}
}

// BenchmarkReadMessage is the frame reader: one masked client text frame read from a socket
// and handled (a pusher:ping, answered with a queued pong), as one wake-up.
func BenchmarkReadMessage(b *testing.B) {
	s := benchHub(b, 0)
	server, client := socketPair(b)
	defer server.Close()
	defer client.Close()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	c := registerConn(s, &Conn{srv: s, nc: server, fd: -1})
	frame := ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(`{"event":"pusher:ping","data":{}}`))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Write(frame); err != nil {
			b.Fatal(err)
		}
		br := readBuffers.Get().(*bufio.Reader) // as readable takes it
		br.Reset(server)
		if _, err := c.readFrames(br); err != nil {
			b.Fatal(err)
		}
	}
}

// stormState returns a server holding n connections as the reconnect storm leaves them
// (cmd/reverbd-bench, scenario 6): connection i is user i, subscribed to private-tenant.{t},
// private-user.{i} and presence-tenant.{t}, t = i / 50, in the hub and the occupancy. It has
// no sockets: Go's net objects and the poller's are not included.
func stormState(b *testing.B, n int) *Server {
	b.Helper()
	s := benchHub(b, 0)
	ctx := context.Background()
	for i := range n {
		c := registerConn(s, &Conn{srv: s, nc: discardConn{}, fd: -1})
		_ = s.occupancy.Connect(ctx, "1", c.id, 0)
		t, id := strconv.Itoa(i/50), strconv.Itoa(i)
		m := &registry.Member{UserID: id, RawID: json.RawMessage(id),
			Info: json.RawMessage(`{"id":` + id + `,"name":"User ` + id + `"}`)}
		for _, ch := range []string{"private-tenant." + t, "private-user." + id, "presence-tenant." + t} {
			var member *registry.Member
			if registry.KindOf(ch).IsPresence() {
				member = m
			}
			if _, err := s.occupancy.Subscribe(ctx, "1", ch, c.id, member, 0); err != nil {
				b.Fatal(err)
			}
			c.channels.add(subscription{channel: ch, member: member})
			s.hub.add("1", ch, c)
		}
	}
	return s
}

// garbage holds what BenchmarkReleaseMemory makes before each release, until it drops it.
var garbage [][]byte

// BenchmarkReleaseMemory is the release after a burst of connections (see burstRelease):
// a full collection and the return of free pages to the kernel, with n connections' state
// live and 4 KiB of garbage per connection made before each release. gc-cpu-ms/op is the
// CPU the collection took on all cores, pause-µs the last one's stop-the-world pauses.
func BenchmarkReleaseMemory(b *testing.B) {
	for _, n := range []int{19000, 100000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			s := stormState(b, n)
			gcCPU := []runtimemetrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
			var cpu float64
			var ms runtime.MemStats
			for b.Loop() {
				b.StopTimer()
				// The garbage is made with the collector off, so that no collection it starts
				// is still running when the release begins.
				gcPercent := debug.SetGCPercent(-1)
				garbage = make([][]byte, 0, 32*n)
				for range 32 * n {
					garbage = append(garbage, make([]byte, 128))
				}
				garbage = nil
				debug.SetGCPercent(gcPercent)
				runtimemetrics.Read(gcCPU)
				before := gcCPU[0].Value.Float64()
				b.StartTimer()
				debug.FreeOSMemory()
				b.StopTimer()
				runtimemetrics.Read(gcCPU)
				cpu += gcCPU[0].Value.Float64() - before
				b.StartTimer()
			}
			runtime.ReadMemStats(&ms)
			b.ReportMetric(cpu*1000/float64(b.N), "gc-cpu-ms/op")
			b.ReportMetric(float64(ms.PauseNs[(ms.NumGC+255)%256])/1000, "pause-µs")
			b.ReportMetric(float64(ms.HeapAlloc)/float64(n), "live-B/conn")
			s.writers.stop() // the server and its connections can then be collected
		})
	}
}
