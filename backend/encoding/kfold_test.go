package encoding

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"cortexcast/backend/algonauts"
)

// noisyProblem returns an n×p design with correlated, offset columns of different scales and
// targets y = x·w + b + σ_j·N(0,1) whose noise level σ_j grows from 10⁻² to 10² across the targets;
// the last target is pure noise.
func noisyProblem(seed uint64, n, p, v int) (x, y []float32) {
	rng := rand.New(rand.NewPCG(seed, 11))
	x = make([]float32, n*p)
	for i := range n {
		common := rng.NormFloat64()
		for k := range p {
			x[i*p+k] = float32((rng.NormFloat64()+0.5*common)*(1+float64(k%4)) + float64(k%3))
		}
	}
	w := make([]float64, p*v)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	y = make([]float32, n*v)
	for j := range v {
		sigma := math.Pow(10, -2+4*float64(j)/float64(max(v-2, 1)))
		pure := j == v-1
		for i := range n {
			s := 3.0
			if !pure {
				for k := range p {
					s += float64(x[i*p+k]) * w[k*v+j]
				}
			}
			y[i*v+j] = float32(s + sigma*rng.NormFloat64())
		}
	}
	return x, y
}

// directKFold is the reference: for every fold, target and alpha, the textbook ridge on the
// training rows (ridgeSolve, through gonum's dense solver) and its squared error on the validation
// rows; it returns the mean over the n samples, targets×alphas.
func directKFold(t *testing.T, x []float32, n, p int, y []float32, v int, alphas []float64, folds [][]int) []float64 {
	t.Helper()
	cv := make([]float64, v*len(alphas))
	for _, val := range folds {
		inVal := make([]bool, n)
		for _, i := range val {
			inVal[i] = true
		}
		var xs []float64
		for i := range n {
			if !inVal[i] {
				for k := range p {
					xs = append(xs, float64(x[i*p+k]))
				}
			}
		}
		ntr := n - len(val)
		for j := range v {
			ys := make([]float64, 0, ntr)
			for i := range n {
				if !inVal[i] {
					ys = append(ys, float64(y[i*v+j]))
				}
			}
			for a, alpha := range alphas {
				w, icpt := ridgeSolve(t, xs, ntr, p, ys, alpha)
				for _, i := range val {
					pred := icpt
					for k := range p {
						pred += float64(x[i*p+k]) * w[k]
					}
					e := float64(y[i*v+j]) - pred
					cv[j*len(alphas)+a] += e * e / float64(n)
				}
			}
		}
	}
	return cv
}

// TestKFoldMatchesDirect checks the K-fold curves, the chosen alphas and the final weights against
// a fold-by-fold textbook computation, for both per-alpha organisations (gram when the folds'
// validation parts have more rows than the training rank, direct otherwise) and for n ≤ p.
func TestKFoldMatchesDirect(t *testing.T) {
	alphas := []float64{1e-2, 1e-1, 1, 10, 1e2, 1e3, 1e4}
	for _, tc := range []struct {
		name           string
		n, p, v, folds int
		seed           int64
		wantGram       bool
	}{
		{"gram", 80, 8, 9, 5, 1, true},
		{"direct", 50, 12, 6, 10, 2, false},
		{"wide", 30, 40, 6, 3, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, p, v := tc.n, tc.p, tc.v
			x, y := noisyProblem(uint64(tc.seed)+20, n, p, v)
			opt := RidgeOptions{Alphas: alphas, Folds: tc.folds, Seed: tc.seed, BlockSize: 4, Workers: 2}
			res, err := fitRidge(x, n, p, y, v, opt, true)
			if err != nil {
				t.Fatal(err)
			}
			folds := algonauts.KFold(n, tc.folds, tc.seed)
			// The organisation this case is meant to exercise.
			xc := make([]float64, n*p)
			xm := columnMeans(x, n, p)
			for i := range xc {
				xc[i] = float64(x[i]) - xm[i%p]
			}
			f, err := prepareFold(xc, n, p, folds[0], alphas)
			if err != nil {
				t.Fatal(err)
			}
			if f.gram != tc.wantGram {
				t.Fatalf("fold 0 (r=%d, nval=%d) uses gram=%v, want %v", f.d.r, len(f.val), f.gram, tc.wantGram)
			}
			want := directKFold(t, x, n, p, y, v, alphas, folds)
			na := len(alphas)
			distinct := map[float32]bool{}
			for j := range v {
				row := want[j*na : (j+1)*na]
				bestA, second := 0, math.Inf(1)
				for a := range na {
					got := res.cv[j*na+a]
					if math.Abs(got-row[a]) > 1e-7*row[a] {
						t.Errorf("target %d alpha %v: CV error %v, direct %v", j, alphas[a], got, row[a])
					}
					if row[a] < row[bestA] {
						bestA = a
					}
				}
				for a := range na {
					if a != bestA {
						second = min(second, row[a])
					}
				}
				if (second-row[bestA])/row[bestA] > 1e-6 && res.ridge.Alpha[j] != float32(alphas[bestA]) {
					t.Errorf("target %d: alpha %v, direct %v", j, res.ridge.Alpha[j], alphas[bestA])
				}
				distinct[res.ridge.Alpha[j]] = true
				// The final model: the textbook ridge on all the data with the chosen alpha.
				xs := make([]float64, n*p)
				ys := make([]float64, n)
				for i := range n {
					ys[i] = float64(y[i*v+j])
					for k := range p {
						xs[i*p+k] = float64(x[i*p+k])
					}
				}
				w, icpt := ridgeSolve(t, xs, n, p, ys, float64(res.ridge.Alpha[j]))
				pred := res.ridge.Predict(x[:3*p], 3)
				for i := range 3 {
					ref := icpt
					for k := range p {
						ref += float64(x[i*p+k]) * w[k]
					}
					if d := math.Abs(float64(pred[i*v+j]) - ref); d > 1e-4*(1+math.Abs(ref)) {
						t.Errorf("target %d row %d: prediction %v, direct %v", j, i, pred[i*v+j], ref)
					}
				}
			}
			if len(distinct) < 3 {
				t.Errorf("only %d distinct alphas chosen (%v): the noise levels should spread them", len(distinct), res.ridge.Alpha)
			}
			if a := res.ridge.Alpha; a[v-1] <= a[0] {
				t.Errorf("alphas %v: the pure-noise target's should exceed the least noisy one's", a)
			}
			t.Logf("alphas %v", res.ridge.Alpha)
		})
	}
}

func TestKFoldBlocksWorkersAndSeed(t *testing.T) {
	n, p, v := 70, 10, 23
	x, y := noisyProblem(30, n, p, v)
	alphas := []float64{1e-2, 1, 1e2, 1e4}
	ref, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, Folds: 4, Seed: 9, BlockSize: 100, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, Folds: 4, Seed: 9, BlockSize: 3, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for j := range v {
		if got.Alpha[j] != ref.Alpha[j] {
			t.Errorf("target %d: alpha %v in blocks of 3, %v in one block", j, got.Alpha[j], ref.Alpha[j])
		}
	}
	for i := range ref.W {
		if math.Abs(float64(got.W[i]-ref.W[i])) > 1e-5*(1+math.Abs(float64(ref.W[i]))) {
			t.Fatalf("W[%d]: %v in blocks of 3, %v in one block", i, got.W[i], ref.W[i])
		}
	}
	// Another seed gives other folds, so other curves.
	a, err := fitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, Folds: 4, Seed: 9}, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, Folds: 4, Seed: 10}, true)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range a.cv {
		same = same && a.cv[i] == b.cv[i]
	}
	if same {
		t.Error("seeds 9 and 10 gave identical CV curves")
	}
}

func TestKFoldDegenerate(t *testing.T) {
	// A constant target gets zero weights and its mean; constant features give the mean for all.
	n, p, v := 40, 3, 2
	x, y := noisyProblem(31, n, p, v)
	for i := range n {
		y[i*v+1] = 5
		x[i*p+2] = -1
	}
	rd, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: []float64{1, 10}, Folds: 4})
	if err != nil {
		t.Fatal(err)
	}
	for k := range p {
		if w := rd.W[k*v+1]; math.Abs(float64(w)) > 1e-6 {
			t.Errorf("constant target: W[%d] = %v, want 0", k, w)
		}
	}
	if w := rd.W[2*v]; math.Abs(float64(w)) > 1e-6 {
		t.Errorf("constant feature: weight %v, want 0", w)
	}
	for i := range x {
		x[i] = 2
	}
	res, err := fitRidge(x, n, p, y, v, RidgeOptions{Alphas: []float64{1, 10}, Folds: 4}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Every fold predicts its training mean, so the CV error of target 0 is the same for both
	// alphas and equals the direct computation.
	want := directKFold(t, x, n, p, y, v, []float64{1, 10}, algonauts.KFold(n, 4, 0))
	for i, w := range want {
		if math.Abs(res.cv[i]-w) > 1e-9*(1+w) {
			t.Errorf("cv[%d] = %v, direct %v", i, res.cv[i], w)
		}
	}
	if pred := res.ridge.Predict(x[:p], 1); math.Abs(float64(pred[0]-res.ridge.YMean[0])) > 1e-6 {
		t.Errorf("all features constant: prediction %v, want the mean %v", pred[0], res.ridge.YMean[0])
	}
}

func TestKFoldErrors(t *testing.T) {
	x, y := noisyProblem(32, 6, 2, 1)
	for _, tc := range []struct {
		folds int
		want  string
	}{
		{1, "Folds = 1, want 0 (leave-one-out) or at least 2"},
		{-3, "Folds = -3"},
		{7, "Folds = 7 exceeds the 6 samples"},
	} {
		_, err := FitRidge(x, 6, 2, y, 1, RidgeOptions{Folds: tc.folds})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Folds=%d: error %v, want one containing %q", tc.folds, err, tc.want)
		}
	}
}

func BenchmarkFitRidgeKFold(b *testing.B) {
	n, p, v := 9841, 512, 2048
	x, _ := noisyProblem(33, n, p, 1)
	rng := rand.New(rand.NewPCG(9, 9))
	y := make([]float32, n*v)
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	alphas := make([]float64, 13)
	for i := range alphas {
		alphas[i] = math.Pow(10, float64(i)/2)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitRidge(x, n, p, y, v, RidgeOptions{Alphas: alphas, Folds: 5}); err != nil {
			b.Fatal(err)
		}
	}
}
