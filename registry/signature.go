package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Sign returns the lowercase hex HMAC-SHA256 of msg keyed by secret, the signature form every
// Pusher signature uses (channel auth, user sign-in, HTTP requests).
func Sign(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// ValidSignature reports, in constant time, whether sig is Sign(secret, msg).
func ValidSignature(secret, msg, sig string) bool {
	want := Sign(secret, msg)
	return hmac.Equal([]byte(want), []byte(sig))
}
