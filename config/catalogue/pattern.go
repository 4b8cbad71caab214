package catalogue

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PlaceholderType is what a placeholder stands for.
type PlaceholderType string

// The placeholder types: {id} is Digits, {id:uuid}, {team:slug}, {code:re:[A-Z]{3}}.
const (
	Digits PlaceholderType = "digits"
	UUID   PlaceholderType = "uuid"
	Slug   PlaceholderType = "slug"
	Regexp PlaceholderType = "re"
)

// Placeholder is a variable part of a pattern.
type Placeholder struct {
	// Name is the placeholder's name: the parameter of the generated helpers.
	Name string
	Type PlaceholderType
	// Regexp is the expression of a Regexp placeholder, as written.
	Regexp string

	re *regexp.Regexp // Regexp anchored at both ends
}

// Numeric tells whether the placeholder takes digits only (an int in the generated helpers).
func (p *Placeholder) Numeric() bool { return p.Type == Digits }

// String is the placeholder as written in a pattern: "{id}", "{team:slug}".
func (p *Placeholder) String() string {
	switch p.Type {
	case Digits:
		return "{" + p.Name + "}"
	case Regexp:
		return "{" + p.Name + ":re:" + p.Regexp + "}"
	}
	return "{" + p.Name + ":" + string(p.Type) + "}"
}

// source is the placeholder as a Go regular expression.
func (p *Placeholder) source() string {
	switch p.Type {
	case Digits:
		return `[0-9]+`
	case UUID:
		return `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
	case Slug:
		return `[a-z0-9]+(?:-[a-z0-9]+)*`
	}
	return `(?:` + p.Regexp + `)`
}

// span is the length of the longest prefix of s the placeholder could take.
func (p *Placeholder) span(s string) int {
	switch p.Type {
	case Digits:
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i
	case UUID:
		return min(len(s), 36)
	case Slug:
		i := 0
		for i < len(s) && (isLowerAlnum(s[i]) || s[i] == '-') {
			i++
		}
		return i
	}
	return len(s)
}

// matches tells whether the placeholder takes all of s (at least one character).
func (p *Placeholder) matches(s string) bool {
	if s == "" {
		return false
	}
	switch p.Type {
	case Digits:
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return false
			}
		}
		return true
	case UUID:
		if len(s) != 36 {
			return false
		}
		for i := 0; i < 36; i++ {
			switch i {
			case 8, 13, 18, 23:
				if s[i] != '-' {
					return false
				}
			default:
				if !isHex(s[i]) {
					return false
				}
			}
		}
		return true
	case Slug:
		if s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !isLowerAlnum(s[i]) && s[i] != '-' {
				return false
			}
		}
		return true
	}
	return p.re.MatchString(s)
}

// segment is literal text or a placeholder.
type segment struct {
	literal     string
	placeholder *Placeholder
}

// pattern is a parsed pattern: segments alternate, never two placeholders in a row, no empty
// literal.
type pattern struct {
	segments []segment
}

// parsePattern parses a pattern such as "tenant.{id}.admins".
func parsePattern(s string) (*pattern, error) {
	if s == "" {
		return nil, fmt.Errorf("the pattern is empty")
	}
	p := &pattern{}
	names := map[string]bool{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{':
			end := closingBrace(s, i)
			if end < 0 {
				return nil, fmt.Errorf("pattern %q: the placeholder at %d has no closing }", s, i+1)
			}
			ph, err := parsePlaceholder(s[i+1 : end])
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", s, err)
			}
			if names[ph.Name] {
				return nil, fmt.Errorf("pattern %q: placeholder {%s} appears twice", s, ph.Name)
			}
			names[ph.Name] = true
			if lit.Len() == 0 && len(p.segments) > 0 {
				return nil, fmt.Errorf("pattern %q: placeholders {%s} and {%s} follow each other with nothing between them", s, p.segments[len(p.segments)-1].placeholder.Name, ph.Name)
			}
			if lit.Len() > 0 {
				p.segments = append(p.segments, segment{literal: lit.String()})
				lit.Reset()
			}
			p.segments = append(p.segments, segment{placeholder: ph})
			i = end + 1
		case c == '}':
			return nil, fmt.Errorf("pattern %q: } at %d closes no placeholder", s, i+1)
		case isChannelChar(c):
			lit.WriteByte(c)
			i++
		default:
			return nil, fmt.Errorf("pattern %q: %q at %d is not allowed in a channel name (letters, digits and _ - = @ , . ; only)", s, rune(c), i+1)
		}
	}
	if lit.Len() > 0 {
		p.segments = append(p.segments, segment{literal: lit.String()})
	}
	return p, nil
}

// closingBrace returns the index of the } closing the { at open, counting nested braces
// (a regular expression's {2,3}) and skipping escaped characters; -1 if none.
func closingBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parsePlaceholder parses the inside of braces: "id", "id:uuid", "code:re:[A-Z]{3}".
func parsePlaceholder(s string) (*Placeholder, error) {
	name, typ, typed := strings.Cut(s, ":")
	if !isIdentifier(name) {
		return nil, fmt.Errorf("placeholder {%s}: the name %q is not an identifier (a letter or _, then letters, digits or _)", s, name)
	}
	ph := &Placeholder{Name: name, Type: Digits}
	if !typed {
		return ph, nil
	}
	switch {
	case typ == string(UUID), typ == string(Slug):
		ph.Type = PlaceholderType(typ)
	case strings.HasPrefix(typ, "re:"):
		ph.Type, ph.Regexp = Regexp, typ[len("re:"):]
		if ph.Regexp == "" {
			return nil, fmt.Errorf("placeholder {%s}: the regular expression is empty", s)
		}
		re, err := regexp.Compile(`^(?:` + ph.Regexp + `)$`)
		if err != nil {
			return nil, fmt.Errorf("placeholder {%s}: %v", s, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("placeholder {%s}: the regular expression takes an empty text; a placeholder takes at least one character (+ rather than *)", s)
		}
		ph.re = re
	default:
		return nil, fmt.Errorf("placeholder {%s}: unknown type %q (digits are {%s}; the others are {%s:uuid}, {%s:slug}, {%s:re:REGEX})", s, typ, name, name, name, name)
	}
	return ph, nil
}

// match tells whether the name (without wire prefix) has the pattern's shape.
func (p *pattern) match(name string) bool { return matchSegments(p.segments, name) }

func matchSegments(segs []segment, s string) bool {
	for len(segs) > 0 {
		seg := &segs[0]
		if seg.placeholder == nil {
			if !strings.HasPrefix(s, seg.literal) {
				return false
			}
			s, segs = s[len(seg.literal):], segs[1:]
			continue
		}
		ph, rest := seg.placeholder, segs[1:]
		if len(rest) == 0 {
			return ph.matches(s)
		}
		// The placeholder ends where the next literal starts: try each place it does.
		next, limit := rest[0].literal, ph.span(s)
		for from := 1; from <= limit; {
			i := strings.Index(s[from:], next)
			if i < 0 || from+i > limit {
				return false
			}
			end := from + i
			if ph.matches(s[:end]) && matchSegments(rest, s[end:]) {
				return true
			}
			from = end + 1
		}
		return false
	}
	return s == ""
}

// source is the pattern as a Go regular expression, anchored at both ends.
func (p *pattern) source() string {
	var b strings.Builder
	b.WriteString("^")
	for _, s := range p.segments {
		if s.placeholder != nil {
			b.WriteString(s.placeholder.source())
		} else {
			b.WriteString(regexp.QuoteMeta(s.literal))
		}
	}
	b.WriteString("$")
	return b.String()
}

// firstWord is the pattern's text before its first dot when that text has no placeholder
// (every name it matches starts with it), else "".
func (p *pattern) firstWord() (string, bool) {
	if len(p.segments) == 0 || p.segments[0].placeholder != nil {
		return "", false
	}
	lit := p.segments[0].literal
	if i := strings.IndexByte(lit, '.'); i >= 0 {
		return lit[:i], true
	}
	if len(p.segments) == 1 {
		return lit, true // a name without placeholders nor dots
	}
	return "", false
}

// isChannelChar tells whether c may appear in a channel name: "lower and uppercase letters,
// numbers and the following punctuation _ - = @ , . ;"
// (https://pusher.com/docs/channels/using_channels/channels/#channel-naming-conventions).
func isChannelChar(c byte) bool {
	return isLetter(c) || isDigit(c) || strings.IndexByte("_-=@,.;", c) >= 0
}

func isDigit(c byte) bool           { return '0' <= c && c <= '9' }
func isLetter(c byte) bool          { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isLowerAlnum(c byte) bool      { return 'a' <= c && c <= 'z' || isDigit(c) }
func isHex(c byte) bool             { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func itoa(n int) string             { return strconv.Itoa(n) }
func isIdentifierStart(c byte) bool { return isLetter(c) || c == '_' }

// isIdentifier tells whether s is a letter or _ followed by letters, digits or _: usable as a
// PHP or TypeScript name.
func isIdentifier(s string) bool {
	if s == "" || !isIdentifierStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentifierStart(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}
