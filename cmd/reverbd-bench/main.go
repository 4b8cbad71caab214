// Command reverbd-bench is a load generator for reverbd, or any Pusher Channels protocol
// server. It opens N WebSocket clients (spread over several loopback source addresses, so N
// is not capped by one address's ephemeral ports), subscribes them to public, private or
// presence channels (signing the channel auth itself), publishes M events through the signed
// HTTP API at a fixed rate or as fast as the API takes them, and reports connect and
// subscribe times, deliveries per second, trigger→delivery latency percentiles, lost,
// duplicated and reordered deliveries, the server's RSS (idle, after the run, per
// connection) and the CPU share of the tool and of the server: a human table, then one JSON
// line. With --storm it replays a deploy's reconnect storm instead: N clients dial at once
// and each subscribes to two private channels and one presence channel. With --drain it
// measures a node's drain: the clients of the node at --url move, as they are closed, to the
// node at --failover-url, and the report is their reconnect curve. See README.md for the
// scenarios it is meant for.
//
//	reverbd-bench [--url ws://127.0.0.1:8080] [--conns N] [--channel NAME] [--events M] [--rate R] …
//	reverbd-bench --storm [--conns N] [--tenant-size 50] [--server-pid PID]
//	reverbd-bench --drain --url ws://A --failover-url ws://B --server-pid PID-OF-A [--conns N]
//	reverbd-bench --serve-bare ADDR
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reverbd/reverbd/cmd/reverbd-bench/internal/bare"
)

// options are the command-line flags.
type options struct {
	url, httpURL             string
	appID, key, secret       string
	conns                    int
	channel                  string
	channels                 int
	events                   int
	rate                     float64
	publishers               int
	batch                    int
	payload                  int
	serverPID                int
	sourceIPs                string
	connectRate              float64
	dialers                  int
	dialTimeout              time.Duration
	warmup, timeout, hold    time.Duration
	slow, slowRcvbuf         int
	slowDrain                time.Duration
	jsonOnly, idle, progress bool
	cpuProfile               string
	storm                    bool
	drain                    bool
	failoverURL              string
	tenantSize               int
	settle                   time.Duration
	presenceDetail           int
	serveBare                string
	caFile                   string
	tls                      *tls.Config // trusts --ca; nil: the system's roots
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "reverbd-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.serveBare != "" {
		return serveBare(ctx, o, stderr)
	}
	// The heap is mostly long-lived read buffers; collect less often.
	debug.SetGCPercent(400)

	var runBench func(context.Context) reporter
	if o.drain {
		var d *drain
		d, err = newDrain(o, stderr)
		runBench = func(ctx context.Context) reporter { return d.run(ctx) }
	} else if o.storm {
		var s *storm
		s, err = newStorm(o, stderr)
		runBench = func(ctx context.Context) reporter { return s.run(ctx) }
	} else {
		var b *bench
		b, err = newBench(o, stderr)
		runBench = func(ctx context.Context) reporter { return b.run(ctx) }
	}
	if err != nil {
		fmt.Fprintln(stderr, "reverbd-bench:", err)
		return 2
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "reverbd-bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "reverbd-bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	rep := runBench(ctx)
	if !o.jsonOnly {
		rep.writeTable(stdout)
	}
	if err := rep.writeJSON(stdout); err != nil {
		fmt.Fprintln(stderr, "reverbd-bench:", err)
		return 1
	}
	return 0
}

// reporter is the result of a run: a table for people, one JSON line for scripts.
type reporter interface {
	writeTable(io.Writer)
	writeJSON(io.Writer) error
}

// parseFlags parses and checks the flags.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("reverbd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080", "WebSocket base URL of the server, with its path prefix if any")
	fs.StringVar(&o.httpURL, "http", "", "HTTP API base URL (default: --url with http/https and the same host and prefix)")
	fs.StringVar(&o.appID, "app-id", os.Getenv("REVERB_APP_ID"), "app id (REVERB_APP_ID)")
	fs.StringVar(&o.key, "key", os.Getenv("REVERB_APP_KEY"), "app key (REVERB_APP_KEY)")
	fs.StringVar(&o.secret, "secret", os.Getenv("REVERB_APP_SECRET"), "app secret (REVERB_APP_SECRET)")
	fs.IntVar(&o.conns, "conns", 1000, "WebSocket connections to open")
	fs.StringVar(&o.channel, "channel", "bench", "channel name; private-* and presence-* are signed locally, presence user ids are unique per connection")
	fs.IntVar(&o.channels, "channels", 1, "spread the connections over this many channels NAME-0 … NAME-(K-1) (1 = just NAME)")
	fs.IntVar(&o.events, "events", 100, "events to publish")
	fs.Float64Var(&o.rate, "rate", 0, "events per second (0 = as fast as the API takes them)")
	fs.IntVar(&o.publishers, "publishers", 4, "concurrent HTTP publishers")
	fs.IntVar(&o.batch, "batch", 1, "events per request; > 1 uses /batch_events (at most 10)")
	fs.IntVar(&o.payload, "payload", 100, "size of each event's data in bytes (at least the ~45 bytes of sequence and timestamp)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "server PID, for its RSS and CPU from /proc")
	fs.StringVar(&o.sourceIPs, "source-ips", "127.0.0.1-127.0.0.16", "local addresses to dial from, round-robin: comma list of IPs and ranges A.B.C.D-A.B.C.E or A.B.C.D-E; empty = let the kernel choose")
	fs.Float64Var(&o.connectRate, "connect-rate", 0, "new connections per second (0 = as fast as --dialers allow)")
	fs.IntVar(&o.dialers, "dialers", 32, "concurrent connection attempts")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "timeout of one TCP connect + WebSocket handshake")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "pause after everyone subscribed, before the idle RSS sample and publishing")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for subscriptions to finish, and for outstanding deliveries after the last publish")
	fs.IntVar(&o.slow, "slow", 0, "this many of the connections stop reading after subscribing (slow consumers)")
	fs.IntVar(&o.slowRcvbuf, "slow-rcvbuf", 16384, "SO_RCVBUF of slow connections in bytes, so the kernel does not absorb megabytes for them (0 = kernel default, autotuned up to net.ipv4.tcp_rmem max)")
	fs.DurationVar(&o.slowDrain, "slow-drain", 3*time.Second, "after the run, how long slow connections read what is left to learn whether the server closed them")
	fs.BoolVar(&o.jsonOnly, "json-only", false, "print only the JSON line")
	fs.BoolVar(&o.idle, "idle", false, "only connect and subscribe, measure RSS and hold the connections for --hold")
	fs.DurationVar(&o.hold, "hold", 10*time.Second, "with --idle, how long to hold the connections")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to this file")
	fs.BoolVar(&o.progress, "progress", true, "print progress to stderr (off with --json-only)")
	fs.BoolVar(&o.storm, "storm", false, "reconnect storm: dial all --conns clients at once, each subscribes to private-tenant.{t}, private-user.{i} and presence-tenant.{t} (t = i / --tenant-size)")
	fs.IntVar(&o.tenantSize, "tenant-size", 50, "with --storm or --drain, users per tenant")
	fs.BoolVar(&o.drain, "drain", false, "drain: --conns clients subscribe on --url as --storm's do; the tool sends SIGTERM to --server-pid (that node) and each client it closes with 4200 reconnects at once to --failover-url; reports the reconnect curve per 100 ms")
	fs.StringVar(&o.failoverURL, "failover-url", "", "with --drain, the WebSocket base URL of the node the clients reconnect to")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "with --storm, how long after the storm the settled RSS is sampled")
	fs.IntVar(&o.presenceDetail, "presence-detail", 0, "with --storm, describe in the JSON up to N clients whose presence views end wrong (missing or extra user ids, a member_added of a user shown, a member_removed of one not shown)")
	fs.StringVar(&o.caFile, "ca", "", "PEM certificates to trust for wss:// and https:// besides the system's, e.g. the REVERB_SERVER_TLS_CERT of a self-signed server")
	fs.StringVar(&o.serveBare, "serve-bare", "", "serve the bare baseline server on this address (e.g. 127.0.0.1:18090) instead of running a benchmark; see README.md")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: reverbd-bench [flags]   (see cmd/reverbd-bench/README.md)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	dialersSet := false
	fs.Visit(func(f *flag.Flag) { dialersSet = dialersSet || f.Name == "dialers" })
	if o.storm && !dialersSet {
		o.dialers = o.conns // a storm dials everyone at once
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.jsonOnly {
		o.progress = false
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", o.caFile)
		}
		o.tls = &tls.Config{RootCAs: pool}
	}
	if o.httpURL == "" {
		h, err := deriveHTTP(o.url)
		if err != nil {
			return nil, err
		}
		o.httpURL = h
	}
	switch {
	case o.serveBare != "":
		return o, nil
	case o.key == "":
		return nil, errors.New("--key (or REVERB_APP_KEY) is required")
	case o.conns < 1:
		return nil, errors.New("--conns must be at least 1")
	case o.channels < 1 || o.channels > o.conns:
		return nil, errors.New("--channels must be between 1 and --conns")
	case !validChannel(o.channel):
		return nil, fmt.Errorf("--channel %q: use letters, digits and -_=@,.;", o.channel)
	case o.events < 0 || o.payload < 0 || o.rate < 0 || o.connectRate < 0:
		return nil, errors.New("--events, --payload, --rate and --connect-rate must not be negative")
	case o.publishers < 1 || o.dialers < 1:
		return nil, errors.New("--publishers and --dialers must be at least 1")
	case o.batch < 1 || o.batch > 10:
		return nil, errors.New("--batch must be between 1 and 10")
	case o.slow < 0 || o.slow >= o.conns && !o.idle:
		return nil, errors.New("--slow must be between 0 and --conns-1")
	case !o.idle && o.events > 0 && (o.appID == "" || o.secret == ""):
		return nil, errors.New("--app-id and --secret (or REVERB_APP_ID/REVERB_APP_SECRET) are required to publish")
	case o.storm && (o.idle || o.slow > 0):
		return nil, errors.New("--storm does not go with --idle or --slow")
	case o.storm && (o.tenantSize < 1 || o.secret == ""):
		return nil, errors.New("--storm needs --tenant-size of at least 1 and --secret (or REVERB_APP_SECRET) to sign its subscriptions")
	case o.drain && (o.storm || o.idle || o.slow > 0):
		return nil, errors.New("--drain does not go with --storm, --idle or --slow")
	case o.drain && (o.failoverURL == "" || o.serverPID <= 0 || o.tenantSize < 1 || o.secret == ""):
		return nil, errors.New("--drain needs --failover-url, --server-pid (the node to drain), --tenant-size of at least 1 and --secret (or REVERB_APP_SECRET)")
	case o.storm && o.settle < 0:
		return nil, errors.New("--settle must not be negative")
	case channelKind(o.channel) != "public" && o.secret == "":
		return nil, errors.New("--secret (or REVERB_APP_SECRET) is required to sign private and presence subscriptions")
	}
	return o, nil
}

// deriveHTTP turns the WebSocket base URL into the HTTP API base URL.
func deriveHTTP(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("--url: scheme %q is not ws or wss", u.Scheme)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// validChannel reports whether name uses only the characters Pusher allows.
func validChannel(name string) bool {
	if name == "" || len(name) > 190 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_=@,.;", c) >= 0) {
			return false
		}
	}
	return true
}

// channelKind is "presence", "private" or "public", by prefix.
func channelKind(name string) string {
	switch {
	case strings.HasPrefix(name, "presence-"):
		return "presence"
	case strings.HasPrefix(name, "private-"):
		return "private"
	}
	return "public"
}

// parseSourceIPs parses --source-ips: a comma list of IPs and IPv4 ranges
// "A.B.C.D-A.B.C.E" or "A.B.C.D-E" (the last octet varies).
func parseSourceIPs(s string) ([]net.IP, error) {
	var ips []net.IP
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		first := net.ParseIP(from).To4()
		if !isRange {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("--source-ips: bad address %q", part)
			}
			ips = append(ips, ip)
			continue
		}
		if first == nil {
			return nil, fmt.Errorf("--source-ips: bad range %q", part)
		}
		last := -1
		if n, err := strconv.Atoi(to); err == nil {
			last = n
		} else if ip := net.ParseIP(to).To4(); ip != nil && ip[0] == first[0] && ip[1] == first[1] && ip[2] == first[2] {
			last = int(ip[3])
		}
		if last < int(first[3]) || last > 255 {
			return nil, fmt.Errorf("--source-ips: bad range %q (only the last octet may vary)", part)
		}
		for o := int(first[3]); o <= last; o++ {
			ips = append(ips, net.IPv4(first[0], first[1], first[2], byte(o)))
		}
	}
	return ips, nil
}

// serveBare runs the bare baseline server (package bare) on --serve-bare until SIGINT or
// SIGTERM.
func serveBare(ctx context.Context, o *options, stderr io.Writer) int {
	if _, err := raiseNofile(); err != nil {
		fmt.Fprintln(stderr, "reverbd-bench: cannot raise the open-file limit:", err)
	}
	ln, err := net.Listen("tcp", o.serveBare)
	if err != nil {
		fmt.Fprintln(stderr, "reverbd-bench:", err)
		return 1
	}
	fmt.Fprintf(stderr, "reverbd-bench: bare baseline server on %s (pid %d); it checks no signature and keeps no presence\n", ln.Addr(), os.Getpid())
	if err := bare.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "reverbd-bench:", err)
		return 1
	}
	return 0
}
