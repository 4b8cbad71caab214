package metricstest

import "testing"

// Sum adds the samples whose labels include the wanted pairs, whatever the metric type.
func TestSum(t *testing.T) {
	fams := Parse(t, `# TYPE c counter
c{app_id="1",code="4100"} 2
c{app_id="1",code="1009"} 3
c{app_id="2",code="4100"} 5
# TYPE g gauge
g{app_id="1"} 7
# TYPE h histogram
h_bucket{app_id="1",le="1"} 1
h_bucket{app_id="1",le="+Inf"} 4
h_sum{app_id="1"} 2.5
h_count{app_id="1"} 4
# TYPE u untyped
u 11
`)
	for _, c := range []struct {
		family string
		want   []string
		sum    float64
	}{
		{"c", nil, 10},
		{"c", []string{"app_id", "1"}, 5},
		{"c", []string{"app_id", "1", "code", "4100"}, 2},
		{"c", []string{"app_id", "3"}, 0},
		{"g", []string{"app_id", "1"}, 7},
		{"h", []string{"app_id", "1"}, 4},
		{"u", nil, 11},
		{"missing", nil, 0},
	} {
		if got := Sum(fams, c.family, c.want...); got != c.sum {
			t.Errorf("Sum(%s, %q) = %v, want %v", c.family, c.want, got, c.sum)
		}
	}
}
