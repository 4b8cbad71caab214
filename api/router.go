package api

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/go-chi/chi/v5"
)

// Routes registers GET /up and the /apps/{app_id}/... routes on r, which is already under
// the path prefix. Unknown paths under /apps answer 404 and wrong methods 405, both as JSON
// and before any signature check. A panic in any of them is answered 500 (see recoverer).
func (a *API) Routes(r chi.Router) {
	r.With(a.recoverer).Get("/up", a.up)
	r.Route("/apps/{app_id}", func(r chi.Router) {
		r.Use(a.observe, a.recoverer)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			a.reject(w, r, http.StatusNotFound, "not found")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			setAllow(w, r)
			a.reject(w, r, http.StatusMethodNotAllowed, "method not allowed")
		})
		r.Group(func(r chi.Router) {
			r.Use(a.verify)
			r.Post("/events", a.events)
			r.Post("/batch_events", a.batchEvents)
			r.Get("/channels", a.channels)
			r.Get("/channels/{channel_name}", a.channel)
			r.Get("/channels/{channel_name}/users", a.users)
			r.Post("/users/{user_id}/terminate_connections", a.terminate)
			r.Get("/connections", a.connections)
		})
	})
}

// NotFound answers a request no route serves with 404 and the JSON error body. Set it and
// MethodNotAllowed on the root router (cmd/reverbd does), so that the public port answers
// every HTTP error in one shape; the routes under /apps have their own. Both log at Debug:
// anyone may probe paths.
func (a *API) NotFound(w http.ResponseWriter, r *http.Request) {
	a.rejectQuietly(w, r, http.StatusNotFound, "not found")
}

// MethodNotAllowed answers a known path asked with another method with 405 and the JSON
// error body; see NotFound.
func (a *API) MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	setAllow(w, r)
	a.rejectQuietly(w, r, http.StatusMethodNotAllowed, "method not allowed")
}

// routeMethods are the methods setAllow tries.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// setAllow sets the Allow header of a 405 to the methods the router serves r's path with, as
// RFC 9110, section 15.5.6 requires (chi sets it only in its own 405 handler).
func setAllow(w http.ResponseWriter, r *http.Request) {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range routeMethods {
		if rctx.Routes.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
}

// pathParam returns the decoded value of a route parameter. chi matches on r.URL.RawPath
// when the client escaped characters Go would not have (e.g. %40 for @), and its parameters
// are then still escaped (chi routes on r.URL.RawPath when it is set); otherwise they come from the decoded r.URL.Path.
func pathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	return url.PathUnescape(v)
}

// recoverer contains a panic of a handler: the request is answered 500 with the JSON error
// body (handlers write their answer last, so nothing was written yet), the panic is logged
// once at Error with its stack, and other requests go on. A panic
// with http.ErrAbortHandler is passed on: net/http uses it to abort a response on purpose.
// (chi's middleware.Recoverer answers an empty 500 and prints to stderr instead.)
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.ErrorContext(r.Context(), "request panicked", "app_id", chi.URLParam(r, "app_id"),
				"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}
