package catalogue

import (
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"
)

// Check finds what makes a parsed catalogue ambiguous or unusable for generated code: names
// that are not identifiers or that are used twice (also once turned into a constant:
// tenantAdmins and tenant_admins both give TENANT_ADMINS), patterns written with a wire
// prefix, options that cannot apply, and patterns that overlap (two entries match a same
// name of a same kind: the first in the file wins, which is seldom what was meant).
func Check(c *Catalogue) []Problem {
	var ps []Problem
	add := func(e *Entry, format string, args ...any) {
		ps = append(ps, Problem{File: c.File, Position: e.Position, Line: e.Line, Entry: e.Name, Message: fmt.Sprintf(format, args...)})
	}
	byConstant := map[string]*Entry{}
	for _, e := range c.Entries {
		if !isIdentifier(e.Name) {
			add(e, "the name %q is not an identifier (a letter or _, then letters, digits or _): it names the generated helpers", e.Name)
		} else if first := byConstant[e.Constant()]; first != nil {
			if first.Name == e.Name {
				add(e, "the name %q is already the name of %s", e.Name, first.Where())
			} else {
				add(e, "the name %q and the name of %s give the same constant %s_CHANNEL_PATTERN", e.Name, first.Where(), e.Constant())
			}
		} else {
			byConstant[e.Constant()] = e
		}
		for _, prefix := range []string{"private-encrypted-", "private-", "presence-", "cache-"} {
			if strings.HasPrefix(e.Pattern, prefix) {
				add(e, "the pattern %q starts with the wire prefix %q: write the name as the app does (%q) and give the kind (%s)", e.Pattern, prefix, e.Pattern[len(prefix):], prefixAdvice(prefix))
				break
			}
		}
		for _, ph := range e.Placeholders() {
			if ph.Type != Regexp {
				continue
			}
			if name, ok := overlap(compileSource("^"+ph.source()+"$"), withDot); ok {
				add(e, "placeholder {%s} takes a dot (%q): Laravel's Broadcast::channel never matches a dot in a placeholder", ph.Name, name)
			}
		}
		if e.MaxPresenceMembers > 0 && !e.HasKind(Presence) {
			add(e, "max_presence_members applies to presence channels, and presence is not among the kinds (%s)", kindList(e.Kinds))
		}
	}
	progs := map[*pattern]*syntax.Prog{}
	for _, e := range c.Entries {
		progs[e.pattern] = compile(e.pattern)
	}
	for j, b := range c.Entries {
		for _, a := range c.Entries[:j] {
			if a.Cache != b.Cache {
				continue
			}
			var shared []Kind
			for _, k := range b.Kinds {
				if a.HasKind(k) {
					shared = append(shared, k)
				}
			}
			if len(shared) == 0 {
				continue
			}
			if name, ok := overlap(progs[a.pattern], progs[b.pattern]); ok {
				add(b, "the pattern %q overlaps %q of %s: both match %q as %s (%q); the first in the file wins", b.Pattern, a.Pattern, a.Where(), name, shared[0], Wire(shared[0], a.Cache, name))
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Position < ps[j].Position })
	return ps
}

func prefixAdvice(prefix string) string {
	switch prefix {
	case "private-encrypted-":
		return "kind: encrypted"
	case "private-":
		return "kind: private"
	case "presence-":
		return "kind: presence"
	}
	return "cache: true"
}

func kindList(kinds []Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Constant is the entry's name in upper snake case, the stem of the generated PHP constant:
// "tenantAdmins" gives "TENANT_ADMINS" (TENANT_ADMINS_CHANNEL_PATTERN).
func (e *Entry) Constant() string {
	var b strings.Builder
	for i := 0; i < len(e.Name); i++ {
		c := e.Name[i]
		if 'A' <= c && c <= 'Z' && i > 0 && (isLowerAlnum(e.Name[i-1])) {
			b.WriteByte('_')
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// alphabet is every character a channel name may hold.
var alphabet = func() []rune {
	var rs []rune
	for c := 0; c < 128; c++ {
		if isChannelChar(byte(c)) {
			rs = append(rs, rune(c))
		}
	}
	return rs
}()

// overlap tells whether two patterns' automata match a same name, and returns the shortest such name.
// It walks the product of the two patterns' automata over the characters of channel names.
func overlap(pa, pb *syntax.Prog) (string, bool) {
	type state struct{ a, b uint32 }
	type step struct {
		from state
		c    rune
	}
	seen := map[state]step{}
	var queue []state
	for _, x := range closure(pa, uint32(pa.Start)) {
		for _, y := range closure(pb, uint32(pb.Start)) {
			s := state{x, y}
			if _, ok := seen[s]; !ok {
				seen[s] = step{from: s, c: -1}
				queue = append(queue, s)
			}
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		ia, ib := &pa.Inst[s.a], &pb.Inst[s.b]
		if ia.Op == syntax.InstMatch && ib.Op == syntax.InstMatch {
			var name []rune
			for s != seen[s].from {
				name = append([]rune{seen[s].c}, name...)
				s = seen[s].from
			}
			return string(name), true
		}
		if !consumes(ia.Op) || !consumes(ib.Op) {
			continue
		}
		for _, c := range alphabet {
			if !ia.MatchRune(c) || !ib.MatchRune(c) {
				continue
			}
			for _, x := range closure(pa, ia.Out) {
				for _, y := range closure(pb, ib.Out) {
					next := state{x, y}
					if _, ok := seen[next]; !ok {
						seen[next] = step{from: s, c: c}
						queue = append(queue, next)
					}
				}
			}
		}
	}
	return "", false
}

// withDot is the automaton of the names that hold a dot.
var withDot = compileSource(`^.*\..*$`)

// compile compiles a pattern to the automaton of its regular expression.
func compile(p *pattern) *syntax.Prog { return compileSource(p.source()) }

// compileSource compiles a regular expression that parsePattern already compiled once.
func compileSource(src string) *syntax.Prog {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		panic("catalogue: a parsed pattern does not compile: " + err.Error()) // parsePattern compiled it
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		panic("catalogue: a parsed pattern does not compile: " + err.Error())
	}
	return prog
}

func consumes(op syntax.InstOp) bool {
	switch op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

// closure is the instructions that consume a character or match, reachable from pc without
// consuming one. Anchors count as passed: a pattern's expression has them only at its ends.
func closure(p *syntax.Prog, pc uint32) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	var walk func(uint32)
	walk = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &p.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			walk(in.Out)
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	walk(pc)
	return out
}
