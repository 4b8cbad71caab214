package main

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/registry/metrics/live"
)

// adminPath is where asynq's web UI is mounted on the admin listener.
const adminPath = "/asynq"

// newAdminServer is the admin listener's server (see newAdminHandler) of `reverbd start` and
// `reverbd worker`; the returned close function releases the web UI's Redis connections.
func newAdminServer(cfg *config.Config, m *metrics.Metrics, occupancy live.Occupancy) (*http.Server, func() error, error) {
	h, closeUI, err := newAdminHandler(cfg, m, occupancy)
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, closeUI, nil
}

// newAdminHandler is the admin listener's router: asynq's web UI under /asynq (with the redis
// queue), net/http/pprof under /debug/pprof and, when m is not nil, the Prometheus metrics at
// /metrics and the live page at / (its JSON at /stats.json, its files under /live/; presence
// channel sizes from occupancy), always behind basic auth. The web UI shows
// every queued payload and can delete tasks, so without both credentials every request is
// refused (config.Validate already stops start-up then). It is never mounted on the public
// listener. The returned close function releases the web UI's Redis connections.
func newAdminHandler(cfg *config.Config, m *metrics.Metrics, occupancy live.Occupancy) (http.Handler, func() error, error) {
	r := chi.NewRouter()
	r.Use(basicAuth(cfg.AdminUsername, cfg.AdminPassword))
	r.HandleFunc("/debug/pprof/*", pprof.Index)
	r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/debug/pprof/profile", pprof.Profile)
	r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	links := []live.Link{}
	if m != nil {
		r.Method(http.MethodGet, "/metrics", m.Handler())
		links = append(links, live.Link{Name: "Prometheus metrics", Href: "metrics"})
	}
	if cfg.QueueConnection == "redis" {
		links = append(links, live.Link{Name: "Queue (asynq)", Href: adminPath[1:]})
	}
	links = append(links, live.Link{Name: "pprof", Href: "debug/pprof/"})
	if m != nil {
		page := live.New(live.Params{Metrics: m, Occupancy: occupancy, Links: links})
		r.Method(http.MethodGet, "/", page)
		r.Method(http.MethodGet, "/stats.json", page)
		r.Method(http.MethodGet, "/live/{file}", page)
	} else {
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the live page shows the metrics, which are off (REVERB_METRICS_ENABLED=false)", http.StatusNotFound)
		})
	}
	closeUI := func() error { return nil }
	if cfg.QueueConnection == "redis" {
		opt, err := cfg.RedisUniversalOptions()
		if err != nil {
			return nil, nil, err
		}
		ui := asynqmon.New(asynqmon.Options{RootPath: adminPath, RedisConnOpt: asynqConnOpt(opt)})
		r.Mount(adminPath, ui)
		closeUI = ui.Close
	}
	return r, closeUI, nil
}

// basicAuth requires the given credentials, compared in constant time; with an empty user
// or password nothing matches.
func basicAuth(user, password string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || user == "" || password == "" || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="reverbd admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// asynqConnOpt is the connection option asynqmon opens its own connections with. It builds
// the client the rest of the process uses, from the same options: asynq's own option types
// leave out the context deadlines and, for a cluster, the pool size.
func asynqConnOpt(opt *redis.UniversalOptions) asynq.RedisConnOpt { return universalConnOpt{opt} }

// universalConnOpt is an asynq.RedisConnOpt of go-redis's universal client.
type universalConnOpt struct{ opt *redis.UniversalOptions }

// MakeRedisClient implements asynq.RedisConnOpt: a new redis.UniversalClient on each call.
func (o universalConnOpt) MakeRedisClient() any { return redis.NewUniversalClient(o.opt) }
