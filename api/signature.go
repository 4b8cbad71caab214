package api

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// authVersion is the only auth_version the SDKs send.
const authVersion = "1.0"

// verified is what the signature middleware hands to the handlers through the request
// context. It is never modified after verify builds it.
type verified struct {
	app *config.App
	// body is the raw request body, read under the size cap.
	body []byte
	// query is the decoded query: lower-case keys, repeated values joined by ",", as signed.
	query map[string]string
}

type verifiedKey struct{}

// verifiedFrom returns what verify stored for r. Only handlers behind verify call it.
func verifiedFrom(r *http.Request) *verified {
	return r.Context().Value(verifiedKey{}).(*verified)
}

// verify is the middleware of every /apps route (Pusher's HTTP API reference): it finds the app
// (404), reads the body under the size cap (413, see Params.MaxRequestSize), and checks auth_key, auth_version,
// auth_timestamp (unless its window is off), body_md5 and auth_signature (401). The handler then finds the app, raw
// body and decoded query with verifiedFrom.
func (a *API) verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appID, err := pathParam(r, "app_id")
		if err != nil {
			a.reject(w, r, http.StatusNotFound, "unknown app_id")
			return
		}
		app, err := a.apps.ByID(appID)
		if err != nil {
			a.reject(w, r, http.StatusNotFound, "unknown app_id")
			return
		}
		body, err := a.readBody(w, r)
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				a.metrics.App(app.ID).LimitHit(metrics.LimitMaxRequestSize)
				a.reject(w, r, http.StatusRequestEntityTooLarge, a.tooLarge())
				return
			}
			a.reject(w, r, http.StatusBadRequest, "unreadable request body")
			return
		}
		query, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			a.reject(w, r, http.StatusUnauthorized, "malformed query string")
			return
		}
		if msg := a.checkAuth(r, app, query, body); msg != "" {
			a.metrics.App(app.ID).AuthFailed(metrics.AuthHTTP)
			a.reject(w, r, http.StatusUnauthorized, msg)
			return
		}
		ctx := context.WithValue(r.Context(), verifiedKey{}, &verified{app: app, body: body, query: query})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readBody reads r's body under the size cap; past it the error is an *http.MaxBytesError.
// With MaxRequestSize set, the body may take what the request line and headers leave of it.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := a.maxBody
	if a.maxRequest > 0 {
		limit = a.maxRequest - requestHeadSize(r)
		if limit < 0 {
			return nil, &http.MaxBytesError{Limit: a.maxRequest}
		}
	}
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// tooLarge is the error message of a request over the size cap.
func (a *API) tooLarge() string {
	if a.maxRequest > 0 {
		return fmt.Sprintf("request larger than %d bytes, headers included", a.maxRequest)
	}
	return fmt.Sprintf("request body larger than %d bytes", a.maxBody)
}

// requestHeadSize is the size of r before its body as a client sends it, which is what
// Reverb counts against max_request_size together with the body: the request line
// "METHOD target HTTP/1.1\r\n", one "Name: value\r\n" line per header value (Host and
// Transfer-Encoding included, which net/http takes out of r.Header), and the blank line.
func requestHeadSize(r *http.Request) int64 {
	line := func(name, value string) int { return len(name) + len(": ") + len(value) + len("\r\n") }
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + len("\r\n")
	if r.Host != "" {
		n += line("Host", r.Host)
	}
	if len(r.TransferEncoding) > 0 {
		n += line("Transfer-Encoding", strings.Join(r.TransferEncoding, ", "))
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += line(name, v)
		}
	}
	return int64(n + len("\r\n"))
}

// checkAuth returns why the request fails authentication, or "" when it passes.
func (a *API) checkAuth(r *http.Request, app *config.App, query map[string]string, body []byte) string {
	sig, ok := query["auth_signature"]
	if !ok || sig == "" {
		return "missing auth_signature"
	}
	if query["auth_key"] != app.Key {
		return "invalid auth_key"
	}
	if query["auth_version"] != authVersion {
		return "unsupported auth_version"
	}
	if msg := a.checkTimestamp(query["auth_timestamp"]); msg != "" {
		return msg
	}
	bodyMD5 := ""
	if len(body) > 0 {
		sum := md5.Sum(body)
		bodyMD5 = hex.EncodeToString(sum[:])
		if sent, ok := query["body_md5"]; ok && sent != bodyMD5 {
			return "body_md5 does not match the request body"
		}
	}
	// Accept the path without the prefix (what the SDKs sign) and the full path (what a
	// reading of Reverb suggests it signs; laravel/reverb#356).
	method := strings.ToUpper(r.Method)
	full := r.URL.Path
	if path, ok := a.stripPrefix(full); ok &&
		registry.ValidSignature(app.Secret, stringToSign(method, path, query, bodyMD5), sig) {
		return ""
	}
	if registry.ValidSignature(app.Secret, stringToSign(method, full, query, bodyMD5), sig) {
		return ""
	}
	return "invalid signature"
}

// stripPrefix returns path without the path prefix; ok is false when there is no prefix
// or path does not start with it.
func (a *API) stripPrefix(path string) (string, bool) {
	if a.prefix == "" {
		return "", false
	}
	rest, ok := strings.CutPrefix(path, a.prefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}

// checkTimestamp returns why auth_timestamp fails, or "" when it is within the window of now
// or the window is off (Params.TimestampWindow negative: Reverb checks no timestamp).
func (a *API) checkTimestamp(value string) string {
	if a.window == 0 {
		return ""
	}
	ts, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return "invalid auth_timestamp"
	}
	if !a.freshTimestamp(ts) {
		return fmt.Sprintf("auth_timestamp not within %ds of server time", int64(a.window/time.Second))
	}
	return ""
}

// freshTimestamp reports whether sec, in Unix seconds, is within the window of now.
func (a *API) freshTimestamp(sec int64) bool {
	// time.Time.Sub saturates, so no timestamp can overflow the comparison.
	d := time.Unix(a.now().Unix(), 0).Sub(time.Unix(sec, 0))
	return d <= a.window && d >= -a.window
}

// parseQuery decodes a raw query string as the signature covers it: split on "&" only (";" is a
// valid channel-name character), percent-decode keys and values, lower-case the keys, and
// join the values of a repeated key with ",".
func parseQuery(raw string) (map[string]string, error) {
	q := map[string]string{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		key = strings.ToLower(key)
		if prev, ok := q[key]; ok {
			val = prev + "," + val
		}
		q[key] = val
	}
	return q, nil
}

// stringToSign is METHOD\nPATH\nsorted query, without auth_signature and with the client's
// body_md5 replaced by bodyMD5 (the server's, "" for an empty body).
func stringToSign(method, path string, query map[string]string, bodyMD5 string) string {
	keys := make([]string, 0, len(query)+1)
	for k := range query {
		if k != "auth_signature" && k != "body_md5" {
			keys = append(keys, k)
		}
	}
	if bodyMD5 != "" {
		keys = append(keys, "body_md5")
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if k == "body_md5" {
			b.WriteString(bodyMD5)
		} else {
			b.WriteString(query[k])
		}
	}
	return b.String()
}
