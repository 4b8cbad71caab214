package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Signatures from many goroutines with several secrets, messages of every size and reused
// hash state are those of a fresh HMAC each time.
func TestSignConcurrentSecrets(t *testing.T) {
	reference := func(secret, msg string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(msg))
		return hex.EncodeToString(m.Sum(nil))
	}
	secrets := []string{"7ad3773142a6692b25b8", "s", "", strings.Repeat("long secret ", 20)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				secret := secrets[(g+i)%len(secrets)]
				msg := strconv.Itoa(g) + ":" + strings.Repeat("m", i*i%9000)
				want := reference(secret, msg)
				if got := Sign(secret, msg); got != want {
					t.Errorf("Sign(%q, %d bytes) = %s, want %s", secret, len(msg), got, want)
					return
				}
				if !ValidSignature(secret, msg, want) {
					t.Errorf("ValidSignature(%q, %d bytes) rejects the right signature", secret, len(msg))
					return
				}
				if ValidSignature(secret, msg, strings.ToUpper(want)) || ValidSignature(secret, msg, want[:63]) ||
					ValidSignature(secret, msg, want+"0") || ValidSignature(secret, msg, "") {
					t.Errorf("ValidSignature(%q, %d bytes) accepts a wrong signature", secret, len(msg))
					return
				}
			}
		})
	}
	wg.Wait()
}
