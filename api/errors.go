package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// errorBody is every error answer (Pusher's HTTP API reference, soketi's shape).
type errorBody struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// requestError is a client mistake found while validating: the status and message it is
// answered with.
type requestError struct {
	status int
	msg    string
	// catalogue marks a channel refused by a strict channel catalogue (counted as a limit).
	catalogue bool
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: msg}
}

// writeError answers with status and the JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: status})
}

// writeJSON answers with status and v as JSON. Every success of the API is 200 with a JSON
// body: SDK-php throws on anything else.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only the API's own types get here; this is a bug
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// reject answers a request the API refuses and logs it once: client mistakes at Debug,
// authentication and lookup failures at Info, an unavailable queue at Warn; attrs go to the
// log line only. The log never holds the query (it carries the signature) or the body.
func (a *API) reject(w http.ResponseWriter, r *http.Request, status int, msg string, attrs ...any) {
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status == http.StatusUnauthorized, status == http.StatusNotFound, status == http.StatusRequestEntityTooLarge:
		level = slog.LevelInfo
	}
	attrs = append([]any{"app_id", chi.URLParam(r, "app_id"), "method", r.Method,
		"path", r.URL.Path, "status", status, "reason", msg}, attrs...)
	a.log.Log(r.Context(), level, "request rejected", attrs...)
	writeError(w, status, msg)
}

// rejectQuietly answers like reject, logging at Debug whatever the status.
func (a *API) rejectQuietly(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.log.DebugContext(r.Context(), "request rejected", "method", r.Method, "path", r.URL.Path,
		"status", status, "reason", msg)
	writeError(w, status, msg)
}

// rejectError answers a validation failure.
func (a *API) rejectError(w http.ResponseWriter, r *http.Request, e *requestError) {
	a.reject(w, r, e.status, e.msg)
}

// internalError answers a failure of a backend (occupancy, cache, terminator) with 500 and
// logs it at Error.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, op string, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "app_id", chi.URLParam(r, "app_id"),
		"method", r.Method, "path", r.URL.Path, "op", op, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}
