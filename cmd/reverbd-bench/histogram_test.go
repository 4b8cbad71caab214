package main

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// rng is seeded so the sample sets, and so the tests, are the same on every run.
var rng = rand.New(rand.NewPCG(1, 2))

// TestBucketRoundTrip checks that every value falls in the bucket whose range holds it and
// that the range is within the promised relative precision.
func TestBucketRoundTrip(t *testing.T) {
	vals := []int64{0, 1, 127, 128, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, 1<<40 + 7, 1<<62 + 99, 1<<63 - 1}
	for i := 0; i < 10000; i++ {
		vals = append(vals, rng.Int64N(1<<50))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v >= 2*subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket [%d, %d] wider than 1/%d", lo, hi, subCount)
		}
		if v < 2*subCount && lo != hi {
			t.Fatalf("small value %d not exact: [%d, %d]", v, lo, hi)
		}
	}
}

// TestPercentiles compares the histogram's percentiles with exact nearest-rank ones.
func TestPercentiles(t *testing.T) {
	var h histogram
	samples := make([]int64, 0, 100000)
	for i := 1; i <= 100000; i++ {
		// Latency-like: microseconds to hundreds of milliseconds, in nanoseconds.
		v := int64(1000 + rng.ExpFloat64()*2e6)
		samples = append(samples, v)
		h.Record(v)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	s := snapshot(&h)
	if s.Count() != uint64(len(samples)) {
		t.Fatalf("count %d, want %d", s.Count(), len(samples))
	}
	if s.Max() != samples[len(samples)-1] {
		t.Fatalf("max %d, want %d", s.Max(), samples[len(samples)-1])
	}
	for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
		exact := samples[max(0, int(p/100*float64(len(samples))+0.999999)-1)]
		got := s.Percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
			t.Errorf("p%v = %d, exact %d", p, got, exact)
		}
	}
}

// TestPercentilesSmall checks exact answers on small integer samples and merging.
func TestPercentilesSmall(t *testing.T) {
	var a, b histogram
	for v := int64(1); v <= 100; v++ {
		if v%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	s := snapshot(&a, &b)
	for p, want := range map[float64]int64{50: 50, 90: 90, 99: 99, 100: 100, 0.5: 1} {
		if got := s.Percentile(p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
	if m := s.Mean(); m != 50.5 {
		t.Errorf("mean %v, want 50.5", m)
	}
	var empty histogram
	if e := snapshot(&empty); e.Percentile(99) != 0 || e.Max() != 0 || e.Mean() != 0 {
		t.Error("empty histogram should report zeros")
	}
}
