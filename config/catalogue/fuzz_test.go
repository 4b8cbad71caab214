package catalogue

import (
	"regexp"
	"testing"
)

// FuzzParseMatch parses any catalogue and matches any channel against it: nothing panics,
// and a name matches an entry's pattern exactly when the pattern's regular expression
// matches it.
func FuzzParseMatch(f *testing.F) {
	f.Add([]byte(seed), "private-tenant.5.admins")
	f.Add([]byte(`[{"name": "a", "pattern": "a.{x:re:[0-9.]+}.1.b", "kind": ["public", "presence"]}]`), "a.1.1.1.b")
	f.Add([]byte(`[{name: r, pattern: "room.{r:uuid}.{s:slug}", kind: presence, cache: true}]`), "presence-cache-room.123e4567-e89b-12d3-a456-426614174000.my-team")
	f.Add([]byte(`[{name: d, pattern: "d.{n}1", kind: public}, {name: o, pattern: "{a:slug}.{b}", kind: public}]`), "d.51")
	f.Fuzz(func(t *testing.T, data []byte, channel string) {
		if len(data) > 400 {
			return // Check's walk grows with the size of regular expressions
		}
		c, err := Parse(data)
		if err != nil {
			return
		}
		Check(c)
		c.Suggest(channel)
		matched, ok := c.Match(channel)
		kind, cache, name := Split(channel)
		if Wire(kind, cache, name) != channel {
			t.Fatalf("Wire(Split(%q)) = %q", channel, Wire(kind, cache, name))
		}
		var first *Entry
		for _, e := range c.Entries {
			re := regexp.MustCompile(e.pattern.source())
			if got := e.pattern.match(name); got != re.MatchString(name) {
				t.Fatalf("pattern %q on %q: match %v, regexp %s %v", e.Pattern, name, got, re, !got)
			}
			if first == nil && e.Cache == cache && e.HasKind(kind) && re.MatchString(name) {
				first = e
			}
		}
		if ok != (first != nil) || ok && matched != first {
			t.Fatalf("Match(%q) = %v, %v; want %v", channel, matched, ok, first)
		}
	})
}
