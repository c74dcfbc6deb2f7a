package encoding

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type pcaCase struct {
	N, P, V, NTest         int
	K, Batch               int
	ExplainedVariance      []float64 `json:"explained_variance"`
	ExplainedVarianceRatio []float64 `json:"explained_variance_ratio"`
	SingularValues         []float64 `json:"singular_values"`
	NoiseVariance          float64   `json:"noise_variance"`
	Samples                int
}

func closeRel(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// TestPCABaselineSklearnParity compares with scikit-learn's IncrementalPCA(n_components,
// batch_size) + LinearRegression (scripts/fixtures/pca.py): explained variances, components, mean
// and the predictions of the folded model.
func TestPCABaselineSklearnParity(t *testing.T) {
	for _, name := range []string{"even", "merge", "wide", "default"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "pca_"+name+".json"))
			if err != nil {
				t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/fixtures/pca.py)", err)
			}
			var c pcaCase
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("testdata/pca_%s.json: %v", name, err)
			}
			pre := "pca_" + name
			x := readNPY(t, pre+"_x.npy", c.N, c.P)
			y := readNPY(t, pre+"_y.npy", c.N, c.V)
			xt := readNPY(t, pre+"_xtest.npy", c.NTest, c.P)
			want := readNPY(t, pre+"_pred.npy", c.NTest, c.V)
			comp := readNPY(t, pre+"_components.npy", c.K, c.P)
			mean := readNPY(t, pre+"_mean.npy", c.P)

			rd, pca, err := FitPCABaseline(x, c.N, c.P, y, c.V, c.K, c.Batch)
			if err != nil {
				t.Fatal(err)
			}
			if pca.K != c.K || pca.Samples != c.Samples {
				t.Errorf("K=%d samples=%d, sklearn %d and %d", pca.K, pca.Samples, c.K, c.Samples)
			}
			for i := range c.K {
				if !closeRel(pca.ExplainedVariance[i], c.ExplainedVariance[i], 1e-5) ||
					!closeRel(pca.ExplainedVarianceRatio[i], c.ExplainedVarianceRatio[i], 1e-5) ||
					!closeRel(pca.SingularValues[i], c.SingularValues[i], 1e-5) {
					t.Errorf("component %d: explained variance %v (ratio %v, s %v), sklearn %v (%v, %v)", i,
						pca.ExplainedVariance[i], pca.ExplainedVarianceRatio[i], pca.SingularValues[i],
						c.ExplainedVariance[i], c.ExplainedVarianceRatio[i], c.SingularValues[i])
				}
			}
			if !closeRel(pca.NoiseVariance, c.NoiseVariance, 1e-5) {
				t.Errorf("noise variance %v, sklearn %v", pca.NoiseVariance, c.NoiseVariance)
			}
			for i := range comp {
				if math.Abs(float64(pca.Components[i]-comp[i])) > 1e-4 {
					t.Fatalf("component %d feature %d: %v, sklearn %v", i/c.P, i%c.P, pca.Components[i], comp[i])
				}
			}
			for k := range mean {
				if !closeRel(float64(pca.Mean[k]), float64(mean[k]), 1e-6) {
					t.Errorf("mean[%d] = %v, sklearn %v", k, pca.Mean[k], mean[k])
				}
			}
			pred := rd.Predict(xt, c.NTest)
			var scale float64
			for _, w := range want {
				scale = max(scale, math.Abs(float64(w)))
			}
			for i := range want {
				if d := math.Abs(float64(pred[i] - want[i])); d > 1e-4*math.Max(math.Abs(float64(want[i])), 1e-2*scale) {
					t.Errorf("prediction %d (row %d, target %d): %v, sklearn %v", i, i/c.V, i%c.V, pred[i], want[i])
				}
			}
			for j, a := range rd.Alpha {
				if a != 0 {
					t.Fatalf("Alpha[%d] = %v, want 0 for least squares", j, a)
				}
			}
		})
	}
}

func TestGenBatches(t *testing.T) {
	for _, tc := range []struct {
		n, size, min int
		want         [][2]int
	}{
		{10, 5, 2, [][2]int{{0, 5}, {5, 10}}},
		{11, 5, 2, [][2]int{{0, 5}, {5, 11}}}, // remainder 1 < 2 merged
		{12, 5, 2, [][2]int{{0, 5}, {5, 10}, {10, 12}}},
		{4, 5, 2, [][2]int{{0, 4}}},
	} {
		if got := genBatches(tc.n, tc.size, tc.min); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("genBatches(%d, %d, %d) = %v, want %v", tc.n, tc.size, tc.min, got, tc.want)
		}
	}
}

// TestPCATransformAndExactFit checks Transform against the definition, and that with as many
// components as features the baseline is plain least squares, which recovers noise-free weights.
func TestPCATransformAndExactFit(t *testing.T) {
	n, p, v := 90, 6, 3
	x, y, w, b := randomProblem(40, n, p, v, 0)
	rd, pca, err := FitPCABaseline(x, n, p, y, v, p, 25)
	if err != nil {
		t.Fatal(err)
	}
	z := pca.Transform(x[:2*p], 2)
	for i := range 2 {
		for j := range p {
			var s float64
			for k := range p {
				s += (float64(x[i*p+k]) - float64(pca.Mean[k])) * float64(pca.Components[j*p+k])
			}
			if math.Abs(float64(z[i*p+j])-s) > 1e-4*(1+math.Abs(s)) {
				t.Errorf("score [%d,%d] = %v, want %v", i, j, z[i*p+j], s)
			}
		}
	}
	for i := range w {
		if math.Abs(float64(rd.W[i]-w[i])) > 1e-3 {
			t.Errorf("W[%d] = %v, true %v", i, rd.W[i], w[i])
		}
	}
	for j := range v {
		icpt := float64(rd.YMean[j])
		for k := range p {
			icpt -= float64(rd.XMean[k]) * float64(rd.W[k*v+j])
		}
		if math.Abs(icpt-float64(b[j])) > 1e-2 {
			t.Errorf("target %d: intercept %v, true %v", j, icpt, b[j])
		}
	}
	var ratio float64
	for _, r := range pca.ExplainedVarianceRatio {
		ratio += r
	}
	if math.Abs(ratio-1) > 1e-9 {
		t.Errorf("all components explain %v of the variance, want 1", ratio)
	}
}

func TestPCABaselineErrors(t *testing.T) {
	x, y, _, _ := randomProblem(41, 20, 4, 2, 0.1)
	for _, tc := range []struct {
		name        string
		x           []float32
		n, p        int
		y           []float32
		v, k, batch int
		want        string
	}{
		{"x shape", x[:79], 20, 4, y, 2, 2, 10, "x has 79 values"},
		{"y shape", x, 20, 4, y[:39], 2, 2, 10, "y has 39 values"},
		{"too many components", x, 20, 4, y, 2, 5, 10, "5 PCA components for 4 features"},
		{"default components", x, 20, 4, y, 2, 0, 10, "100 PCA components for 4 features"},
		{"small batch", x, 20, 4, y, 2, 3, 2, "batch size 2 is smaller than the 3 components"},
		{"more components than samples", x[:12], 3, 4, y[:6], 2, 4, 10, "4 PCA components for 3 samples"},
	} {
		_, _, err := FitPCABaseline(tc.x, tc.n, tc.p, tc.y, tc.v, tc.k, tc.batch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
