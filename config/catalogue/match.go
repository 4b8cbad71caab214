package catalogue

import "strings"

// index finds the entries a name may match without trying them all: most patterns start
// with a fixed word ("tenant" in "tenant.{id}"), and a name is tried only against the
// entries of its own first word and those whose pattern starts with a placeholder.
type index struct {
	byWord map[string][]*Entry // per first word, with the open entries, in file order
	open   []*Entry            // entries without a fixed first word, in file order
}

func newIndex(entries []*Entry) index {
	ix := index{byWord: map[string][]*Entry{}}
	for _, e := range entries {
		if _, fixed := e.pattern.firstWord(); !fixed {
			ix.open = append(ix.open, e)
		}
	}
	for _, e := range entries {
		word, fixed := e.pattern.firstWord()
		if !fixed || ix.byWord[word] != nil {
			continue
		}
		for _, other := range entries { // this word's entries and the open ones, in file order
			if w, f := other.pattern.firstWord(); !f || w == word {
				ix.byWord[word] = append(ix.byWord[word], other)
			}
		}
	}
	return ix
}

// candidates are the entries the name may match, in file order.
func (ix *index) candidates(name string) []*Entry {
	word := name
	if i := strings.IndexByte(name, '.'); i >= 0 {
		word = name[:i]
	}
	if es, ok := ix.byWord[word]; ok {
		return es
	}
	return ix.open
}

// Match returns the entry of a wire channel name ("private-tenant.5"): the first entry, in
// file order, whose pattern the name matches once its prefix is taken off, that has the
// prefix's kind among its kinds and whose cache option agrees with the prefix.
// "presence-tenant.5" matches an entry "tenant.{id}" only if presence is among its kinds.
func (c *Catalogue) Match(channel string) (*Entry, bool) {
	kind, cache, name := Split(channel)
	for _, e := range c.index.candidates(name) {
		if e.Cache == cache && e.HasKind(kind) && e.pattern.match(name) {
			return e, true
		}
	}
	return nil, false
}

// MatchName returns the first entry whose pattern the name as the app writes it ("tenant.5",
// without prefix) matches, whatever the kinds: what a channel outside the catalogue was meant
// to be when only its kind is wrong.
func (c *Catalogue) MatchName(name string) (*Entry, bool) {
	for _, e := range c.index.candidates(name) {
		if e.pattern.match(name) {
			return e, true
		}
	}
	return nil, false
}
