package live

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/reverbd/reverbd/registry/metrics"
)

//go:embed page
var files embed.FS

// assets are the page's files served under /live/, with their content types.
var assets = map[string]string{
	"live.css": "text/css; charset=utf-8",
	"live.js":  "text/javascript; charset=utf-8",
	"icon.svg": "image/svg+xml",
}

// policy keeps the page to its own files and its own origin: no other host is ever asked.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Link is another page of the admin listener that the live page links to; Href is relative
// to the live page (such as "metrics"), so the links work behind a proxy's path prefix too.
type Link struct {
	Name, Href string
}

// Params configures New.
type Params struct {
	// Metrics are the process's metrics; required.
	Metrics *metrics.Metrics
	// Occupancy lists the presence channels; nil leaves them out.
	Occupancy Occupancy
	// Links are shown in the page's header.
	Links []Link
}

// Page serves the live page: GET / (the page), GET /stats.json (what it shows, see Stats)
// and the page's files under /live/. Mount it on those paths behind the admin listener's
// authentication.
type Page struct {
	sampler *sampler
	mux     *http.ServeMux
	index   []byte
}

// New returns the live page of p.Metrics.
func New(p Params) *Page {
	page := &Page{
		sampler: &sampler{metrics: p.Metrics, occupancy: p.Occupancy, now: time.Now},
		mux:     http.NewServeMux(),
	}
	tmpl := template.Must(template.ParseFS(files, "page/index.html"))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		panic(err) // the template is the binary's own: it fails in every test or never
	}
	page.index = b.Bytes()
	page.mux.HandleFunc("GET /{$}", page.serveIndex)
	page.mux.HandleFunc("GET /stats.json", page.serveStats)
	page.mux.HandleFunc("GET /live/{file}", page.serveAsset)
	return page
}

// ServeHTTP implements http.Handler.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	p.mux.ServeHTTP(w, r)
}

func (p *Page) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(p.index)
}

func (p *Page) serveStats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	b, err := p.sampler.statsJSON(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_, _ = w.Write(b)
}

func (p *Page) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	typ, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := files.ReadFile("page/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
