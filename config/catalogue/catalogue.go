// Package catalogue reads the channel catalogue: the shapes of an app's channel names
// ("tenant.{id}", "order.{id}"), the kinds each is used as (private, presence...) and options
// per shape. reverbd matches the channels that clients subscribe to and that the app
// triggers on against it, labels metrics by the entry's name, and generates the app's PHP
// registry and a TypeScript helper from it.
//
// Patterns are written as the Laravel app writes them in routes/channels.php, without the
// Pusher prefix; the kind gives the prefix on the wire
// (https://pusher.com/docs/channels/using_channels/channels/#channel-types).
package catalogue

import "strings"

// Kind is a Pusher channel type, which fixes the channel name's prefix on the wire.
type Kind string

// The kinds of channels.
const (
	Public    Kind = "public"
	Private   Kind = "private"
	Presence  Kind = "presence"
	Encrypted Kind = "encrypted"
)

// Kinds lists every kind, in the order the generated files use.
var Kinds = []Kind{Public, Private, Presence, Encrypted}

// Prefix is the kind's prefix on the wire: "", "private-", "presence-" or
// "private-encrypted-".
func (k Kind) Prefix() string {
	switch k {
	case Private:
		return "private-"
	case Presence:
		return "presence-"
	case Encrypted:
		return "private-encrypted-"
	}
	return ""
}

// valid tells whether k is one of the four kinds.
func (k Kind) valid() bool {
	switch k {
	case Public, Private, Presence, Encrypted:
		return true
	}
	return false
}

// Split parses a wire channel name into its kind, whether it is a cache channel (the
// "cache-" part of the prefix, https://pusher.com/docs/channels/using_channels/cache-channels/)
// and the name as the app writes it: "private-cache-tenant.5" is (Private, true, "tenant.5").
func Split(channel string) (kind Kind, cache bool, name string) {
	kind, name = Public, channel
	switch {
	case strings.HasPrefix(name, "private-encrypted-"):
		kind, name = Encrypted, name[len("private-encrypted-"):]
	case strings.HasPrefix(name, "private-"):
		kind, name = Private, name[len("private-"):]
	case strings.HasPrefix(name, "presence-"):
		kind, name = Presence, name[len("presence-"):]
	}
	if strings.HasPrefix(name, "cache-") {
		return kind, true, name[len("cache-"):]
	}
	return kind, false, name
}

// Wire is the channel name on the wire for a name as the app writes it: Wire(Private, true,
// "tenant.5") is "private-cache-tenant.5". It is the inverse of Split.
func Wire(kind Kind, cache bool, name string) string {
	if cache {
		name = "cache-" + name
	}
	return kind.Prefix() + name
}

// Options are an entry's settings, named as the apps file names them; a zero value leaves the
// app's own setting.
type Options struct {
	// AcceptClientEventsFrom is "members", "all" or "none" (empty: the app's setting).
	AcceptClientEventsFrom string `yaml:"accept_client_events_from"`
	// MaxPresenceMembers limits the members of one presence channel of the entry (0: the
	// app's setting).
	MaxPresenceMembers int `yaml:"max_presence_members"`
	// MaxSubscriptions limits the channels of the entry one connection subscribes to (0: the
	// app's setting).
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// Cache makes the entry's channels cache channels: their wire prefix ends in "cache-".
	Cache bool `yaml:"cache"`
}

// Entry is one channel shape of the catalogue.
type Entry struct {
	// Name identifies the entry: the metric label and the name of the generated helpers
	// ("tenantAdmins": ChannelRegistry::tenantAdmins(), TENANT_ADMINS_CHANNEL_PATTERN).
	Name string
	// Pattern is the channel name as the app writes it, placeholders in braces:
	// "tenant.{id}.admins".
	Pattern string
	// Kinds are the kinds the channel is used as; at least one.
	Kinds []Kind
	Options
	// Position is the entry's place in the file (1 for the first) and Line its line (0 when
	// not known).
	Position, Line int

	pattern *pattern
}

// HasKind tells whether the entry is used as kind k.
func (e *Entry) HasKind(k Kind) bool {
	for _, have := range e.Kinds {
		if have == k {
			return true
		}
	}
	return false
}

// Placeholders are the entry's placeholders in the order of the pattern.
func (e *Entry) Placeholders() []Placeholder {
	var ps []Placeholder
	for _, s := range e.pattern.segments {
		if s.placeholder != nil {
			ps = append(ps, *s.placeholder)
		}
	}
	return ps
}

// Parts are the pattern cut into literal text and placeholders, in order: "tenant.{id}.admins"
// is "tenant.", {id}, ".admins". A part's Placeholder is nil for literal text.
func (e *Entry) Parts() []Part {
	parts := make([]Part, len(e.pattern.segments))
	for i, s := range e.pattern.segments {
		parts[i] = Part{Literal: s.literal, Placeholder: s.placeholder}
	}
	return parts
}

// Part is literal text of a pattern or one of its placeholders.
type Part struct {
	Literal     string
	Placeholder *Placeholder
}

// Where names the entry for a message: "entry 2 (tenantAdmins, line 4)".
func (e *Entry) Where() string {
	s := "entry " + itoa(e.Position)
	name := e.Name
	if name == "" {
		name = "no name"
	}
	if e.Line > 0 {
		return s + " (" + name + ", line " + itoa(e.Line) + ")"
	}
	return s + " (" + name + ")"
}

// Catalogue is a parsed catalogue, ready to match channel names. It is not modified after
// Parse and is safe for concurrent use.
type Catalogue struct {
	// File is the file the catalogue was loaded from, if any.
	File string
	// Entries are in the order of the file.
	Entries []*Entry
	index   index
}

// Entry returns the entry of the given name, or nil.
func (c *Catalogue) Entry(name string) *Entry {
	for _, e := range c.Entries {
		if e.Name == name {
			return e
		}
	}
	return nil
}
