package catalogue

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one mistake in a catalogue, located by its entry.
type Problem struct {
	// File is the catalogue's file, if it was loaded from one.
	File string
	// Position and Line locate the entry (0: the whole file); Entry is its name.
	Position, Line int
	Entry          string
	Message        string
}

// String is the problem on one line: "channels.yaml: entry 2 (tenantAdmins, line 4): ...".
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ": ")
	}
	if p.Position > 0 {
		e := Entry{Name: p.Entry, Position: p.Position, Line: p.Line}
		b.WriteString(e.Where() + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems are the mistakes Parse found: the error it returns when the catalogue cannot be
// used, one line per problem.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses a catalogue file, YAML or JSON (JSON is read as the YAML it also
// is). Problems name the file.
func Load(path string) (*Catalogue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	var ps Problems
	if errors.As(err, &ps) {
		for i := range ps {
			ps[i].File = path
		}
		return nil, ps
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.File = path
	return c, nil
}

// fileEntry is an entry as written in the file.
type fileEntry struct {
	Name    string    `yaml:"name"`
	Pattern string    `yaml:"pattern"`
	Kind    kindsList `yaml:"kind"`
	Options `yaml:",inline"`
}

// keys are the keys an entry may have.
var keys = []string{"name", "pattern", "kind", "accept_client_events_from", "max_presence_members", "max_subscriptions", "cache"}

// kindsList is "kind: private" or "kind: [private, presence]".
type kindsList []string

func (k *kindsList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*k = kindsList{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return fmt.Errorf("kind is one kind or a list of kinds: %v", err)
	}
	*k = list
	return nil
}

// Parse parses a catalogue: a YAML or JSON list of entries
// ({name: tenant, pattern: "tenant.{id}", kind: private}). The error is a Problems listing
// every entry that cannot be used, or a syntax error. A parsed catalogue may still have the
// problems Check finds.
func Parse(data []byte) (*Catalogue, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("the catalogue is neither YAML nor JSON: %v", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil, Problems{{Message: "the catalogue is empty: it is a list of entries such as {name: tenant, pattern: \"tenant.{id}\", kind: private}"}}
	}
	list := root.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, Problems{{Line: list.Line, Message: fmt.Sprintf("line %d: the catalogue is a list of entries such as {name: tenant, pattern: \"tenant.{id}\", kind: private}", list.Line)}}
	}
	c := &Catalogue{}
	var problems Problems
	for i, item := range list.Content {
		e, msgs := parseEntry(item)
		e.Position, e.Line = i+1, item.Line
		for _, m := range msgs {
			problems = append(problems, Problem{Position: e.Position, Line: e.Line, Entry: e.Name, Message: m})
		}
		c.Entries = append(c.Entries, e)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	c.index = newIndex(c.Entries)
	return c, nil
}

// parseEntry parses one entry, returning what is wrong with it.
func parseEntry(n *yaml.Node) (*Entry, []string) {
	e := &Entry{}
	if n.Kind != yaml.MappingNode {
		return e, []string{"an entry is a mapping such as {name: tenant, pattern: \"tenant.{id}\", kind: private}"}
	}
	var msgs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if key := n.Content[i].Value; !contains(keys, key) {
			msgs = append(msgs, fmt.Sprintf("unknown key %q (the keys are %s)", key, strings.Join(keys, ", ")))
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			e.Name = n.Content[i+1].Value // for the messages, should the entry not decode
		}
	}
	var f fileEntry
	if err := n.Decode(&f); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return e, append(msgs, te.Errors...)
		}
		return e, append(msgs, err.Error())
	}
	e.Name, e.Pattern, e.Options = f.Name, f.Pattern, f.Options
	if e.Name == "" {
		msgs = append(msgs, "the entry has no name")
	}
	if e.Pattern == "" {
		msgs = append(msgs, "the entry has no pattern")
	} else if p, err := parsePattern(e.Pattern); err != nil {
		msgs = append(msgs, err.Error())
	} else {
		e.pattern = p
	}
	if len(f.Kind) == 0 {
		msgs = append(msgs, "the entry has no kind (public, private, presence or encrypted, or a list of them)")
	}
	for _, k := range f.Kind {
		switch kind := Kind(k); {
		case !kind.valid():
			msgs = append(msgs, fmt.Sprintf("unknown kind %q (public, private, presence or encrypted)", k))
		case e.HasKind(kind):
			msgs = append(msgs, fmt.Sprintf("kind %q is listed twice", k))
		default:
			e.Kinds = append(e.Kinds, kind)
		}
	}
	switch e.AcceptClientEventsFrom {
	case "", "members", "all", "none":
	default:
		msgs = append(msgs, fmt.Sprintf("accept_client_events_from is members, all or none, not %q", e.AcceptClientEventsFrom))
	}
	if e.MaxPresenceMembers < 0 {
		msgs = append(msgs, fmt.Sprintf("max_presence_members is at least 1, not %d (leave it out for the app's setting)", e.MaxPresenceMembers))
	}
	if e.MaxSubscriptions < 0 {
		msgs = append(msgs, fmt.Sprintf("max_subscriptions is at least 1, not %d (leave it out for the app's setting)", e.MaxSubscriptions))
	}
	return e, msgs
}

func contains(list []string, s string) bool {
	for _, have := range list {
		if have == s {
			return true
		}
	}
	return false
}
