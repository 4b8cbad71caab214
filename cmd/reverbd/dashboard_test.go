package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/registry/redistest"
)

// dashboardFile is the Grafana dashboard shipped in deployment/.
const dashboardFile = "../../deployment/grafana/reverbd.json"

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int     `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"` // a collapsed row's
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// queries returns every panel's queries, keyed by "panel title #n", rows' panels included.
func (d *dashboard) queries(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("panel %q: no query on the ${datasource} variable", p.Title)
			}
			for i, target := range p.Targets {
				exprs[fmt.Sprintf("%s #%d", p.Title, i+1)] = target.Expr
			}
		}
	}
	walk(d.Panels)
	return exprs
}

// dashboardVariables are the values the test gives the dashboard's variables: the default
// prefix, every app, and a rate window of ten scrapes.
var dashboardVariables = strings.NewReplacer(
	"${prefix}", "reverbd_",
	"$app_id", ".*",
	"$__rate_interval", "10s",
)

// loadMoves are queries besides the dashboard's that return data only once the load has moved
// a family whose series exist at 0 from the start, which the dashboard's rates read as data
// without any load: a webhook POST tried again after the receiver's 503.
var loadMoves = []string{"${prefix}webhook_retries_total > 0"}

// Every query of the Grafana dashboard returns data from a real Prometheus (Debian's
// package) scraping a loaded reverbd node of a cluster through its admin listener; the node
// POSTs its webhooks to a receiver that fails some, and has a channel catalogue in warn mode.
func TestGrafanaDashboardQueriesReturnData(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (.ci/run installs Debian's package)")
		}
		t.Skip("prometheus is not installed: apt-get install prometheus")
	}
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard has no uid or title")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, name := range []string{"datasource", "prefix", "app_id"} {
		if !vars[name] {
			t.Errorf("the dashboard has no %s variable", name)
		}
	}
	exprs := d.queries(t)
	for i, q := range loadMoves {
		exprs[fmt.Sprintf("the load's query #%d", i+1)] = q
	}

	env := append(clusterEnv(t, redistest.URL(t)), metricsEnv...)
	env = append(env, "REVERB_APP_MAX_SUBSCRIPTIONS=2",
		"REVERB_APP_WEBHOOK_URL="+flakyWebhookReceiver(t),
		"REVERB_CHANNELS_FILE="+writeLoadCatalogue(t), "REVERB_CHANNELS_MODE=warn")
	p := startProcess(t, env...)
	loadNode(t, p)
	prom := startPrometheus(t, promBin, p.adminAddr)

	pending := exprs
	deadline := time.Now().Add(90 * time.Second)
	for {
		next := map[string]string{}
		for name, expr := range pending {
			q := dashboardVariables.Replace(expr)
			if n, err := prom.query(q); err != nil || n == 0 {
				next[name] = fmt.Sprintf("%s: %d series, %v", q, n, err)
			}
		}
		if len(next) == 0 {
			t.Logf("all %d queries of the dashboard and the load returned data", len(exprs))
			return
		}
		if time.Now().After(deadline) {
			for name, why := range next {
				t.Errorf("%s returns no data: %s", name, why)
			}
			return
		}
		pending = map[string]string{}
		for name := range next {
			pending[name] = exprs[name]
		}
		time.Sleep(time.Second)
	}
}

// loadCatalogue is the channel catalogue of the loaded node: every channel loadNode uses but
// the one it subscribes to outside it.
const loadCatalogue = `
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: room, pattern: "room.{id}", kind: presence}
- {name: orders, pattern: "orders-{id}", kind: public}
`

// writeLoadCatalogue writes loadCatalogue in a temporary directory and returns its path.
func writeLoadCatalogue(t *testing.T) string {
	t.Helper()
	return catalogueFile(t, "channels.yaml", loadCatalogue)
}

// flakyWebhookReceiver serves webhook POSTs until the test ends and returns its URL. By
// X-Reverbd-Webhook-Id, the first POST it sees fails with a 503 and is accepted when tried
// again, the second is refused for good with a 410 (so it is dropped), and every other is
// accepted.
func flakyWebhookReceiver(t *testing.T) string {
	t.Helper()
	var mu sync.Mutex
	tries := map[string]int{}
	seen := map[string]int{} // the order in which each POST was first seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("X-Reverbd-Webhook-Id")
		mu.Lock()
		if _, ok := seen[id]; !ok {
			seen[id] = len(seen)
		}
		order, try := seen[id], tries[id]
		tries[id]++
		mu.Unlock()
		switch {
		case order == 0 && try == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case order == 1:
			w.WriteHeader(http.StatusGone)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/pusher/webhook"
}

// loadNode drives traffic through p until the test ends: subscribers on a private channel and
// a presence channel, a trigger and a client ping every 100 ms, a client event (sent on as a
// client_event webhook) every 200 ms, a connection opened and closed every 500 ms, and once
// each a refused subscription signature, a subscription past max_subscriptions and a
// subscription outside the channel catalogue.
func loadNode(t *testing.T, p *process) {
	t.Helper()
	a, b, member, limited := p.dial(t), p.dial(t), p.dial(t), p.dial(t)
	a.subscribe("private-tenant.42.admins")
	a.subscribe("private-tenant.42.admin") // outside the catalogue: allowed in warn mode
	b.subscribe("private-tenant.42.admins")
	member.join("presence-room.7", "u1")
	limited.subscribe("orders-1")
	limited.subscribe("orders-2")
	limited.send(`{"event":"pusher:subscribe","data":{"channel":"orders-3"}}`)
	limited.expect("pusher:subscription_error")
	limited.send(`{"event":"pusher:subscribe","data":{"channel":"private-tenant.9.admins","auth":"` + e2eKey + `:bad"}}`)
	limited.expect("pusher:subscription_error")
	for _, c := range []*wsClient{a, b, member, limited} {
		go func() { _, _ = io.Copy(io.Discard, c.r) }() // ends when the connection closes
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	sdk := p.sdk(t)
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_ = sdk.Trigger("private-tenant.42.admins", "order.paid", fmt.Sprintf(`{"n":%d}`, n))
			a.send(`{"event":"pusher:ping","data":{}}`)
			if n%2 == 0 {
				a.send(`{"event":"client-typing","channel":"private-tenant.42.admins","data":{}}`)
			}
			if n%5 == 0 {
				conn, _, _, err := ws.Dial(ctx, "ws://"+p.addr+"/app/"+e2eKey+"?protocol=7")
				if err == nil {
					conn.Close()
				}
			}
		}
	})
}

// promServer is a Prometheus started by a test.
type promServer struct{ addr string }

// startPrometheus runs Prometheus with a scrape interval of 1 s on target (the admin
// listener, with its basic auth) until the test ends.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reverbd
    metrics_path: /metrics
    basic_auth:
      username: %s
      password: %s
    static_configs:
      - targets: [%q]
`, adminUser, adminPassword, target)
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(bin, "--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	prom := &promServer{addr: addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not get ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The target must be scraped successfully: `up` is 1.
	deadline = time.Now().Add(30 * time.Second)
	for {
		if n, _ := prom.query(`up{job="reverbd"} == 1`); n == 1 {
			return prom
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never scraped reverbd's /metrics\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// query runs an instant query and returns the number of series it returned with a value
// that is a number (NaN, as histogram_quantile gives without observations, is no data).
func (p *promServer) query(q string) (int, error) {
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", r.Error)
	}
	if r.Data.ResultType != "vector" {
		return 0, fmt.Errorf("result type %s, want vector", r.Data.ResultType)
	}
	var series []struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result, &series); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range series {
		if v, ok := s.Value[1].(string); ok && v != "NaN" {
			n++
		}
	}
	return n, nil
}
