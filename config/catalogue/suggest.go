package catalogue

import "strings"

// Suggest returns the pattern, as the app writes it, nearest to a wire channel name that
// matched nothing, or "" when none is near: for "private-tenant.5.admin" it is
// "tenant.{id}.admins". Names are compared part by part between the dots: a part a
// placeholder takes costs nothing, other parts cost their edit distance with digits and UUIDs
// counted as placeholders; a pattern further than half the name's length is not near.
func (c *Catalogue) Suggest(channel string) string {
	_, _, name := Split(channel)
	best, bestCost, size := c.nearest(name)
	// A name that differs only in case (private-TENANT.5) is near what it would be in lower
	// case, where the letters do not count.
	if lower := strings.ToLower(name); lower != name {
		if b, cost, _ := c.nearest(lower); cost >= 0 && (bestCost < 0 || cost < bestCost) {
			best, bestCost = b, cost
		}
	}
	if bestCost < 0 || bestCost > max(2, size/2) {
		return ""
	}
	return best
}

// nearest returns the pattern of the entry nearest to name (without its prefix), its
// distance (-1 without entries) and the size the distance is weighed against.
func (c *Catalogue) nearest(name string) (best string, bestCost, size int) {
	parts := strings.Split(name, ".")
	shapes := make([]string, len(parts))
	size = len(parts) - 1 // the dots
	for i, p := range parts {
		shapes[i] = nameShape(p)
		size += len(shapes[i])
	}
	bestCost = -1
	for _, e := range c.Entries {
		cost := e.distance(parts, shapes)
		if bestCost < 0 || cost < bestCost {
			best, bestCost = e.Pattern, cost
		}
	}
	return best, bestCost, size
}

// dotPart is the part of a pattern between two dots.
type dotPart struct {
	pattern pattern
	shape   string // placeholders as holeRune
}

// holeRune stands for a placeholder, or digits or a UUID in a name, in shapes.
const holeRune = "\x00"

// dotParts cuts the pattern at its literal dots.
func (e *Entry) dotParts() []dotPart {
	parts := []dotPart{{}}
	last := func() *dotPart { return &parts[len(parts)-1] }
	for _, s := range e.pattern.segments {
		if s.placeholder != nil {
			last().pattern.segments = append(last().pattern.segments, s)
			last().shape += holeRune
			continue
		}
		for i, lit := range strings.Split(s.literal, ".") {
			if i > 0 {
				parts = append(parts, dotPart{})
			}
			if lit != "" {
				last().pattern.segments = append(last().pattern.segments, segment{literal: lit})
				last().shape += lit
			}
		}
	}
	return parts
}

// distance is the cost of turning the name's parts into the entry's pattern.
func (e *Entry) distance(parts, shapes []string) int {
	want := e.dotParts()
	// d[i][j]: the first i parts of the name against the first j of the pattern.
	d := make([][]int, len(parts)+1)
	for i := range d {
		d[i] = make([]int, len(want)+1)
	}
	for i := 1; i <= len(parts); i++ {
		d[i][0] = d[i-1][0] + len(shapes[i-1]) + 1
	}
	for j := 1; j <= len(want); j++ {
		d[0][j] = d[0][j-1] + len(want[j-1].shape) + 1
	}
	for i := 1; i <= len(parts); i++ {
		for j := 1; j <= len(want); j++ {
			replace := 0
			if !want[j-1].pattern.match(parts[i-1]) {
				replace = levenshtein(shapes[i-1], want[j-1].shape)
			}
			d[i][j] = min(d[i-1][j-1]+replace, d[i-1][j]+len(shapes[i-1])+1, d[i][j-1]+len(want[j-1].shape)+1)
		}
	}
	return d[len(parts)][len(want)]
}

// nameShape is a part of a name with its runs of digits and its UUIDs as holeRune.
func nameShape(s string) string {
	u := Placeholder{Type: UUID}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case i+36 <= len(s) && u.matches(s[i:i+36]):
			b.WriteString(holeRune)
			i += 36
		case isDigit(s[i]):
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			b.WriteString(holeRune)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// levenshtein is the edit distance between two strings, byte by byte.
func levenshtein(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j-1]+cost, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
