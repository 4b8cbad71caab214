package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

type discardQueue struct{}

func (discardQueue) Enqueue(context.Context, registry.Event) error { return nil }

// FuzzSignature feeds the verification arbitrary queries and bodies. Two properties:
// an unsigned query is refused with 401 (never a panic or another status), and a request
// signed by the SDKs' algorithm verifies whatever its extra parameter and body hold.
func FuzzSignature(f *testing.F) {
	f.Add("info=user_count%2Csubscription_count&"+vectorAuth+"&auth_signature=ce51a16cc9240742230d2230cc04b2b4c02e31504dbaf44296f5c905155dcf65", "info", "user_count,subscription_count", []byte(nil))
	f.Add(vectorAuth+"&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c", "filter_by_prefix", "presence-", []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`))
	f.Add("a=%zz&&=&b", "Info", "a&b=c;d", []byte("{}"))
	f.Add("auth_signature=&auth_signature=x;y", "x y", "%+%20\x00é", []byte{0xff})

	a := api.New(api.Params{
		Apps:           registry.NewApps([]config.App{{ID: appID, Key: appKey, Secret: appSecret}}),
		Queue:          discardQueue{},
		Occupancy:      registry.NewMemoryOccupancy(),
		PathPrefix:     "/ws",
		MaxRequestSize: 1 << 20,
		Now:            func() time.Time { return time.Unix(vectorTime, 0) },
	})
	r := chi.NewRouter()
	r.Route("/ws", a.Routes)
	signer := &env{now: func() time.Time { return time.Unix(vectorTime, 0) }}

	serve := func(rawQuery string, body []byte) int {
		req := httptest.NewRequest(http.MethodGet, "/ws/apps/3/channels", bytes.NewReader(body))
		req.URL.RawQuery = rawQuery
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}

	f.Fuzz(func(t *testing.T, rawQuery, key, value string, body []byte) {
		// Any query: accepted only if it happens to carry a valid signature (the seeds).
		if code := serve(rawQuery, body); code != http.StatusOK && code != http.StatusUnauthorized {
			t.Fatalf("query %q: status %d", rawQuery, code)
		}

		// A signed request with one extra parameter verifies.
		key = strings.ToLower(key)
		if key == "" || strings.HasPrefix(key, "auth_") || key == "body_md5" {
			return
		}
		q := signer.signQuery(http.MethodGet, "/apps/3/channels", map[string]string{key: value}, string(body), sig{})
		if code := serve(q.Encode(), body); code != http.StatusOK {
			t.Fatalf("signed %s=%q with %d body bytes: status %d", key, value, len(body), code)
		}
		// Changing the value afterwards breaks it.
		q.Set(key, value+"x")
		if code := serve(q.Encode(), body); code != http.StatusUnauthorized {
			t.Fatalf("tampered %s=%q: status %d", key, value, code)
		}
	})
}
