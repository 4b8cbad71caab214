package api_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// The well-known example credentials of Pusher's documentation.
const (
	appID     = "3"
	appKey    = "278d425bdf160c739803"
	appSecret = "7ad3773142a6692b25b8"

	// vectorTime is the auth_timestamp of the signature vectors.
	vectorTime = 1353088179
)

// waitLimit exists only to fail a test that would otherwise hang.
const waitLimit = 10 * time.Second

// recorder is the jobs.Deliverer of the tests: it records every delivered event in order.
type recorder struct{ events chan registry.Event }

func (r *recorder) Deliver(_ context.Context, ev registry.Event) { r.events <- ev }

// next returns the next delivered event.
func (r *recorder) next(t *testing.T) registry.Event {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(waitLimit):
		t.Fatal("no event delivered")
		return registry.Event{}
	}
}

// terminator records TerminateUser calls.
type terminator struct {
	mu    sync.Mutex
	calls []string // "appID/userID"
}

func (t *terminator) TerminateUser(_ context.Context, appID, userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, appID+"/"+userID)
	return nil
}

func (t *terminator) got() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// logBuffer collects the API's log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns the lines written since the last take.
func (b *logBuffer) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimRight(b.buf.String(), "\n")
	b.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// options configures newEnv.
type options struct {
	prefix     string        // REVERB_SERVER_PATH; the API is mounted under it
	fixedNow   bool          // the clock stands at vectorTime instead of time.Now
	skew       time.Duration // the clock runs this far ahead of time.Now (unless fixedNow)
	maxRequest int64         // MaxRequestSize (REVERB_MAX_REQUEST_SIZE); 0 leaves it unset
	queue      api.Enqueuer  // nil: a running MemoryQueue that delivers to rec
	ready      func() bool
	draining   func() bool
	noTerm     bool // no Terminator
	// channels and channelsMode are the catalogue of app 3 and its mode; metrics, when set,
	// counts.
	channels     *catalogue.Catalogue
	channelsMode string
	metrics      *metrics.Metrics
	// params, when set, changes the Params before api.New (the limits, say).
	params func(*api.Params)
}

// env is one API served by an httptest.Server, with real occupancy, cache and queue.
type env struct {
	srv    *httptest.Server
	prefix string
	now    func() time.Time
	occ    *registry.MemoryOccupancy
	cache  *registry.MemoryCache
	rec    *recorder
	term   *terminator
	logs   *logBuffer
}

func newEnv(t *testing.T, o options) *env {
	t.Helper()
	e := &env{
		prefix: o.prefix,
		now:    time.Now,
		occ:    registry.NewMemoryOccupancy(),
		cache:  registry.NewMemoryCache(),
		rec:    &recorder{events: make(chan registry.Event, 64)},
		term:   &terminator{},
		logs:   &logBuffer{},
	}
	if o.fixedNow {
		e.now = func() time.Time { return time.Unix(vectorTime, 0) }
	} else if o.skew != 0 {
		e.now = func() time.Time { return time.Now().Add(o.skew) }
	}
	queue := o.queue
	if queue == nil {
		worker := jobs.NewWorker(jobs.WorkerParams{
			Deliverer: e.rec,
			Cache:     e.cache,
			CacheTTL:  time.Hour,
			Rules:     jobs.Rules{Timeout: 30 * time.Second, Deadline: time.Minute},
			Now:       e.now,
		})
		q := jobs.NewMemoryQueue(worker, 1, 64)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = q.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		queue = q
	}
	p := api.Params{
		Apps: registry.NewApps([]config.App{
			{ID: appID, Key: appKey, Secret: appSecret, Channels: o.channels, ChannelsMode: o.channelsMode},
			{ID: "4", Key: "other-key", Secret: "other-secret"},
		}),
		Queue:          queue,
		Occupancy:      e.occ,
		Cache:          e.cache,
		Terminator:     e.term,
		PathPrefix:     o.prefix,
		MaxRequestSize: o.maxRequest,
		Ready:          o.ready,
		Draining:       o.draining,
		Log:            slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            e.now,
		Metrics:        o.metrics,
	}
	if o.noTerm {
		p.Terminator = nil
	}
	if o.params != nil {
		o.params(&p)
	}
	a := api.New(p)
	r := chi.NewRouter()
	r.Use(middleware.Recoverer) // as cmd/reverbd mounts it
	r.NotFound(a.NotFound)
	r.MethodNotAllowed(a.MethodNotAllowed)
	if o.prefix == "" {
		a.Routes(r)
	} else {
		r.Route(o.prefix, a.Routes)
	}
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

// client returns a pusher-http-go client for the env. Like SDK-php, it signs /apps/… and
// sends the request under the prefix.
func (e *env) client() *pusher.Client {
	u, _ := url.Parse(e.srv.URL)
	return &pusher.Client{
		AppID:  appID,
		Key:    appKey,
		Secret: appSecret,
		Host:   u.Host,
		HTTPClient: &http.Client{
			Timeout:   waitLimit,
			Transport: prefixTransport{prefix: e.prefix, base: e.srv.Client().Transport},
		},
	}
}

type prefixTransport struct {
	prefix string
	base   http.RoundTripper
}

func (p prefixTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Path = p.prefix + req.URL.Path
	if req.URL.RawPath != "" {
		req.URL.RawPath = p.prefix + req.URL.RawPath
	}
	return p.base.RoundTrip(req)
}

// subscribe records socket on channel; for presence channels userID makes it a member.
func (e *env) subscribe(t *testing.T, channel, socket, userID string) {
	t.Helper()
	var m *registry.Member
	if userID != "" {
		m = &registry.Member{UserID: userID, RawID: []byte(strconv.Quote(userID))}
	}
	if _, err := e.occ.Subscribe(context.Background(), appID, channel, socket, m, 0); err != nil {
		t.Fatal(err)
	}
}

// sig describes how a hand-built request is signed; zero fields take the correct values.
type sig struct {
	key      string // auth_key; default appKey
	secret   string // default appSecret
	version  string // auth_version; default 1.0
	ts       string // auth_timestamp; default the env's now
	md5      string // body_md5 sent and signed; default md5 of the body when there is one
	noMD5    bool   // send and sign no body_md5
	signPath string // the path signed; default the request path without the prefix
}

// signQuery returns the query of a request to path (without the prefix) with params, signed
// as Pusher's HTTP API reference describes: over the percent-decoded path.
func (e *env) signQuery(method, path string, params map[string]string, body string, s sig) url.Values {
	decoded, err := url.PathUnescape(path)
	if err != nil {
		panic(err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	q.Set("auth_key", cmp.Or(s.key, appKey))
	q.Set("auth_version", cmp.Or(s.version, "1.0"))
	q.Set("auth_timestamp", cmp.Or(s.ts, strconv.FormatInt(e.now().Unix(), 10)))
	if !s.noMD5 && (body != "" || s.md5 != "") {
		q.Set("body_md5", cmp.Or(s.md5, md5Hex(body)))
	}
	q.Set("auth_signature", sign(cmp.Or(s.secret, appSecret), method, cmp.Or(s.signPath, decoded), q))
	return q
}

// sign is the SDKs' algorithm: every parameter but auth_signature, sorted, k=v joined by &.
func sign(secret, method, path string, q url.Values) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if k != "auth_signature" {
			parts = append(parts, k+"="+strings.Join(q[k], ","))
		}
	}
	return registry.Sign(secret, method+"\n"+path+"\n"+strings.Join(parts, "&"))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// response is what a hand-built request got back.
type response struct {
	status      int
	body        string
	contentType string
	allow       string // the Allow header
}

// do sends method to path (without the prefix) with rawQuery and body.
func (e *env) do(t *testing.T, method, path, rawQuery, body string) response {
	t.Helper()
	u := e.srv.URL + e.prefix + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, res)
}

// readResponse reads and closes res's body and returns what the tests look at.
func readResponse(t *testing.T, res *http.Response) response {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, body: string(b), contentType: res.Header.Get("Content-Type"), allow: res.Header.Get("Allow")}
}

// call signs and sends a request with correct credentials.
func (e *env) call(t *testing.T, method, path string, params map[string]string, body string) response {
	t.Helper()
	return e.do(t, method, path, e.signQuery(method, path, params, body, sig{}).Encode(), body)
}

// want fails unless res has status and exactly body, as JSON.
func want(t *testing.T, res response, status int, body string) {
	t.Helper()
	if res.status != status || res.body != body {
		t.Fatalf("got %d %s, want %d %s", res.status, res.body, status, body)
	}
	if res.contentType != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", res.contentType)
	}
}

// wantEvent fails unless got has exactly the fields of want that a trigger sets.
func wantEvent(t *testing.T, got, want registry.Event) {
	t.Helper()
	if got.AppID != want.AppID || got.Name != want.Name || got.Data != want.Data ||
		got.SocketID != want.SocketID || !slices.Equal(got.Channels, want.Channels) {
		t.Fatalf("delivered %+v, want %+v", got, want)
	}
	if got.QueuedAt.IsZero() {
		t.Fatalf("delivered event has no QueuedAt")
	}
}
