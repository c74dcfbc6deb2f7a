package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fixture is backend/metrics/testdata/metrics.json, written by scripts/fixtures/metrics.py with
// numpy and scipy. JSON null stands for NaN.
type fixture struct {
	N, V   int
	Pred   []*float64
	Meas   []float64
	R      []*float64
	Labels []int32
	Names  map[string]string
	Mean   float64
	Median float64
	Count  int
	ROI    []struct {
		Label        int
		Name         string
		N            int
		Mean, Median *float64
	}
	NCSNR  []float64
	Counts [3]int
	NC     []float64
	Score  float64
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metrics.json"))
	if err != nil {
		t.Fatalf("reading fixture (run /usr/bin/python3 scripts/fixtures/metrics.py): %v", err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decoding testdata/metrics.json: %v", err)
	}
	return &f
}

func f32s(xs []*float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		if x == nil {
			out[i] = float32(math.NaN())
		} else {
			out[i] = float32(*x)
		}
	}
	return out
}

func f32(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

func isNaN(x float32) bool { return math.IsNaN(float64(x)) }

func closeTo(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*(1+math.Abs(want))
}

func TestPearsonColumnsMatchesScipy(t *testing.T) {
	f := loadFixture(t)
	pred, meas := f32s(f.Pred), f32(f.Meas)
	r := PearsonColumns(pred, meas, f.N, f.V)
	if len(r) != f.V {
		t.Fatalf("len(r) = %d, want %d", len(r), f.V)
	}
	for j, want := range f.R {
		if want == nil {
			if !isNaN(r[j]) {
				t.Errorf("column %d: r = %v, want NaN", j, r[j])
			}
			continue
		}
		if !closeTo(r[j], *want, 1e-6) {
			t.Errorf("column %d: r = %.9f, scipy %.9f", j, r[j], *want)
		}
		// The single-column function must agree with the blocked one.
		a := make([]float32, f.N)
		b := make([]float32, f.N)
		for i := range f.N {
			a[i], b[i] = pred[i*f.V+j], meas[i*f.V+j]
		}
		if p := Pearson(a, b); p != r[j] {
			t.Errorf("column %d: Pearson = %v, PearsonColumns = %v", j, p, r[j])
		}
	}
}

func TestPearsonColumnsManyBlocks(t *testing.T) {
	// More columns than one block, with column j a known mix: meas = x, pred = x + c_j·z where x
	// and z are fixed orthogonal, zero-mean, equal-norm vectors, so r_j = 1/sqrt(1+c_j²) exactly.
	n, v := 4, 3*columnBlock+17
	x := []float32{1, -1, 1, -1}
	z := []float32{1, 1, -1, -1}
	pred := make([]float32, n*v)
	meas := make([]float32, n*v)
	for j := range v {
		c := float32(j%7) / 4
		for i := range n {
			meas[i*v+j] = x[i]
			pred[i*v+j] = x[i] + c*z[i]
		}
	}
	r := PearsonColumns(pred, meas, n, v)
	for j := range v {
		c := float64(j%7) / 4
		want := 1 / math.Sqrt(1+c*c)
		if !closeTo(r[j], want, 1e-6) {
			t.Fatalf("column %d: r = %v, want %v", j, r[j], want)
		}
	}
}

func TestPearsonEdgeCases(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		a, b []float32
		want float64 // NaN for NaN
	}{
		{"perfect", []float32{1, 2, 3}, []float32{2, 4, 6}, 1},
		{"anti", []float32{1, 2, 3}, []float32{3, 2, 1}, -1},
		{"orthogonal", []float32{1, -1, 1, -1}, []float32{1, 1, -1, -1}, 0},
		{"constant a", []float32{5, 5, 5}, []float32{1, 2, 3}, math.NaN()},
		{"constant b", []float32{1, 2, 3}, []float32{0, 0, 0}, math.NaN()},
		{"nan", []float32{1, nan, 3}, []float32{1, 2, 3}, math.NaN()},
		{"inf", []float32{1, inf, 3}, []float32{1, 2, 3}, math.NaN()},
		{"length mismatch", []float32{1, 2, 3}, []float32{1, 2}, math.NaN()},
		{"one value", []float32{1}, []float32{1}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
		{"large offset", []float32{1e6 + 1, 1e6 + 2, 1e6 + 3}, []float32{1, 2, 3}, 1},
	}
	for _, tc := range tests {
		got := Pearson(tc.a, tc.b)
		if math.IsNaN(tc.want) {
			if !isNaN(got) {
				t.Errorf("%s: got %v, want NaN", tc.name, got)
			}
		} else if !closeTo(got, tc.want, 1e-6) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPearsonColumnsBadShapes(t *testing.T) {
	if r := PearsonColumns(make([]float32, 6), make([]float32, 6), 2, 4); len(r) != 4 || !isNaN(r[0]) || !isNaN(r[3]) {
		t.Errorf("length mismatch: got %v, want 4 NaNs", r)
	}
	if r := PearsonColumns(nil, nil, -1, 3); r != nil {
		t.Errorf("negative n: got %v, want nil", r)
	}
	if r := PearsonColumns(nil, nil, 0, 0); len(r) != 0 {
		t.Errorf("empty: got %v", r)
	}
}

func TestSummaryMatchesNumpy(t *testing.T) {
	f := loadFixture(t)
	mean, median, count := Summary(f32s(f.R))
	if count != f.Count || !closeTo(mean, f.Mean, 1e-6) || !closeTo(median, f.Median, 1e-6) {
		t.Errorf("Summary = (%v, %v, %d), numpy (%v, %v, %d)", mean, median, count, f.Mean, f.Median, f.Count)
	}
	tests := []struct {
		r            []float32
		mean, median float64
		count        int
	}{
		{[]float32{3, 1, 2}, 2, 2, 3},
		{[]float32{4, 1, 2, 3}, 2.5, 2.5, 4},
		{[]float32{float32(math.NaN()), 1, 5}, 3, 3, 2},
	}
	for _, tc := range tests {
		m, med, c := Summary(tc.r)
		if c != tc.count || !closeTo(m, tc.mean, 1e-7) || !closeTo(med, tc.median, 1e-7) {
			t.Errorf("Summary(%v) = (%v, %v, %d), want (%v, %v, %d)", tc.r, m, med, c, tc.mean, tc.median, tc.count)
		}
	}
	if m, med, c := Summary([]float32{float32(math.NaN())}); c != 0 || !isNaN(m) || !isNaN(med) {
		t.Errorf("all NaN: got (%v, %v, %d), want (NaN, NaN, 0)", m, med, c)
	}
}

func TestROISummaryMatchesNumpy(t *testing.T) {
	f := loadFixture(t)
	names := map[int]string{}
	for k, v := range f.Names {
		i, err := strconv.Atoi(k)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = v
	}
	names[9] = "empty"
	got := ROISummary(f32s(f.R), f.Labels, names)
	if len(got) != len(f.ROI)+1 {
		t.Fatalf("got %d ROIs, want %d: %+v", len(got), len(f.ROI)+1, got)
	}
	for i, want := range f.ROI {
		g := got[i]
		if g.Label != want.Label || g.Name != want.Name || g.N != want.N ||
			!closeTo(g.Mean, *want.Mean, 1e-6) || !closeTo(g.Median, *want.Median, 1e-6) {
			t.Errorf("ROI %d: got %+v, numpy %+v (mean %v median %v)", i, g, want, *want.Mean, *want.Median)
		}
	}
	last := got[len(got)-1]
	if last.Label != 9 || last.Name != "empty" || last.N != 0 || !isNaN(last.Mean) {
		t.Errorf("named label without vertices: got %+v", last)
	}
	if ROISummary([]float32{1}, []int32{1, 2}, nil) != nil {
		t.Error("length mismatch: want nil")
	}
}

func TestNoiseCeilingAndScoreMatchNumpy(t *testing.T) {
	f := loadFixture(t)
	nc := NoiseCeiling(f32(f.NCSNR), f.Counts[0], f.Counts[1], f.Counts[2])
	for i, want := range f.NC {
		if !closeTo(nc[i], want, 1e-6) {
			t.Errorf("NC[%d] = %v, numpy %v", i, nc[i], want)
		}
	}
	score := ChallengeScore(f32s(f.R), nc)
	if !closeTo(score, f.Score, 1e-5) {
		t.Errorf("ChallengeScore = %v, numpy %v", score, f.Score)
	}
}

func TestNoiseCeilingClosedForm(t *testing.T) {
	// All images seen three times: k = 1/3; ncsnr = 1 → NC = 1/(1+1/3) = 0.75.
	nc := NoiseCeiling([]float32{1, 0, float32(math.NaN())}, 10, 0, 0)
	if !closeTo(nc[0], 0.75, 1e-7) || nc[1] != 0 || !isNaN(nc[2]) {
		t.Errorf("NoiseCeiling = %v, want [0.75 0 NaN]", nc)
	}
	if nc := NoiseCeiling([]float32{1}, 0, 0, 0); !isNaN(nc[0]) {
		t.Errorf("zero counts: got %v, want NaN", nc)
	}
	if nc := NoiseCeiling([]float32{1}, -1, 2, 0); !isNaN(nc[0]) {
		t.Errorf("negative count: got %v, want NaN", nc)
	}
}

func TestChallengeScoreCases(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name  string
		r, nc []float32
		want  float64
	}{
		{"half explained", []float32{0.5}, []float32{0.5}, 50},
		{"clipped at 100", []float32{0.9}, []float32{0.25}, 100},
		{"negative r counts 0", []float32{-0.8, 0.5}, []float32{0.5, 0.5}, 25},
		{"NaN r counts 0", []float32{nan, 0.5}, []float32{0.5, 0.5}, 25},
		{"zero NC left out", []float32{0.9, 0.5}, []float32{0, 0.5}, 50},
		{"NaN NC left out", []float32{0.9, 0.5}, []float32{nan, 0.5}, 50},
		{"no vertex", []float32{0.5}, []float32{0}, math.NaN()},
		{"length mismatch", []float32{0.5}, nil, math.NaN()},
	}
	for _, tc := range tests {
		got := ChallengeScore(tc.r, tc.nc)
		if math.IsNaN(tc.want) {
			if !isNaN(got) {
				t.Errorf("%s: got %v, want NaN", tc.name, got)
			}
		} else if !closeTo(got, tc.want, 1e-6) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkPearsonColumns(b *testing.B) {
	n, v := 159, 20000
	pred := make([]float32, n*v)
	meas := make([]float32, n*v)
	for i := range pred {
		pred[i] = float32(math.Sin(float64(i)))
		meas[i] = float32(math.Cos(float64(i) * 0.7))
	}
	b.SetBytes(int64(8 * n * v))
	for b.Loop() {
		PearsonColumns(pred, meas, n, v)
	}
}
