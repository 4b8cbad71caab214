package api

import (
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// observe counts each request of the /apps routes in the metrics: the call, by its route
// pattern (without the path prefix) and status, and the bytes of its body and answer. The
// app_id label is the app's, or UnknownApp for an id that is not configured.
func (a *API) observe(next http.Handler) http.Handler {
	if a.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil {
			r.Body = body
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := strings.TrimPrefix(chi.RouteContext(r.Context()).RoutePattern(), a.prefix)
		appID, _ := pathParam(r, "app_id")
		a.metrics.App(appID).HTTPCall(route, status, body.n, ww.BytesWritten())
	})
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += n
	return n, err
}
