package main

import (
	"math"
	"testing"
)

func TestToMesh(t *testing.T) {
	got := toMesh([]float32{1, 2, 3, 4}, []int32{0, 3, 5, 12}, 6)
	want := []float32{1, nan(), nan(), 2, nan(), 3}
	for i := range want {
		if !(got[i] == want[i] || (math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i])))) {
			t.Fatalf("vertex %d = %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}

func nan() float32 { return float32(math.NaN()) }

func TestSymmetricLimit(t *testing.T) {
	var lh []float32
	for i := range 100 {
		lh = append(lh, float32(i)-49.5) // |v| from 0.5 to 49.5
	}
	rh := []float32{nan(), float32(math.Inf(1)), 1000} // one outlier
	got := symmetricLimit([2][]float32{lh, rh})
	// 101 finite values; index int(0.98*100) = 98 of the sorted |v|: 0.5,0.5,1.5,1.5,... → 49.5
	if got != 49.5 {
		t.Fatalf("limit %v, want 49.5", got)
	}
	for _, tc := range [][2][]float32{{nil, nil}, {{0, 0}, {nan()}}} {
		if got := symmetricLimit(tc); got != 1 {
			t.Fatalf("degenerate limit %v, want 1", got)
		}
	}
}

func TestPercentileRange(t *testing.T) {
	var m [2][]float32
	for i := range 101 {
		m[i%2] = append(m[i%2], float32(i))
	}
	m[0] = append(m[0], nan(), float32(math.Inf(1)))
	if lo, hi := percentileRange(m, 0.02, 0.98); lo != 2 || hi != 98 {
		t.Errorf("range %g..%g, want 2..98", lo, hi)
	}
	if lo, hi := percentileRange([2][]float32{{3, 3}, {nan()}}, 0.02, 0.98); lo != 2 || hi != 4 {
		t.Errorf("constant map: range %g..%g, want 2..4", lo, hi)
	}
	if lo, hi := percentileRange([2][]float32{{nan()}, nil}, 0.02, 0.98); lo != -1 || hi != 1 {
		t.Errorf("empty map: range %g..%g, want -1..1", lo, hi)
	}
}

func TestHasDatasetImages(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"type":"welcome","welcome":{"subjects":[1],"dataset_images":true}}`:  true,
		`{"type":"welcome","welcome":{"subjects":[1],"dataset_images":false}}`: false,
		`{"type":"welcome","welcome":{"subjects":[1]}}`:                        false,
		`not json`: false,
	} {
		if got := hasDatasetImages([]byte(raw)); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}

func TestZDifference(t *testing.T) {
	// NaN in either map gives NaN.
	d := zDifference([2][]float32{{7, 9, 11}, {13, 1}}, [2][]float32{{1, 2, 3}, {4, nan()}})
	if !math.IsNaN(float64(d[1][1])) || math.IsNaN(float64(d[0][0])) {
		t.Errorf("NaN handling: %v", d)
	}
	// Independent check on maps without NaN: z(2x+5) − z(x) = 0.
	d = zDifference([2][]float32{{7, 9}, {11, 13}}, [2][]float32{{1, 2}, {3, 4}})
	for h := range 2 {
		for i, v := range d[h] {
			if math.Abs(float64(v)) > 1e-6 {
				t.Errorf("z(2x+5) - z(x) at %d/%d = %v, want 0", h, i, v)
			}
		}
	}
	// Known values: x = (0, 2) has mean 1, population sd 1: z = (-1, 1); minus a constant
	// map (z = 0): (-1, 1).
	d = zDifference([2][]float32{{0, 2}, nil}, [2][]float32{{5, 5}, nil})
	if d[0][0] != -1 || d[0][1] != 1 {
		t.Errorf("z difference %v, want [-1 1]", d[0])
	}
}

func TestFiniteCount(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	if got := finiteCount([2][]float32{{1, nan, 0, inf}, {nan, -2}}); got != 3 {
		t.Errorf("finiteCount = %d, want 3", got)
	}
}
