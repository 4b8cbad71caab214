package ws

import (
	"net/url"
	"path"
	"strings"
)

// originAllowed applies an app's allowed_origins to an Origin header the way Reverb does:
// "*" (or no list) allows everything; otherwise the host of the Origin must match one of
// the patterns, where * stands for any run of characters (Pusher's WebSocket protocol docs).
func originAllowed(patterns []string, origin string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == "*" {
			return true
		}
	}
	if origin == "" {
		return false
	}
	host := origin
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	host = strings.ToLower(host)
	for _, p := range patterns {
		if ok, err := path.Match(strings.ToLower(p), host); err == nil && ok {
			return true
		}
		// path.Match's * stops at "/" only, so "*.example.com" matches "a.b.example.com" too.
	}
	return false
}
