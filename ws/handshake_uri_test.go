package ws

import (
	"net/url"
	"strings"
	"testing"
)

// referenceKeyAndProtocol is how the handshake read the key and protocol before the fast
// path: url.PathUnescape and url.ParseQuery.
func referenceKeyAndProtocol(uri string) (key, protocol string) {
	path, query, _ := strings.Cut(uri, "?")
	_, rest, _ := strings.Cut(path, "/app/")
	key, _ = url.PathUnescape(rest)
	if q, err := url.ParseQuery(query); err == nil {
		protocol = q.Get("protocol")
	}
	return key, protocol
}

var requestURIs = []string{
	"/app/k?protocol=7&client=js&version=8.4.0&flash=false",
	"/app/k", "/app/k?", "/app/k?protocol=", "/app/k?protocol", "/app/k?&&protocol=6&protocol=7",
	"/ws/app/k%20x?protocol=%37", "/app/k%zz?protocol=7", "/app/k?protocol=7;x=1", "/app/k?a=%zz&protocol=7",
	"/app/k?protocol=7+1", "/app/a+b?protocol=5", "/app/k?Protocol=7", "/app/k?x=protocol=7&protocol=5",
	"/app/k?" + strings.Repeat("a=1&", 300) + "protocol=7", "/nothing?protocol=7", "",
}

func TestAppKeyAndProtocol(t *testing.T) {
	for _, uri := range requestURIs {
		key, protocol := appKeyAndProtocol([]byte(uri))
		if wantKey, wantProtocol := referenceKeyAndProtocol(uri); key != wantKey || protocol != wantProtocol {
			t.Errorf("%q: key %q protocol %q, want %q %q", uri, key, protocol, wantKey, wantProtocol)
		}
	}
}

func FuzzAppKeyAndProtocol(f *testing.F) {
	for _, uri := range requestURIs {
		f.Add(uri)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		key, protocol := appKeyAndProtocol([]byte(uri))
		if wantKey, wantProtocol := referenceKeyAndProtocol(uri); key != wantKey || protocol != wantProtocol {
			t.Errorf("%q: key %q protocol %q, want %q %q", uri, key, protocol, wantKey, wantProtocol)
		}
	})
}
