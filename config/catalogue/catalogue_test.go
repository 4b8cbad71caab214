package catalogue

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// seed is the example app's catalogue, as the README shows it.
const seed = `
- {name: tenant, pattern: "tenant.{id}", kind: private}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: user, pattern: "user.{id}", kind: private}
- {name: order, pattern: "order.{id}", kind: private}
`

func mustParse(t testing.TB, data string) *Catalogue {
	t.Helper()
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestLoadYAMLAndJSON(t *testing.T) {
	yml, err := Load("testdata/channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(yml.Entries); got != "tenant tenantAdmins user order" {
		t.Errorf("YAML entries = %q", got)
	}
	if e := yml.Entries[1]; e.Pattern != "tenant.{id}.admins" || !reflect.DeepEqual(e.Kinds, []Kind{Private}) || e.Position != 2 || e.Line != 3 || yml.File != "testdata/channels.yaml" {
		t.Errorf("YAML entry 2 = %+v", e)
	}
	js, err := Load("testdata/channels.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		kinds []Kind
		opts  Options
		ph    []Placeholder
	}{
		{"tenant", []Kind{Private, Presence}, Options{}, []Placeholder{{Name: "id", Type: Digits}}},
		{"tenantAdmins", []Kind{Private}, Options{AcceptClientEventsFrom: "none"}, []Placeholder{{Name: "id", Type: Digits}}},
		{"user", []Kind{Private}, Options{MaxSubscriptions: 3}, []Placeholder{{Name: "id", Type: Digits}}},
		{"order", []Kind{Private}, Options{Cache: true}, []Placeholder{{Name: "id", Type: Digits}}},
		{"room", []Kind{Presence}, Options{MaxPresenceMembers: 100}, []Placeholder{{Name: "room", Type: UUID}}},
		{"team", []Kind{Public, Encrypted}, Options{}, []Placeholder{{Name: "team", Type: Slug}, {Name: "code", Type: Regexp, Regexp: "[A-Z]{3}"}}},
	}
	if len(js.Entries) != len(want) {
		t.Fatalf("JSON: %d entries, want %d", len(js.Entries), len(want))
	}
	for i, w := range want {
		e := js.Entries[i]
		var ph []Placeholder
		for _, p := range e.Placeholders() {
			p.re = nil
			ph = append(ph, p)
		}
		if e.Name != w.name || !reflect.DeepEqual(e.Kinds, w.kinds) || e.Options != w.opts || !reflect.DeepEqual(ph, w.ph) || e.Line != i+2 {
			t.Errorf("JSON entry %d = %+v %+v, want %+v", i+1, e, ph, w)
		}
	}
	if problems := Check(js); len(problems) > 0 {
		t.Errorf("Check(testdata/channels.json) = %v", problems)
	}
}

func names(es []*Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name)
	}
	return strings.Join(s, " ")
}

func TestMatch(t *testing.T) {
	c, err := Load("testdata/channels.json")
	if err != nil {
		t.Fatal(err)
	}
	for channel, want := range map[string]string{
		"private-tenant.5":           "tenant",
		"presence-tenant.5":          "tenant", // presence is among its kinds
		"tenant.5":                   "",       // public is not
		"private-encrypted-tenant.5": "",
		"private-cache-tenant.5":     "", // not a cache channel
		"private-tenant.05":          "tenant",
		"private-tenant.":            "",
		"private-tenant.x":           "",
		"private-tenant.5x":          "",
		"private-tenant.5.admins":    "tenantAdmins",
		"presence-tenant.5.admins":   "",
		"private-tenant.5.admin":     "",
		"private-tenant.5.admins.x":  "",
		"private-tenant.-5.admins":   "",
		"private-user.42":            "user",
		"private-order.7":            "", // order is a cache channel
		"private-cache-order.7":      "order",
		"cache-order.7":              "",
		"presence-room.123e4567-e89b-12d3-a456-426614174000":  "room",
		"presence-room.123E4567-E89B-12D3-A456-426614174000":  "room",
		"presence-room.123e4567-e89b-12d3-a456-42661417400":   "",
		"presence-room.123e4567-e89b-12d3-a456-4266141740000": "",
		"presence-room.123e4567+e89b-12d3-a456-426614174000":  "",
		"team.my-team.ABC":              "team",
		"private-encrypted-team.a1.XYZ": "team",
		"private-team.a1.XYZ":           "",
		"team.my-team.ABCD":             "",
		"team.my-team.abc":              "",
		"team.-team.ABC":                "",
		"team.my--team.ABC":             "",
		"team.My-team.ABC":              "",
		"":                              "",
		"private-":                      "",
	} {
		e, ok := c.Match(channel)
		got := ""
		if ok {
			got = e.Name
		}
		if got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", channel, got, ok, want)
		}
	}
	if e, ok := c.MatchName("order.7"); !ok || e.Name != "order" {
		t.Errorf("MatchName(order.7) = %v, %v", e, ok)
	}
	if _, ok := c.MatchName("order.x"); ok {
		t.Error("MatchName(order.x) matched")
	}
}

func TestMatchFirstInFileOrderWins(t *testing.T) {
	// An open pattern (a placeholder first) is tried in its place among the fixed ones.
	c := mustParse(t, `
- {name: anyAdmins, pattern: "{scope:slug}.{id}.admins", kind: private}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: tenant, pattern: "tenant.{id}", kind: private}
- {name: anything, pattern: "{any:re:.+}", kind: private}
`)
	for channel, want := range map[string]string{
		"private-tenant.5.admins": "anyAdmins",
		"private-tenant.5":        "tenant",
		"private-team.5.admins":   "anyAdmins",
		"private-x":               "anything",
		"private-tenant.x":        "anything",
	} {
		if e, ok := c.Match(channel); !ok || e.Name != want {
			t.Errorf("Match(%q) = %v, %v; want %s", channel, e, ok, want)
		}
	}
}

func TestMatchBacktracks(t *testing.T) {
	// The placeholder ends at the second ".1." for the literal after it to match.
	c := mustParse(t, `
- {name: a, pattern: "a.{x:re:[0-9.]+}.1.b", kind: public}
- {name: d, pattern: "d.{n}1", kind: public}
- {name: n, pattern: "nodots", kind: public}
`)
	for channel, want := range map[string]string{
		"a.1.1.1.b": "a",
		"a.1.1.b":   "a",
		"a.1.b":     "",
		"d.51":      "d",
		"d.1":       "",
		"nodots":    "n",
		"nodots.x":  "",
	} {
		got := ""
		if e, ok := c.Match(channel); ok {
			got = e.Name
		}
		if got != want {
			t.Errorf("Match(%q) = %q, want %q", channel, got, want)
		}
	}
}

func TestSplitAndWire(t *testing.T) {
	for _, tc := range []struct {
		wire  string
		kind  Kind
		cache bool
		name  string
	}{
		{"tenant.5", Public, false, "tenant.5"},
		{"private-tenant.5", Private, false, "tenant.5"},
		{"presence-tenant.5", Presence, false, "tenant.5"},
		{"private-encrypted-tenant.5", Encrypted, false, "tenant.5"},
		{"cache-tenant.5", Public, true, "tenant.5"},
		{"private-cache-tenant.5", Private, true, "tenant.5"},
		{"presence-cache-tenant.5", Presence, true, "tenant.5"},
		{"private-encrypted-cache-tenant.5", Encrypted, true, "tenant.5"},
	} {
		kind, cache, name := Split(tc.wire)
		if kind != tc.kind || cache != tc.cache || name != tc.name {
			t.Errorf("Split(%q) = %s, %v, %q", tc.wire, kind, cache, name)
		}
		if w := Wire(tc.kind, tc.cache, tc.name); w != tc.wire {
			t.Errorf("Wire(%s, %v, %q) = %q, want %q", tc.kind, tc.cache, tc.name, w, tc.wire)
		}
	}
}

func TestConstant(t *testing.T) {
	for name, want := range map[string]string{"tenant": "TENANT", "tenantAdmins": "TENANT_ADMINS", "tenant_admins": "TENANT_ADMINS", "TenantAdmins": "TENANT_ADMINS", "order2Items": "ORDER2_ITEMS", "HTTPServer": "HTTPSERVER"} {
		if got := (&Entry{Name: name}).Constant(); got != want {
			t.Errorf("Constant(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	c := mustParse(t, seed+`- {name: room, pattern: "room.{room:uuid}", kind: presence}
- {name: team, pattern: "team.{team:slug}.members", kind: private}
`)
	for channel, want := range map[string]string{
		"private-tenant.5.admin":    "tenant.{id}.admins",
		"private-tenant.5.admins":   "tenant.{id}.admins",
		"private-tennant.5":         "tenant.{id}",
		"private-tenants.5":         "tenant.{id}",
		"private-tenant.abc":        "tenant.{id}",
		"private-users.12":          "user.{id}",
		"private-user":              "user.{id}",
		"presence-order.7":          "order.{id}", // right name, wrong kind
		"private-tenant.5.admins.x": "tenant.{id}.admins",
		"private-TENANT.5":          "tenant.{id}", // case only
		"private-Tenant.5.Admin":    "tenant.{id}.admins",
		"presence-rooms.123e4567-e89b-12d3-a456-426614174000": "room.{room:uuid}",
		"private-team.my-team.member":                         "team.{team:slug}.members",
		"private-invoices.2024.archive":                       "",
		"private-something-else":                              "",
	} {
		if got := c.Suggest(channel); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", channel, got, want)
		}
	}
	if got := (&Catalogue{}).Suggest("private-tenant.5"); got != "" {
		t.Errorf("empty catalogue: Suggest = %q", got)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{``, "the catalogue is empty"},
		{`{name: a}`, "line 1: the catalogue is a list of entries"},
		{`[`, "the catalogue is neither YAML nor JSON"},
		{`["x"]`, "entry 1 (no name, line 1): an entry is a mapping"},
		{`[{name: a, pattern: "a.{id", kind: public}]`, `entry 1 (a, line 1): pattern "a.{id": the placeholder at 3 has no closing }`},
		{`[{name: a, pattern: "a.id}", kind: public}]`, `} at 5 closes no placeholder`},
		{`[{name: a, pattern: "a.{id:int}", kind: public}]`, `placeholder {id:int}: unknown type "int"`},
		{`[{name: a, pattern: "a.{1d}", kind: public}]`, `the name "1d" is not an identifier`},
		{`[{name: a, pattern: "a.{}", kind: public}]`, `the name "" is not an identifier`},
		{`[{name: a, pattern: "a.{x:re:}", kind: public}]`, `the regular expression is empty`},
		{`[{name: a, pattern: "a.{x:re:[a-}", kind: public}]`, `placeholder {x:re:[a-}: error parsing regexp`},
		{`[{name: a, pattern: "a.{x:re:[a-z]*}", kind: public}]`, `placeholder {x:re:[a-z]*}: the regular expression takes an empty text`},
		{`[{name: a, pattern: "a.{x}{y}", kind: public}]`, `placeholders {x} and {y} follow each other`},
		{`[{name: a, pattern: "a.{x}.{x}", kind: public}]`, `placeholder {x} appears twice`},
		{`[{name: a, pattern: "a/{x}", kind: public}]`, `'/' at 2 is not allowed in a channel name`},
		{`[{name: a, kind: public}]`, `the entry has no pattern`},
		{`[{pattern: a, kind: public}]`, `entry 1 (no name, line 1): the entry has no name`},
		{`[{name: a, pattern: a}]`, `the entry has no kind`},
		{`[{name: a, pattern: a, kind: secret}]`, `unknown kind "secret"`},
		{`[{name: a, pattern: a, kind: [private, private]}]`, `kind "private" is listed twice`},
		{`[{name: a, pattern: a, kind: {x: 1}}]`, `kind is one kind or a list of kinds`},
		{`[{name: a, pattern: a, kind: public, kinds: private}]`, `unknown key "kinds"`},
		{`[{name: a, pattern: a, kind: public, accept_client_events_from: everyone}]`, `accept_client_events_from is members, all or none, not "everyone"`},
		{`[{name: a, pattern: a, kind: public, max_subscriptions: -1}]`, `max_subscriptions is at least 1, not -1`},
		{`[{name: a, pattern: a, kind: presence, max_presence_members: -2}]`, `max_presence_members is at least 1, not -2`},
		{`[{name: a, pattern: a, kind: public, max_subscriptions: many}]`, "entry 1 (a, line 1): line 1: cannot unmarshal !!str `many` into int"},
		{"- {name: a, pattern: a, kind: public}\n- {name: b, pattern: 'b.{', kind: public}\n", `entry 2 (b, line 2): pattern "b.{"`},
	} {
		_, err := Parse([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.data, err, tc.want)
		}
	}
	// Every problem is reported, one line each.
	_, err := Parse([]byte("- {name: a, pattern: 'a.{', kind: nope}\n- {name: b, pattern: b, kind: public}\n- {pattern: c, kind: public}\n"))
	if ps, ok := err.(Problems); !ok || len(ps) != 3 || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("Parse: %#v", err)
	}
	if _, err := Parse([]byte(`[]`)); err != nil {
		t.Errorf("Parse([]) = %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/bad.yaml: entry 2 (tenant, line 2): ") {
		t.Errorf("Load(bad.yaml) = %v", err)
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Error("Load(missing.yaml) succeeded")
	}
}

func TestCheck(t *testing.T) {
	c := mustParse(t, `
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}
- {name: tenantAny, pattern: "tenant.{key:re:[a-z0-9]+}", kind: presence}
- {name: tenantCache, pattern: "tenant.{id}", kind: private, cache: true}
- {name: tenantPublic, pattern: "tenant.{id}", kind: public}
- {name: tenant, pattern: "private-user.{id}", kind: private}
- {name: tenant_any, pattern: "cache-x", kind: public}
- {name: order-items, pattern: "order.{id}.items", kind: private, max_presence_members: 10}
- {name: roomA, pattern: "room.{r:uuid}", kind: presence}
- {name: roomB, pattern: "room.{r:re:[0-9a-f-]+}", kind: presence}
- {name: teamA, pattern: "team.{t:slug}", kind: private}
- {name: teamB, pattern: "team.{t:re:[A-Z]+}", kind: private}
- {name: x1, pattern: "{a:slug}.admins", kind: private}
- {name: x2, pattern: "tenant.{id}.admins", kind: private}
- {name: dotted, pattern: "d.{path:re:[a-z.]+}", kind: presence}
`) // a slug has no dot: x1 and x2 do not overlap; nor do teamA and teamB (a slug is lower case)
	var got []string
	for _, p := range Check(c) {
		got = append(got, p.String())
	}
	want := []string{
		`entry 2 (tenantAny, line 3): the pattern "tenant.{key:re:[a-z0-9]+}" overlaps "tenant.{id}" of entry 1 (tenant, line 2): both match "tenant.0" as presence ("presence-tenant.0"); the first in the file wins`,
		`entry 5 (tenant, line 6): the name "tenant" is already the name of entry 1 (tenant, line 2)`,
		`entry 5 (tenant, line 6): the pattern "private-user.{id}" starts with the wire prefix "private-": write the name as the app does ("user.{id}") and give the kind (kind: private)`,
		`entry 6 (tenant_any, line 7): the name "tenant_any" and the name of entry 2 (tenantAny, line 3) give the same constant TENANT_ANY_CHANNEL_PATTERN`,
		`entry 6 (tenant_any, line 7): the pattern "cache-x" starts with the wire prefix "cache-": write the name as the app does ("x") and give the kind (cache: true)`,
		`entry 7 (order-items, line 8): the name "order-items" is not an identifier (a letter or _, then letters, digits or _): it names the generated helpers`,
		`entry 7 (order-items, line 8): max_presence_members applies to presence channels, and presence is not among the kinds (private)`,
		`entry 9 (roomB, line 10): the pattern "room.{r:re:[0-9a-f-]+}" overlaps "room.{r:uuid}" of entry 8 (roomA, line 9): both match "room.00000000-0000-0000-0000-000000000000" as presence ("presence-room.00000000-0000-0000-0000-000000000000"); the first in the file wins`,
		`entry 12 (x1, line 13): the pattern "{a:slug}.admins" overlaps "team.{t:slug}" of entry 10 (teamA, line 11): both match "team.admins" as private ("private-team.admins"); the first in the file wins`,
		`entry 14 (dotted, line 15): placeholder {path} takes a dot ("."): Laravel's Broadcast::channel never matches a dot in a placeholder`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ps := Check(mustParse(t, seed)); len(ps) != 0 {
		t.Errorf("Check(seed) = %v", ps)
	}
}

func TestCheckNamesTheFile(t *testing.T) {
	c, err := Load("testdata/overlap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := Check(c)
	if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), "testdata/overlap.yaml: entry 2 (again, line 2): the pattern") {
		t.Errorf("Check(overlap.yaml) = %v", ps)
	}
}

func TestParts(t *testing.T) {
	e := mustParse(t, `[{name: a, pattern: "team.{t:slug}.x{n}", kind: public}]`).Entries[0]
	var s []string
	for _, p := range e.Parts() {
		if p.Placeholder != nil {
			s = append(s, p.Placeholder.String())
		} else {
			s = append(s, fmt.Sprintf("%q", p.Literal))
		}
	}
	if got := strings.Join(s, " "); got != `"team." {t:slug} ".x" {n}` {
		t.Errorf("Parts = %s", got)
	}
}
