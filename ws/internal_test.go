package ws

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCheckLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const interval, window = 60 * time.Second, 60 * time.Second
	cases := []struct {
		name     string
		now      time.Time
		lastSeen time.Time
		pingedAt time.Time
		want     livenessAction
	}{
		{"recent activity", t0.Add(59 * time.Second), t0, time.Time{}, livenessNone},
		{"silent for the interval", t0.Add(60 * time.Second), t0, time.Time{}, livenessPing},
		{"pinged, waiting", t0.Add(119 * time.Second), t0, t0.Add(60 * time.Second), livenessNone},
		{"pinged, window over", t0.Add(120 * time.Second), t0, t0.Add(60 * time.Second), livenessDead},
		{"answered after the ping", t0.Add(200 * time.Second), t0.Add(61 * time.Second), t0.Add(60 * time.Second), livenessNone},
	}
	for _, tc := range cases {
		if got := checkLiveness(tc.now, tc.lastSeen, tc.pingedAt, interval, window); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := checkLiveness(t0.Add(time.Hour), t0, time.Time{}, 0, 0); got != livenessNone {
		t.Errorf("zero interval: got %v, want no ping", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `{"a":"b\/c"}`, "tab\tnew\nline\r", "ctl\x00\x1f", "<&>", "Zoë 🎉", "bad\xffutf8", "\u2028\u2029",
	} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q encodes to invalid JSON %s: %v", s, b, err)
			continue
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
	if got := string(appendJSONString(nil, "<a&b>")); got != `"<a&b>"` {
		t.Errorf("HTML characters escaped: %s", got)
	}
}

func TestOriginAllowed(t *testing.T) {
	cases := []struct {
		patterns []string
		origin   string
		want     bool
	}{
		{nil, "", true},
		{[]string{"*"}, "", true},
		{[]string{"example.com"}, "https://example.com", true},
		{[]string{"example.com"}, "https://example.com:8443", true},
		{[]string{"*.example.com"}, "https://app.example.com", true},
		{[]string{"*.example.com"}, "https://example.com", false},
		{[]string{"example.com"}, "https://evil.test", false},
		{[]string{"example.com"}, "", false},
		{[]string{"EXAMPLE.com"}, "https://example.COM", true},
	}
	for _, tc := range cases {
		if got := originAllowed(tc.patterns, tc.origin); got != tc.want {
			t.Errorf("originAllowed(%v, %q) = %v, want %v", tc.patterns, tc.origin, got, tc.want)
		}
	}
}
