package catalogue

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkMatch matches the channels of a trigger or a subscribe: one in the catalogue, one
// of a known word but a wrong shape, one of no known word; with the seed's four entries and
// with fifty, where the other placeholder types are measured too (a regular expression's is
// the slowest: Go's regexp runs on the part of the name it may take).
func BenchmarkMatch(b *testing.B) {
	var fifty strings.Builder
	fifty.WriteString(seed)
	for i := 0; i < 46; i++ {
		placeholder := []string{"{id}", "{id:uuid}", "{id:slug}", "{id:re:[A-Z]{2}[0-9]+}"}[i%4]
		fmt.Fprintf(&fifty, "- {name: e%d, pattern: \"area%d.%s.items\", kind: [private, presence]}\n", i, i, placeholder)
	}
	for _, cat := range []struct {
		name string
		data string
	}{{"seed", seed}, {"50", fifty.String()}} {
		c := mustParse(b, cat.data)
		if ps := Check(c); len(ps) > 0 {
			b.Fatal(ps)
		}
		channels := []string{"private-tenant.12345.admins", "private-tenant.12345.admin", "private-unknown.5"}
		if cat.name == "50" { // a UUID, a slug and a regular expression placeholder
			channels = append(channels, "presence-area1.123e4567-e89b-12d3-a456-426614174000.items", "presence-area2.my-team.items", "presence-area3.AB123.items")
		}
		for _, channel := range channels {
			b.Run(cat.name+"/"+channel, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.Match(channel)
				}
			})
		}
	}
}
