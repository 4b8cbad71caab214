package live

// since returns the observations of h made after the earlier reading of the same histogram
// (all of them when earlier is nil or has no buckets).
func (h histogram) since(earlier *histogram) histogram {
	if earlier == nil || len(earlier.counts) != len(h.counts) {
		return h
	}
	d := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		d.counts[i] = max(h.counts[i]-earlier.counts[i], 0)
	}
	return d
}

// plus returns the sum of two histograms with the same buckets (either may be empty).
func (h histogram) plus(o histogram) histogram {
	if len(h.counts) == 0 {
		return o
	}
	if len(o.counts) != len(h.counts) {
		return h
	}
	s := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		s.counts[i] = h.counts[i] + o.counts[i]
	}
	return s
}

// count is the number of observations.
func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile estimates the q-quantile (0 < q ≤ 1) of the observations as Prometheus's
// histogram_quantile does: it finds the first bucket whose cumulative count reaches the rank
// and interpolates linearly within it, from 0 for the first bucket; a rank past every finite
// bucket gives the highest finite bound. It reports false without observations.
func (h histogram) quantile(q float64) (float64, bool) {
	total := h.count()
	if total == 0 || len(h.bounds) == 0 {
		return 0, false
	}
	rank := q * total
	for i, upper := range h.bounds {
		cum := h.counts[i]
		if cum < rank {
			continue
		}
		lower, before := 0.0, 0.0
		if i > 0 {
			lower, before = h.bounds[i-1], h.counts[i-1]
		}
		if cum == before {
			return upper, true
		}
		return lower + (upper-lower)*(rank-before)/(cum-before), true
	}
	return h.bounds[len(h.bounds)-1], true
}
