package registry

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxChannelNameLength is the longest channel name accepted on subscribe and over
// HTTP unless REVERB_MAX_CHANNEL_NAME_LENGTH says otherwise (Pusher's WebSocket protocol
// docs: the SDKs refuse more than 200).
const DefaultMaxChannelNameLength = 200

// UserChannelPrefix starts the per-user channel that server-to-user events use.
const UserChannelPrefix = "#server-to-user-"

// ErrInvalidChannel is returned for a channel name that breaks the naming rules.
var ErrInvalidChannel = errors.New("registry: invalid channel name")

// Kind says how a channel behaves. Its flags combine: "presence-cache-x" is KindPrivate|KindPresence|KindCache.
type Kind uint8

// Channel kind flags.
const (
	KindPublic    Kind = 0
	KindPrivate   Kind = 1 << iota // needs a signed subscription
	KindPresence                   // private, with members
	KindEncrypted                  // private, end-to-end encrypted payloads
	KindCache                      // keeps its last event for new subscribers
	KindUser                       // #server-to-user-{id}
)

// prefixes is checked in order; the longest prefixes come first (Pusher's WebSocket protocol docs).
var prefixes = []struct {
	prefix string
	kind   Kind
}{
	{"private-encrypted-cache-", KindPrivate | KindEncrypted | KindCache},
	{"private-encrypted-", KindPrivate | KindEncrypted},
	{"private-cache-", KindPrivate | KindCache},
	{"presence-cache-", KindPrivate | KindPresence | KindCache},
	{"cache-", KindCache},
	{"private-", KindPrivate},
	{"presence-", KindPrivate | KindPresence},
	{UserChannelPrefix, KindUser},
}

// KindOf classifies a channel name by its prefix. It does not validate the name.
func KindOf(name string) Kind {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.kind
		}
	}
	return KindPublic
}

// Has reports whether every flag of f is set in k.
func (k Kind) Has(f Kind) bool { return k&f == f }

// IsPrivate reports whether subscribing needs a signature.
func (k Kind) IsPrivate() bool { return k&KindPrivate != 0 }

// IsPresence reports whether the channel has members.
func (k Kind) IsPresence() bool { return k&KindPresence != 0 }

// IsCache reports whether the channel keeps its last event.
func (k Kind) IsCache() bool { return k&KindCache != 0 }

// IsEncrypted reports whether payloads are end-to-end encrypted.
func (k Kind) IsEncrypted() bool { return k&KindEncrypted != 0 }

// AcceptsClientEvents reports whether client-* events may be sent on the channel:
// private and presence channels (cache variants included), never encrypted ones.
func (k Kind) AcceptsClientEvents() bool {
	return k.IsPrivate() && !k.IsEncrypted()
}

// UserID returns the user id of a #server-to-user-{id} channel name.
func UserID(channel string) (string, bool) {
	id, ok := strings.CutPrefix(channel, UserChannelPrefix)
	return id, ok && id != ""
}

// ValidateChannel checks a channel name against the Pusher naming rules: 1 to maxLength
// characters of A-Z a-z 0-9 _ - = @ , . ; — plus the reserved #server-to-user- prefix. A
// maxLength of 0 or less means any length. The error wraps ErrInvalidChannel.
func ValidateChannel(name string, maxLength int) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidChannel)
	}
	// Every allowed character is one byte, so bytes count characters.
	if maxLength > 0 && len(name) > maxLength {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidChannel, maxLength)
	}
	rest := name
	if id, ok := strings.CutPrefix(name, UserChannelPrefix); ok {
		if id == "" {
			return fmt.Errorf("%w: %q has no user id", ErrInvalidChannel, name)
		}
		rest = id
	}
	for i := 0; i < len(rest); i++ {
		if !validNameByte(rest[i]) {
			return fmt.Errorf("%w: %q has a character outside A-Z a-z 0-9 _ - = @ , . ;", ErrInvalidChannel, name)
		}
	}
	return nil
}

func validNameByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}
