package ws

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// compiledTextFrame is the frame gobwas/ws compiles for payload, the reference for
// textFrame's own header.
func compiledTextFrame(payload []byte) []byte { return ws.MustCompileFrame(ws.NewTextFrame(payload)) }

// jsonStringSamples covers every escaping rule of appendJSONString.
var jsonStringSamples = []string{
	"", "plain", `quote " backslash \ slash /`, "nl\n cr\r tab\t bs\b ff\f nul\x00 us\x1f del\x7f",
	"<b>&amp;</b>", "Zoë 😀 \u2028 \u2029 \u2027", "bad \xff\xfe utf-8 \xe2\x80", "\xe2\x80\xa8 cut \xf0\x9f\x98",
}

func TestJSONStringLen(t *testing.T) {
	for _, s := range jsonStringSamples {
		got := appendJSONString(nil, s)
		if n := jsonStringLen(s); n != len(got) {
			t.Errorf("jsonStringLen(%q) = %d, want %d (%s)", s, n, len(got), got)
		}
		if b := appendJSONString(nil, []byte(s)); string(b) != string(got) || jsonStringLen([]byte(s)) != len(got) {
			t.Errorf("appendJSONString of %q as bytes = %s, as a string %s", s, b, got)
		}
	}
}

// FuzzJSONString checks jsonStringLen against appendJSONString, for strings and byte slices.
func FuzzJSONString(f *testing.F) {
	for _, s := range jsonStringSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if n := jsonStringLen(s); n != len(got) {
			t.Errorf("jsonStringLen(%q) = %d, want %d", s, n, len(got))
		}
		if b := appendJSONString(nil, []byte(s)); string(b) != string(got) || jsonStringLen([]byte(s)) != len(got) {
			t.Errorf("appendJSONString of %q as bytes = %q, as a string %q", s, b, got)
		}
	})
}

// Frames of every header size (7-, 16- and 64-bit lengths) are the bytes gobwas/ws compiles,
// in a buffer of their exact size.
func TestTextAndEventFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := []byte(strings.Repeat("x", n))
		if got, want := textFrame(payload), compiledTextFrame(payload); string(got) != string(want) || cap(got) != len(got) {
			t.Errorf("textFrame of %d bytes: %d bytes (cap %d), want %d", n, len(got), cap(got), len(want))
		}
	}
	for _, data := range append(jsonStringSamples, strings.Repeat(`{"a":"é"}`, 20), strings.Repeat(`"`, 40000)) {
		for _, channel := range []string{"", "private-x", "presence-é\"x"} {
			want := compiledTextFrame(eventPayload(nil, "ev\"ent", channel, data))
			if got := eventFrame("ev\"ent", channel, data); string(got) != string(want) || cap(got) != len(got) {
				t.Errorf("eventFrame(%q, %q): %q (cap %d), want %q", channel, data, got, cap(got), want)
			}
			if got := eventFrame("ev\"ent", channel, []byte(data)); string(got) != string(want) {
				t.Errorf("eventFrame(%q, bytes %q): %q, want %q", channel, data, got, want)
			}
		}
	}
}

// referenceSucceededFrame is how the presence subscription_succeeded frame was built before
// it got one exact-size buffer: the member list as a string, escaped into the payload, and
// the payload compiled by gobwas/ws.
func referenceSucceededFrame(channel string, members []registry.Member) []byte {
	b := []byte(`{"presence":{"count":`)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	b = append(b, `,"ids":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.RawID...)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, m.UserID)
		b = append(b, ':')
		if m.Info != nil {
			b = append(b, m.Info...)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, "}}}"...)
	return compiledTextFrame(eventPayload(nil, "pusher_internal:subscription_succeeded", channel, string(b)))
}

// The presence subscription_succeeded frame is byte for byte the one built before, for
// members with and without user_info, numeric and string ids, ids and infos that need
// escaping, and lists of every frame header size.
func TestPresenceSucceededFrame(t *testing.T) {
	app := config.App{ID: "1", Key: "k", Secret: "s"}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.writers.stop)
	kinds := []registry.Member{
		{UserID: "7", RawID: []byte("7"), Info: []byte(`{"id":7,"name":"User 7"}`)},
		{UserID: "8", RawID: []byte("8")},
		{UserID: "u-9", RawID: []byte(`"u-9"`), Info: []byte(`{"name":"Zoë \"Z\" <b>\u2028"}`)},
		{UserID: "q\"é\u2028", RawID: []byte(`"q\"é\u2028"`), Info: []byte(`"just a string"`)},
		{UserID: "1.5e3", RawID: []byte("1.5e3"), Info: []byte("null")},
		{UserID: "tab\there\\ \x01 " + strings.Repeat("long ", 20), RawID: []byte(`"tab\there\\ \u0001 ` + strings.Repeat("long ", 20) + `"`)},
		{UserID: "bad \xff\xe2\x80", RawID: []byte("\"bad \xff\xe2\x80\""), Info: []byte("{\"cut\":\"\xf0\x9f\"}")},
	}
	for _, count := range []int{0, 1, 5, 40, 2000} {
		channel := "presence-" + strconv.Itoa(count)
		var members []registry.Member
		for i := range count {
			m := kinds[i%len(kinds)]
			if i >= len(kinds) {
				m.UserID += "-" + strconv.Itoa(i)
				m.RawID = []byte(strconv.Quote(m.UserID))
			}
			members = append(members, m)
			if _, err := s.occupancy.Subscribe(context.Background(), "1", channel, "s."+strconv.Itoa(i), &m, 0); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // the second time with a pooled buffer
			read, err := s.occupancy.Members(context.Background(), "1", channel)
			if err != nil {
				t.Fatal(err)
			}
			got := presenceSucceededFrame(channel, read.Members)
			if want := referenceSucceededFrame(channel, members); string(got) != string(want) {
				t.Fatalf("%d members: frame of %d bytes differs from the reference of %d:\n%.300q\n%.300q", count, len(got), len(want), got, want)
			}
			if cap(got) != len(got) {
				t.Errorf("%d members: frame of %d bytes in a buffer of %d", count, len(got), cap(got))
			}
		}
	}
}

// FuzzPresenceData checks the member list escaped piece by piece against the list escaped
// whole, for members with arbitrary ids and infos.
func FuzzPresenceData(f *testing.F) {
	f.Add("7", "7", `{"name":"Zoë"}`, "u\"1", `"u\"1"`, "")
	f.Add("bad \xff", "\"\xe2\x80", "\u2028", "\x00", "1e3", "null")
	f.Fuzz(func(t *testing.T, id1, raw1, info1, id2, raw2, info2 string) {
		members := []registry.Member{{UserID: id1, RawID: []byte(raw1)}, {UserID: id2, RawID: []byte(raw2)}}
		for i, info := range []string{info1, info2} {
			if info != "" {
				members[i].Info = []byte(info)
			}
		}
		got := escapedEventFrame("pusher_internal:subscription_succeeded", "presence-x", appendPresenceData(nil, members))
		if want := referenceSucceededFrame("presence-x", members); string(got) != string(want) {
			t.Errorf("members %q:\n%q\nwant\n%q", members, got, want)
		}
	})
}
