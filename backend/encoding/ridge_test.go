package encoding

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"cortexcast/backend/npy"
)

// randomProblem returns an n×p design with correlated, offset columns and n×v targets
// y = x·w + b + noise·N(0,1), with w and b returned too.
func randomProblem(seed uint64, n, p, v int, noise float64) (x, y, w, b []float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x = make([]float32, n*p)
	for i := range n {
		common := rng.NormFloat64()
		for k := range p {
			x[i*p+k] = float32(rng.NormFloat64() + 0.3*common + float64(k%3))
		}
	}
	w = make([]float32, p*v)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	b = make([]float32, v)
	for j := range b {
		b[j] = float32(5 * rng.NormFloat64())
	}
	y = make([]float32, n*v)
	for i := range n {
		for j := range v {
			s := float64(b[j])
			for k := range p {
				s += float64(x[i*p+k]) * float64(w[k*v+j])
			}
			y[i*v+j] = float32(s + noise*rng.NormFloat64())
		}
	}
	return x, y, w, b
}

func TestFitRidgeRecoversKnownWeights(t *testing.T) {
	n, p, v := 300, 10, 6
	x, y, w, b := randomProblem(1, n, p, v, 1e-3)
	rd, err := FitRidge(x, n, p, y, v, RidgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range w {
		if math.Abs(float64(rd.W[i]-want)) > 2e-3 {
			t.Errorf("W[%d] = %v, true %v", i, rd.W[i], want)
		}
	}
	for j := range v {
		if rd.Alpha[j] != 0.1 {
			t.Errorf("target %d: alpha %v, want the smallest of the grid (0.1) for nearly noise-free data", j, rd.Alpha[j])
		}
		// The intercept YMean − XMean·W must be the true one.
		icpt := float64(rd.YMean[j])
		for k := range p {
			icpt -= float64(rd.XMean[k]) * float64(rd.W[k*v+j])
		}
		if math.Abs(icpt-float64(b[j])) > 1e-2 {
			t.Errorf("target %d: intercept %v, true %v", j, icpt, b[j])
		}
	}
}

func TestFitRidgePureNoisePicksLargestAlpha(t *testing.T) {
	n, p, v := 200, 8, 4
	x, _, _, _ := randomProblem(2, n, p, v, 0)
	rng := rand.New(rand.NewPCG(3, 3))
	y := make([]float32, n*v)
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	alphas := []float64{1e-2, 1, 1e2, 1e4, 1e6}
	rd, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas})
	if err != nil {
		t.Fatal(err)
	}
	for j, a := range rd.Alpha {
		if a < 1e4 {
			t.Errorf("target %d: alpha %v for pure noise, want ≥ 1e4", j, a)
		}
	}
}

// ridgeSolve is the textbook solution (XcᵀXc + αI)⁻¹Xcᵀyc for one target with intercept, the
// independent reference: it returns the weights and intercept.
func ridgeSolve(t *testing.T, x []float64, n, p int, y []float64, alpha float64) ([]float64, float64) {
	t.Helper()
	xm := make([]float64, p)
	var ym float64
	for i := range n {
		for k := range p {
			xm[k] += x[i*p+k] / float64(n)
		}
		ym += y[i] / float64(n)
	}
	xc := mat.NewDense(n, p, nil)
	yc := mat.NewVecDense(n, nil)
	for i := range n {
		for k := range p {
			xc.Set(i, k, x[i*p+k]-xm[k])
		}
		yc.SetVec(i, y[i]-ym)
	}
	var a mat.Dense
	a.Mul(xc.T(), xc)
	for k := range p {
		a.Set(k, k, a.At(k, k)+alpha)
	}
	var rhs, sol mat.VecDense
	rhs.MulVec(xc.T(), yc)
	if err := sol.SolveVec(&a, &rhs); err != nil {
		t.Fatal(err)
	}
	w := make([]float64, p)
	icpt := ym
	for k := range p {
		w[k] = sol.AtVec(k)
		icpt -= xm[k] * w[k]
	}
	return w, icpt
}

// TestLOOMatchesBruteForce checks the leave-one-out errors, for both decomposition modes, against
// refitting without each sample in turn, and the chosen weights against the textbook solution.
func TestLOOMatchesBruteForce(t *testing.T) {
	alphas := []float64{0.03, 1, 30}
	for _, tc := range []struct{ n, p int }{{25, 5}, {9, 14}} {
		n, p, v := tc.n, tc.p, 3
		x, y, _, _ := randomProblem(4, n, p, v, 0.5)
		res, err := fitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, BlockSize: 2}, true)
		if err != nil {
			t.Fatal(err)
		}
		for j := range v {
			for a, alpha := range alphas {
				var sse float64
				for out := range n {
					var xs, ys []float64
					for i := range n {
						if i == out {
							continue
						}
						for k := range p {
							xs = append(xs, float64(x[i*p+k]))
						}
						ys = append(ys, float64(y[i*v+j]))
					}
					w, icpt := ridgeSolve(t, xs, n-1, p, ys, alpha)
					pred := icpt
					for k := range p {
						pred += float64(x[out*p+k]) * w[k]
					}
					e := float64(y[out*v+j]) - pred
					sse += e * e
				}
				want := sse / float64(n)
				got := res.cv[j*len(alphas)+a]
				if math.Abs(got-want) > 1e-6*want {
					t.Errorf("n=%d p=%d target %d alpha %v: LOO error %v, brute force %v", n, p, j, alpha, got, want)
				}
			}
			// Weights for the chosen alpha.
			ys := make([]float64, n)
			xs := make([]float64, n*p)
			for i := range n {
				ys[i] = float64(y[i*v+j])
				for k := range p {
					xs[i*p+k] = float64(x[i*p+k])
				}
			}
			w, _ := ridgeSolve(t, xs, n, p, ys, float64(res.ridge.Alpha[j]))
			for k := range p {
				if got := float64(res.ridge.W[k*v+j]); math.Abs(got-w[k]) > 1e-5*(1+math.Abs(w[k])) {
					t.Errorf("n=%d p=%d target %d: W[%d] = %v, textbook %v", n, p, j, k, got, w[k])
				}
			}
		}
	}
}

type sklearnCase struct {
	Sklearn string
	N, P, V int
	NTest   int
	Alphas  []float64
	Alpha   []float64
	Gap     []float64
}

func readNPY(t *testing.T, name string, shape ...int) []float32 {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, got, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/fixtures/ridge.py)", err)
	}
	if len(got) != len(shape) {
		t.Fatalf("%s: shape %v, want %v", path, got, shape)
	}
	for i := range shape {
		if got[i] != shape[i] {
			t.Fatalf("%s: shape %v, want %v", path, got, shape)
		}
	}
	return data
}

// TestSklearnParity compares with scikit-learn's RidgeCV(alphas, alpha_per_target=True) in both of
// its leave-one-out modes: the LOO error curves, the chosen alphas and the predictions.
func TestSklearnParity(t *testing.T) {
	for _, name := range []string{"svd", "eigen"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/fixtures/ridge.py)", err)
			}
			var c sklearnCase
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("testdata/%s.json: %v", name, err)
			}
			na := len(c.Alphas)
			x := readNPY(t, name+"_x.npy", c.N, c.P)
			y := readNPY(t, name+"_y.npy", c.N, c.V)
			xt := readNPY(t, name+"_xtest.npy", c.NTest, c.P)
			want := readNPY(t, name+"_pred.npy", c.NTest, c.V)
			loo := readNPY(t, name+"_loo.npy", c.V, na)

			res, err := fitRidge(x, c.N, c.P, y, c.V, RidgeOptions{Alphas: c.Alphas, BlockSize: 16}, true)
			if err != nil {
				t.Fatal(err)
			}
			for j := range c.V {
				for a := range na {
					got, ref := res.cv[j*na+a], float64(loo[j*na+a])
					if math.Abs(got-ref) > 1e-5*ref {
						t.Errorf("target %d alpha %v: LOO error %v, sklearn %v", j, c.Alphas[a], got, ref)
					}
				}
				if c.Gap[j] > 1e-6 && res.ridge.Alpha[j] != float32(c.Alpha[j]) {
					t.Errorf("target %d: alpha %v, sklearn %v (LOO gap %.2g)", j, res.ridge.Alpha[j], c.Alpha[j], c.Gap[j])
				}
			}
			pred := res.ridge.Predict(xt, c.NTest)
			var scale float64
			for _, w := range want {
				scale = max(scale, math.Abs(float64(w)))
			}
			for i := range want {
				if d := math.Abs(float64(pred[i] - want[i])); d > 1e-4*math.Max(math.Abs(float64(want[i])), 1e-2*scale) {
					t.Errorf("prediction %d (row %d, target %d): %v, sklearn %v", i, i/c.V, i%c.V, pred[i], want[i])
				}
			}
		})
	}
}

func TestFitRidgeBlocksAndWorkersAgree(t *testing.T) {
	n, p, v := 60, 12, 37
	x, y, _, _ := randomProblem(5, n, p, v, 2)
	var calls, last int
	ref, err := FitRidge(x, n, p, y, v, RidgeOptions{BlockSize: 1000, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FitRidge(x, n, p, y, v, RidgeOptions{BlockSize: 5, Workers: 3, Progress: func(done, total int) {
		calls++
		if done <= last || total != v {
			t.Errorf("progress (%d, %d) after %d", done, total, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 8 || last != v {
		t.Errorf("progress called %d times ending at %d, want 8 ending at %d", calls, last, v)
	}
	for j := range v {
		if got.Alpha[j] != ref.Alpha[j] {
			t.Errorf("target %d: alpha %v with blocks of 5, %v with one block", j, got.Alpha[j], ref.Alpha[j])
		}
	}
	for i := range ref.W {
		if math.Abs(float64(got.W[i]-ref.W[i])) > 1e-5*(1+math.Abs(float64(ref.W[i]))) {
			t.Fatalf("W[%d]: %v with blocks of 5, %v with one block", i, got.W[i], ref.W[i])
		}
	}
}

func TestFitRidgeDegenerateColumns(t *testing.T) {
	// A constant feature and a constant target: the feature gets zero weight, the target zero
	// weights and its mean as intercept.
	n, p, v := 30, 3, 2
	x, y, _, _ := randomProblem(6, n, p, v, 0.1)
	for i := range n {
		x[i*p+1] = 4
		y[i*v+1] = -2
	}
	rd, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: []float64{1, 10}})
	if err != nil {
		t.Fatal(err)
	}
	for k := range p {
		if w := rd.W[k*v+1]; math.Abs(float64(w)) > 1e-6 {
			t.Errorf("constant target: W[%d] = %v, want 0", k, w)
		}
	}
	if w := rd.W[1*v+0]; math.Abs(float64(w)) > 1e-6 {
		t.Errorf("constant feature: weight %v, want 0", w)
	}
	if rd.YMean[1] != -2 || rd.Alpha[1] != 1 {
		t.Errorf("constant target: mean %v alpha %v, want -2 and the first alpha", rd.YMean[1], rd.Alpha[1])
	}
	// All features constant: predictions are the target means.
	for i := range n * p {
		x[i] = 1
	}
	rd, err = FitRidge(x, n, p, y, v, RidgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pred := rd.Predict(x[:p], 1)
	if math.Abs(float64(pred[0]-rd.YMean[0])) > 1e-6 {
		t.Errorf("all features constant: prediction %v, want mean %v", pred[0], rd.YMean[0])
	}
}

func TestFitRidgeErrors(t *testing.T) {
	good := make([]float32, 12)
	for i := range good {
		good[i] = float32(i * i % 7)
	}
	bad := append([]float32(nil), good...)
	bad[7] = float32(math.NaN())
	inf := append([]float32(nil), good...)
	inf[5] = float32(math.Inf(-1))
	tests := []struct {
		name    string
		x       []float32
		n, p    int
		y       []float32
		v       int
		alphas  []float64
		wantErr string
	}{
		{"x shape", good[:11], 4, 3, good[:8], 2, nil, "x has 11 values, want n×p = 4×3 = 12"},
		{"y shape", good, 4, 3, good[:7], 2, nil, "y has 7 values, want n×v = 4×2 = 8"},
		{"one sample", good[:3], 1, 3, good[:2], 2, nil, "at least 2 samples"},
		{"no target", good, 4, 3, nil, 0, nil, "v=0"},
		{"NaN in x", bad, 4, 3, good[:8], 2, nil, "x[row 2, column 1] is NaN"},
		{"Inf in y", good, 4, 3, inf[:8], 2, nil, "y[row 2, column 1] is -Inf"},
		{"zero alpha", good, 4, 3, good[:8], 2, []float64{1, 0}, "alpha[1] = 0"},
		{"empty grid", good, 4, 3, good[:8], 2, []float64{}, "empty alpha grid"},
	}
	for _, tc := range tests {
		_, err := FitRidge(tc.x, tc.n, tc.p, tc.y, tc.v, RidgeOptions{Alphas: tc.alphas})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestPredictPathsAgree(t *testing.T) {
	// Both kernels against a float64 reference, on more columns than one tile.
	rng := rand.New(rand.NewPCG(8, 8))
	p, v := 17, 2*predictTile+33
	rd := &Ridge{P: p, V: v, XMean: make([]float32, p), YMean: make([]float32, v), W: make([]float32, p*v)}
	for k := range p {
		rd.XMean[k] = float32(rng.NormFloat64() * 10)
	}
	for j := range v {
		rd.YMean[j] = float32(rng.NormFloat64())
	}
	for i := range rd.W {
		rd.W[i] = float32(rng.NormFloat64())
	}
	for _, n := range []int{1, 3, gemmRows, 300} {
		x := make([]float32, n*p)
		for i := range x {
			x[i] = float32(rng.NormFloat64()*3 + 10)
		}
		got := rd.Predict(x, n)
		for i := range n {
			for j := range v {
				want := float64(rd.YMean[j])
				for k := range p {
					want += (float64(x[i*p+k]) - float64(rd.XMean[k])) * float64(rd.W[k*v+j])
				}
				if d := math.Abs(float64(got[i*v+j]) - want); d > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("n=%d: prediction [%d,%d] = %v, want %v", n, i, j, got[i*v+j], want)
				}
			}
		}
	}
}

func TestPredictIntoPanicsOnBadShape(t *testing.T) {
	rd := &Ridge{P: 2, V: 3, XMean: make([]float32, 2), YMean: make([]float32, 3), W: make([]float32, 6)}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "len(x)=3") {
			t.Errorf("recovered %v, want a panic naming len(x)=3", r)
		}
	}()
	rd.PredictInto(make([]float32, 3), make([]float32, 3), 1)
}

func TestPredictIntoSingleRowDoesNotAllocate(t *testing.T) {
	p, v := 64, 300
	rd := &Ridge{P: p, V: v, XMean: make([]float32, p), YMean: make([]float32, v), W: make([]float32, p*v)}
	x := make([]float32, p)
	dst := make([]float32, v)
	if allocs := testing.AllocsPerRun(10, func() { rd.PredictInto(dst, x, 1) }); allocs != 0 {
		t.Errorf("PredictInto for one row: %v allocations, want 0", allocs)
	}
}

func TestDefaultAlphas(t *testing.T) {
	a := DefaultAlphas()
	if len(a) != 17 || math.Abs(a[0]-0.1) > 1e-15 || math.Abs(a[16]-1e7) > 1e-6 || math.Abs(a[2]-1) > 1e-15 {
		t.Errorf("DefaultAlphas() = %v", a)
	}
}

func BenchmarkFitRidge(b *testing.B) {
	n, p, v := 2000, 512, 4000
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, n*p)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, n*v)
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitRidge(x, n, p, y, v, RidgeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
