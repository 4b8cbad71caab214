package ws

import (
	"slices"
	"testing"
	"time"
)

func TestBurstRelease(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type sweep struct {
		conns, subs int
		want        bool
	}
	cases := []struct {
		name   string
		sweeps []sweep
	}{
		{"a storm, released once it settles", []sweep{
			{0, 0, false}, {8000, 0, false}, {19000, 0, false}, {19000, 0, true}, {19000, 0, false}, {19050, 0, false},
		}},
		{"a storm whose clients still subscribe", []sweep{
			{0, 0, false}, {19000, 9000, false}, {19000, 50000, false}, {19000, 56901, false}, {19000, 57000, true},
		}},
		{"unsubscribing is movement too", []sweep{
			{0, 0, false}, {2000, 9000, false}, {2000, 8800, false}, {2000, 8750, true},
		}},
		{"the count still moving by a tenth of the growth", []sweep{
			{5000, 0, false}, {5100, 0, false}, {5200, 0, false}, {5299, 0, true},
		}},
		{"a growth of burstGrowth exactly is no burst", []sweep{
			{400, 0, false}, {800, 0, false}, {1000, 0, false}, {1000, 0, false}, {1001, 0, true},
		}},
		{"a burst after a release counts from the released count", []sweep{
			{3000, 0, false}, {3000, 0, true}, {3900, 0, false}, {3900, 0, false},
		}},
		{"growth is counted from the fewest connections since the release", slices.Concat(
			[]sweep{{3000, 0, false}, {3000, 0, true}},
			repeat(sweep{2500, 0, false}, 10),
			[]sweep{{3400, 0, false}, {3400, 0, false}, {3600, 0, false}, {3650, 0, true}},
		)},
		{"a burst after the connections left", slices.Concat(
			[]sweep{{3000, 0, false}, {3000, 0, true}},
			repeat(sweep{0, 0, false}, 10),
			[]sweep{{2000, 0, false}, {2000, 0, true}},
		)},
	}
	for _, tc := range cases {
		var b burstRelease
		for i, s := range tc.sweeps {
			if got := b.observe(t0.Add(time.Duration(i)*time.Second), s.conns, s.subs); got != s.want {
				t.Errorf("%s: sweep %d (%d connections) released %v, want %v", tc.name, i, s.conns, got, s.want)
			}
		}
	}
}

func TestBurstReleaseInterval(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var b burstRelease
	b.observe(t0, 5000, 0)
	if !b.observe(t0.Add(time.Second), 5000, 0) {
		t.Fatal("a settled burst of 5000 was not released")
	}
	// A second burst settles 3 s later: it waits until releaseInterval has passed, then is
	// released at the first sweep after.
	at := t0.Add(2 * time.Second)
	b.observe(at, 9000, 0)
	for at = at.Add(time.Second); at.Before(t0.Add(time.Second + releaseInterval)); at = at.Add(time.Second) {
		if b.observe(at, 9000, 0) {
			t.Fatalf("released again %v after the last release", at.Sub(t0.Add(time.Second)))
		}
	}
	if !b.observe(at, 9000, 0) {
		t.Errorf("not released %v after the last release", at.Sub(t0.Add(time.Second)))
	}
}

func repeat[T any](v T, n int) []T { return slices.Repeat([]T{v}, n) }
