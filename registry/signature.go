package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"sync"
)

// Sign returns the lowercase hex HMAC-SHA256 of msg keyed by secret, the signature form every
// Pusher signature uses (channel auth, user sign-in, HTTP requests).
func Sign(secret, msg string) string {
	s := getSigner(secret)
	defer s.put()
	return string(s.sign(msg))
}

// ValidSignature reports, in constant time, whether sig is Sign(secret, msg).
func ValidSignature(secret, msg, sig string) bool {
	s := getSigner(secret)
	defer s.put()
	want := s.sign(msg)
	s.buf = append(s.buf[:0], sig...)
	return subtle.ConstantTimeCompare(want, s.buf) == 1
}

// signers pools the HMAC state of each secret (a *sync.Pool of *signer per secret): keying
// an HMAC hashes the secret into two SHA-256 states, and a reset one starts again from them.
// The secrets are the configured apps', so the map stays as small as the configuration.
var signers sync.Map

// signer is one HMAC-SHA256 keyed with a secret, with scratch space for one signature.
type signer struct {
	pool *sync.Pool
	mac  hash.Hash
	buf  []byte // the message or the signature compared
	sum  [sha256.Size]byte
	hex  [2 * sha256.Size]byte
}

func getSigner(secret string) *signer {
	p, ok := signers.Load(secret)
	if !ok {
		pool := &sync.Pool{}
		pool.New = func() any { return &signer{pool: pool, mac: hmac.New(sha256.New, []byte(secret))} }
		p, _ = signers.LoadOrStore(secret, pool)
	}
	return p.(*sync.Pool).Get().(*signer)
}

// put returns s to its pool; what sign returned is no longer valid.
func (s *signer) put() {
	if cap(s.buf) > 4<<10 {
		s.buf = nil
	}
	s.pool.Put(s)
}

// sign returns the lowercase hex signature of msg, in s's scratch space.
func (s *signer) sign(msg string) []byte {
	s.buf = append(s.buf[:0], msg...)
	s.mac.Reset()
	s.mac.Write(s.buf)
	hex.Encode(s.hex[:], s.mac.Sum(s.sum[:0]))
	return s.hex[:]
}
