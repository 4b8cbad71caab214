package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/reverbd/reverbd/registry"
)

const vectorAuth = "auth_key=" + appKey + "&auth_timestamp=1353088179&auth_version=1.0"

// vectors are the worked examples of Pusher's HTTP API reference (auth signatures), verbatim.
var vectors = []struct {
	name     string
	method   string
	path     string
	query    string // without auth_signature
	body     string
	toSign   string
	sig      string
	wantBody string
}{
	{
		name:     "events",
		method:   http.MethodPost,
		path:     "/apps/3/events",
		query:    vectorAuth + "&body_md5=ec365a775a4cd0599faeb73354201b6f",
		body:     `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`,
		toSign:   "POST\n/apps/3/events\n" + vectorAuth + "&body_md5=ec365a775a4cd0599faeb73354201b6f",
		sig:      "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
		wantBody: `{}`,
	},
	{
		name:     "channels",
		method:   http.MethodGet,
		path:     "/apps/3/channels",
		query:    "filter_by_prefix=presence-&info=user_count&" + vectorAuth,
		toSign:   "GET\n/apps/3/channels\n" + vectorAuth + "&filter_by_prefix=presence-&info=user_count",
		sig:      "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291",
		wantBody: `{"channels":{}}`,
	},
	{
		name:     "channel",
		method:   http.MethodGet,
		path:     "/apps/3/channels/presence-room.1",
		query:    "info=user_count,subscription_count&" + vectorAuth,
		toSign:   "GET\n/apps/3/channels/presence-room.1\n" + vectorAuth + "&info=user_count,subscription_count",
		sig:      "ce51a16cc9240742230d2230cc04b2b4c02e31504dbaf44296f5c905155dcf65",
		wantBody: `{"occupied":false,"user_count":0,"subscription_count":0}`,
	},
	{
		name:     "terminate",
		method:   http.MethodPost,
		path:     "/apps/3/users/7/terminate_connections",
		query:    vectorAuth + "&body_md5=99914b932bd37a50b983c5e7c90ae93b",
		body:     `{}`,
		toSign:   "POST\n/apps/3/users/7/terminate_connections\n" + vectorAuth + "&body_md5=99914b932bd37a50b983c5e7c90ae93b",
		sig:      "39e910ac7ace5fe3bb9d1893af3d1bf93fb02782c6910e5f944dda2cc3c84b90",
		wantBody: `{}`,
	},
}

func TestSignatureVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			if got := registry.Sign(appSecret, v.toSign); got != v.sig {
				t.Fatalf("vector string signs to %s, want %s", got, v.sig)
			}
			// The test signer must agree with the vector, or the other tests prove nothing.
			q, err := url.ParseQuery(v.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := sign(appSecret, v.method, v.path, q); got != v.sig {
				t.Fatalf("test signer gives %s, want %s", got, v.sig)
			}
			for _, prefix := range prefixes {
				t.Run("prefix="+prefix, func(t *testing.T) {
					e := newEnv(t, options{prefix: prefix, fixedNow: true})
					want(t, e.do(t, v.method, v.path, v.query+"&auth_signature="+v.sig, v.body), http.StatusOK, v.wantBody)

					bad := v.sig[:63] + "0"
					if bad == v.sig {
						bad = v.sig[:63] + "1"
					}
					want(t, e.do(t, v.method, v.path, v.query+"&auth_signature="+bad, v.body),
						http.StatusUnauthorized, `{"error":"invalid signature","code":401}`)
				})
			}
		})
	}
}

func TestSignatureVectorEffects(t *testing.T) {
	e := newEnv(t, options{fixedNow: true})
	for _, v := range vectors {
		want(t, e.do(t, v.method, v.path, v.query+"&auth_signature="+v.sig, v.body), http.StatusOK, v.wantBody)
	}
	wantEvent(t, e.rec.next(t), registry.Event{
		AppID: appID, Channels: []string{"project-3"}, Name: "foo", Data: `{"some":"data"}`,
	})
	if got := e.term.got(); !slices.Equal(got, []string{"3/7"}) {
		t.Fatalf("terminated %v", got)
	}
}

// Guzzle (SDK-php) sends the query percent-encoded; the signature is over decoded values.
func TestSignaturePercentEncodedQuery(t *testing.T) {
	e := newEnv(t, options{fixedNow: true})
	v := vectors[2]
	for _, query := range []string{
		"info=user_count%2Csubscription_count&" + vectorAuth,
		strings.ReplaceAll("info=user_count%2Csubscription_count&"+vectorAuth, "_", "%5F"),
		"%69nfo=user_count%2csubscription_count&" + vectorAuth, // escaped key, lower-case hex
	} {
		want(t, e.do(t, v.method, v.path, query+"&auth_signature="+v.sig, ""), http.StatusOK, v.wantBody)
	}
}

func TestSignaturePathPrefix(t *testing.T) {
	e := newEnv(t, options{prefix: "/ws"})
	const path = "/apps/3/channels"
	for _, tc := range []struct {
		signPath string
		status   int
	}{
		{"/apps/3/channels", http.StatusOK},    // what the SDKs sign
		{"/ws/apps/3/channels", http.StatusOK}, // the full path (Reverb)
		{"/other/apps/3/channels", http.StatusUnauthorized},
		{"/ws/apps/3/channels/", http.StatusUnauthorized},
		{"/apps/3/channels/orders", http.StatusUnauthorized},
		{"/apps/4/channels", http.StatusUnauthorized},
	} {
		t.Run(tc.signPath, func(t *testing.T) {
			q := e.signQuery(http.MethodGet, path, nil, "", sig{signPath: tc.signPath})
			res := e.do(t, http.MethodGet, path, q.Encode(), "")
			if tc.status == http.StatusOK {
				want(t, res, http.StatusOK, `{"channels":{}}`)
			} else {
				want(t, res, http.StatusUnauthorized, `{"error":"invalid signature","code":401}`)
			}
		})
	}

	// Without a prefix only the request path itself verifies.
	root := newEnv(t, options{})
	q := root.signQuery(http.MethodGet, path, nil, "", sig{signPath: "/ws" + path})
	want(t, root.do(t, http.MethodGet, path, q.Encode(), ""),
		http.StatusUnauthorized, `{"error":"invalid signature","code":401}`)
}

// Keys are lower-cased and a repeated key's values are joined with "," before signing and
// before the handler reads them.
func TestSignatureQueryCanonicalForm(t *testing.T) {
	e := newEnv(t, options{})
	occupy(t, e)
	const path = "/apps/3/channels/presence-room.1"
	signed := e.signQuery(http.MethodGet, path, map[string]string{"info": "user_count,subscription_count"}, "", sig{})
	s := signed.Get("auth_signature")
	signed.Del("auth_signature")
	signed.Del("info")
	for _, query := range []string{
		"info=user_count&info=subscription_count&" + signed.Encode(),
		"INFO=user_count&Info=subscription_count&" + signed.Encode(),
		"info=user_count,subscription_count&&" + signed.Encode() + "&",
	} {
		want(t, e.do(t, http.MethodGet, path, query+"&auth_signature="+s, ""),
			http.StatusOK, `{"occupied":true,"user_count":2,"subscription_count":3}`)
	}
}

// A GET may carry a body; it is then covered by body_md5 like a POST's.
func TestSignatureBodyOnGet(t *testing.T) {
	e := newEnv(t, options{})
	want(t, e.call(t, http.MethodGet, "/apps/3/connections", nil, "{}"), http.StatusOK, `{"connections":0}`)
}
