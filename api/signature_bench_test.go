package api

import (
	"testing"

	"github.com/reverbd/reverbd/registry"
)

// BenchmarkRequestSignature is the HTTP API's signature check for one trigger: decode the
// query, build the string to sign, compare the HMAC (Pusher's HTTP API reference).
func BenchmarkRequestSignature(b *testing.B) {
	const secret = "7ad3773142a6692b25b8"
	raw := "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0" +
		"&body_md5=ec365a775a4cd0599faeb73354201b6f" +
		"&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	b.ReportAllocs()
	for b.Loop() {
		q, err := parseQuery(raw)
		if err != nil {
			b.Fatal(err)
		}
		msg := stringToSign("POST", "/apps/3/events", q, "ec365a775a4cd0599faeb73354201b6f")
		if !registry.ValidSignature(secret, msg, q["auth_signature"]) {
			b.Fatal("vector rejected")
		}
	}
}
