package main

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// The histogram is log-linear, in the manner of HdrHistogram: values below 2·subCount have
// a bucket each, and every higher power of two is split into subCount equal buckets, so a
// recorded value is known to within 1/subCount (< 0.8 %) at any magnitude, in a fixed
// 57×128 buckets (58 KiB) whatever the number of samples.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount
)

// histogram counts non-negative int64 samples (nanoseconds here). Record is safe for
// concurrent use; negative samples count as 0.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	shift := bits.Len64(uint64(v)) - subBits - 1
	if shift < 0 {
		shift = 0
	}
	return shift*subCount + int(v>>shift)
}

// bucketRange returns the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi int64) {
	shift := i/subCount - 1
	if shift < 0 {
		shift = 0
	}
	lo = int64(i-shift*subCount) << shift
	return lo, lo + 1<<shift - 1
}

// Record adds one sample.
func (h *histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// histSnapshot is a point-in-time copy of one or more merged histograms.
type histSnapshot struct {
	counts []uint64
	n      uint64
	sum    uint64
	max    int64
}

// snapshot merges hs into one snapshot.
func snapshot(hs ...*histogram) *histSnapshot {
	s := &histSnapshot{counts: make([]uint64, numBuckets)}
	for _, h := range hs {
		for i := range h.counts {
			c := h.counts[i].Load()
			s.counts[i] += c
			s.n += c
		}
		s.sum += h.sum.Load()
		s.max = max(s.max, h.max.Load())
	}
	return s
}

// Count returns the number of samples.
func (s *histSnapshot) Count() uint64 { return s.n }

// Max returns the exact largest sample, 0 if none.
func (s *histSnapshot) Max() int64 { return s.max }

// Mean returns the exact mean, 0 if no samples.
func (s *histSnapshot) Mean() float64 {
	if s.n == 0 {
		return 0
	}
	return float64(s.sum) / float64(s.n)
}

// Percentile returns the value at or below which p percent of the samples fall (nearest
// rank), reported as the upper end of its bucket and never above the exact maximum; 0 if
// there are no samples.
func (s *histSnapshot) Percentile(p float64) int64 {
	if s.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(s.n)))
	rank = min(max(rank, 1), s.n)
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			_, hi := bucketRange(i)
			return min(hi, s.max)
		}
	}
	return s.max
}
