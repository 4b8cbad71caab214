package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	cases := []struct {
		name string
		want Kind
	}{
		{"orders", KindPublic},
		{"cacheX", KindPublic},
		{"privateX", KindPublic},
		{"private-tenant.42", KindPrivate},
		{"presence-room.1", KindPrivate | KindPresence},
		{"private-encrypted-x", KindPrivate | KindEncrypted},
		{"private-encrypted-cache-x", KindPrivate | KindEncrypted | KindCache},
		{"private-cache-x", KindPrivate | KindCache},
		{"presence-cache-x", KindPrivate | KindPresence | KindCache},
		{"cache-prices", KindCache},
		{"#server-to-user-7", KindUser},
	}
	for _, tc := range cases {
		if got := KindOf(tc.name); got != tc.want {
			t.Errorf("KindOf(%q) = %b, want %b", tc.name, got, tc.want)
		}
	}
	if !KindOf("presence-cache-x").AcceptsClientEvents() || !KindOf("private-cache-x").AcceptsClientEvents() {
		t.Error("private and presence cache channels must accept client events")
	}
	for _, ch := range []string{"orders", "cache-x", "private-encrypted-x", "private-encrypted-cache-x"} {
		if KindOf(ch).AcceptsClientEvents() {
			t.Errorf("%s accepts client events", ch)
		}
	}
}

func TestValidateChannel(t *testing.T) {
	valid := []string{"a", "private-tenant.42", "A-Z_a-z0-9=@,.;", "#server-to-user-7", strings.Repeat("x", 200)}
	invalid := []string{"", "has space", "slash/", "ünï", "#other", "#server-to-user-", "#server-to-user-a b", strings.Repeat("x", 201)}
	for _, n := range valid {
		if err := ValidateChannel(n, DefaultMaxChannelNameLength); err != nil {
			t.Errorf("ValidateChannel(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range invalid {
		if err := ValidateChannel(n, DefaultMaxChannelNameLength); !errors.Is(err, ErrInvalidChannel) {
			t.Errorf("ValidateChannel(%q) = %v, want ErrInvalidChannel", n, err)
		}
	}
}

// The length limit is the caller's (REVERB_MAX_CHANNEL_NAME_LENGTH); 0 takes any length, and
// the charset applies whatever the limit.
func TestValidateChannelLength(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		ok    bool
	}{
		{strings.Repeat("x", 20), 20, true},
		{strings.Repeat("x", 21), 20, false},
		{"#server-to-user-" + strings.Repeat("7", 5), 20, false}, // the prefix counts
		{strings.Repeat("x", 5000), 0, true},
		{strings.Repeat("x", 5000) + " ", 0, false},
		{"", 0, false},
	} {
		err := ValidateChannel(tc.name, tc.limit)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidChannel)) {
			t.Errorf("ValidateChannel(%d characters, %d) = %v, want ok %v", len(tc.name), tc.limit, err, tc.ok)
		}
	}
}

// The vectors of Pusher's authentication signature docs.
func TestSignVectors(t *testing.T) {
	const secret = "7ad3773142a6692b25b8"
	vectors := []struct{ msg, sig string }{
		{"1234.1234:private-foobar", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"123.456:private-tenant.42", "92990c7f81cd88e32aa5a5d1541f3bd8488f29f54f4d6a4481cb64309626e726"},
		{`123.456:presence-room.1:{"user_id":"7","user_info":{"name":"Ada"}}`, "488698a19334380bc56cd0a8ba09e7fabf633456b4c7ab4bed2df5c70f184617"},
		{`1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
		{`123.456::user::{"id":"7","user_info":{"name":"Ada"}}`, "570b239c280c9fd471c43c3f320f639e5409c81a858073560ece18aca9f5428b"},
		{`1234.1234::user::{"id":"12345"}`, "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
	}
	for _, v := range vectors {
		if got := Sign(secret, v.msg); got != v.sig {
			t.Errorf("Sign(%q) = %s, want %s", v.msg, got, v.sig)
		}
		if !ValidSignature(secret, v.msg, v.sig) {
			t.Errorf("ValidSignature rejects the vector for %q", v.msg)
		}
		if ValidSignature(secret, v.msg+"x", v.sig) || ValidSignature("other", v.msg, v.sig) {
			t.Errorf("ValidSignature accepts a wrong message or secret for %q", v.msg)
		}
	}
}

func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{"orders", "presence-room.1", "#server-to-user-7", "bad name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateChannel(name, DefaultMaxChannelNameLength)
		if err != nil && !errors.Is(err, ErrInvalidChannel) {
			t.Fatalf("error does not wrap ErrInvalidChannel: %v", err)
		}
		if err == nil && (len(name) == 0 || len(name) > DefaultMaxChannelNameLength) {
			t.Fatalf("accepted %q of length %d", name, len(name))
		}
	})
}

func BenchmarkValidSignature(b *testing.B) {
	const secret = "7ad3773142a6692b25b8"
	msg := `123.456:presence-room.1:{"user_id":"7","user_info":{"name":"Ada"}}`
	sig := Sign(secret, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ValidSignature(secret, msg, sig) {
			b.Fatal("rejected")
		}
	}
}
