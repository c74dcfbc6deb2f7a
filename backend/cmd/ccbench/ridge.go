package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"cortexcast/backend/encoding"
	"cortexcast/backend/npy"
)

// The targets for ridge: leave-one-out no slower than scikit-learn's RidgeCV, K-fold at
// least 3× faster than it.
const (
	ridgeLOOTarget   = 1.0
	ridgeKFoldTarget = 3.0
)

// ridgeSection times encoding.FitRidge (leave-one-out and K-fold) and encoding.FitPCABaseline
// against scikit-learn on the same data. Build ccbench with the openblas tag (CGO_LDFLAGS=-lopenblas
// go run -tags openblas ./backend/cmd/ccbench -only ridge) or Go's side runs on pure-Go gonum. Both
// sides use the system OpenBLAS, which picks its kernels from the CPU model at load time: Debian's
// 0.3.21 does not know recent Xeons and falls back to its generic "Prescott" kernels, several times
// slower; ccbench then re-executes itself with OPENBLAS_CORETYPE set (openblas.TuneCoreType), which
// scikit-learn inherits, and the first line reports the kernels in use.
func ridgeSection() section {
	return section{
		name:  "ridge",
		about: "ridge CV per target (Go leave-one-out and K-fold vs scikit-learn RidgeCV) and the PCA + least-squares baseline (vs IncrementalPCA + LinearRegression) on subject-sized simulated data",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			c := ridgeConfig{}
			fs.IntVar(&c.n, "ridge-n", 9841, "samples (training images of subj01)")
			fs.IntVar(&c.p, "ridge-p", 512, "features")
			fs.IntVar(&c.v, "ridge-v", 19004, "targets (lh challenge vertices of subj01)")
			fs.IntVar(&c.alphas, "ridge-alphas", 13, "alphas in the grid, logspace(0, 6)")
			fs.IntVar(&c.folds, "ridge-folds", 5, "folds of the K-fold mode")
			fs.IntVar(&c.pcaK, "ridge-pca-components", 100, "PCA components of the baseline")
			fs.IntVar(&c.pcaBatch, "ridge-pca-batch", 300, "IncrementalPCA batch size of the baseline (the devkit's 300)")
			fs.BoolVar(&c.sklearn, "ridge-sklearn", true, "time scikit-learn too (Debian's /usr/bin/python3 with python3-sklearn)")
			return func(ctx context.Context, b *bench) error { return benchRidge(ctx, b, c) }
		},
	}
}

type ridgeConfig struct {
	n, p, v, alphas, folds int
	pcaK, pcaBatch         int
	sklearn                bool
}

// ridgeCheckRows is the number of training rows whose predictions are compared with scikit-learn's.
const ridgeCheckRows = 64

// ridgeData makes structured data: features with a decaying spectrum over correlated columns and
// non-zero means, and targets y = x·w + b + σ_j·noise with per-target noise levels σ_j spanning
// three decades (signal-to-noise from high to none), all from seed.
func ridgeData(n, p, v int, seed uint64) (x, y []float32) {
	rng := rand.New(rand.NewPCG(seed, 0x7269646765))
	latent := make([]float32, n*p)
	for i := range latent {
		latent[i] = float32(rng.NormFloat64())
	}
	mix := make([]float32, p*p)
	for k := range p {
		scale := math.Pow(0.995, float64(k)) // a spectrum decaying over the columns
		for c := range p {
			mix[k*p+c] = float32(scale * rng.NormFloat64() / math.Sqrt(float64(p)))
		}
	}
	x = make([]float32, n*p)
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, blas32.General{Rows: n, Cols: p, Stride: p, Data: latent},
		blas32.General{Rows: p, Cols: p, Stride: p, Data: mix}, 0, blas32.General{Rows: n, Cols: p, Stride: p, Data: x})
	for k := range p {
		off := float32(rng.NormFloat64())
		for i := range n {
			x[i*p+k] += off
		}
	}
	w := make([]float32, p*v)
	for i := range w {
		w[i] = float32(rng.NormFloat64() / math.Sqrt(float64(p)))
	}
	y = make([]float32, n*v)
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, blas32.General{Rows: n, Cols: p, Stride: p, Data: x},
		blas32.General{Rows: p, Cols: v, Stride: v, Data: w}, 0, blas32.General{Rows: n, Cols: v, Stride: v, Data: y})
	sigma := make([]float64, v)
	for j := range sigma {
		sigma[j] = math.Pow(10, -1+3*rng.Float64())
	}
	for i := range n {
		row := y[i*v : (i+1)*v]
		for j := range row {
			row[j] += float32(sigma[j] * rng.NormFloat64())
		}
	}
	return x, y
}

func logspace(lo, hi float64, k int) []float64 {
	a := make([]float64, k)
	for i := range a {
		a[i] = math.Pow(10, lo+(hi-lo)*float64(i)/float64(max(k-1, 1)))
	}
	return a
}

func benchRidge(ctx context.Context, b *bench, c ridgeConfig) error {
	if c.n < 2 || c.p < 1 || c.v < 1 || c.alphas < 1 || c.folds < 2 || c.folds > c.n {
		return fmt.Errorf("-ridge-n %d, -ridge-p %d, -ridge-v %d, -ridge-alphas %d, -ridge-folds %d: want n ≥ 2, 2 ≤ folds ≤ n and the rest positive",
			c.n, c.p, c.v, c.alphas, c.folds)
	}
	alphas := logspace(0, 6, c.alphas)
	start := time.Now()
	x, y := ridgeData(c.n, c.p, c.v, 6)
	fmt.Fprintf(b.out, "ridge data %dx%d -> %d targets, %d alphas: made in %s (times vary with the machine's load)\n",
		c.n, c.p, c.v, len(alphas), seconds(time.Since(start)))
	if err := ctx.Err(); err != nil {
		return err
	}
	runtime.GC()

	start = time.Now()
	loo, err := encoding.FitRidge(x, c.n, c.p, y, c.v, encoding.RidgeOptions{Alphas: alphas})
	if err != nil {
		return err
	}
	tLOO := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	start = time.Now()
	kf, err := encoding.FitRidge(x, c.n, c.p, y, c.v, encoding.RidgeOptions{Alphas: alphas, Folds: c.folds, Seed: 1})
	if err != nil {
		return err
	}
	tKFold := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	start = time.Now()
	base, _, err := encoding.FitPCABaseline(x, c.n, c.p, y, c.v, c.pcaK, c.pcaBatch)
	if err != nil {
		return err
	}
	tBase := time.Since(start)
	same := 0
	for j := range c.v {
		if kf.Alpha[j] == loo.Alpha[j] {
			same++
		}
	}
	fmt.Fprintf(b.out, "ridge Go: leave-one-out %s, %d-fold %s (alphas equal to LOO's for %.1f%% of targets), PCA(%d, batch %d)+OLS baseline %s\n",
		seconds(tLOO), c.folds, seconds(tKFold), 100*float64(same)/float64(c.v), c.pcaK, c.pcaBatch, seconds(tBase))

	label := fmt.Sprintf("ridge %dx%d->%d, %d alphas", c.n, c.p, c.v, len(alphas))
	if !c.sklearn {
		fmt.Fprintf(b.out, "%s: scikit-learn not run (-ridge-sklearn=false)\n", label)
		return nil
	}
	sk, err := sklearnRidge(ctx, b.work, x, y, c, alphas)
	if err != nil {
		fmt.Fprintf(b.out, "%s: scikit-learn unavailable (%v)\n", label, err)
		return nil
	}
	rLOO := tLOO.Seconds() / sk.RidgeS
	rKFold := sk.RidgeS / tKFold.Seconds()
	verdict := func(miss bool) string {
		if miss {
			b.missed = true
			return ", MISSED"
		}
		return ""
	}
	fmt.Fprintf(b.out, "%s: leave-one-out Go %s, sklearn RidgeCV %s, ratio %.2f (target <= %.1f%s)\n",
		label, seconds(tLOO), fmt.Sprintf("%.2f s", sk.RidgeS), rLOO, ridgeLOOTarget, verdict(rLOO > ridgeLOOTarget))
	fmt.Fprintf(b.out, "%s: %d-fold Go %s, %.2fx faster than sklearn's leave-one-out (target >= %.1f%s)\n",
		label, c.folds, seconds(tKFold), rKFold, ridgeKFoldTarget, verdict(rKFold < ridgeKFoldTarget))
	fmt.Fprintf(b.out, "baseline PCA(%d)+OLS %dx%d->%d: Go %s, sklearn IncrementalPCA+LinearRegression %.2f s, ratio %.2f\n",
		c.pcaK, c.n, c.p, c.v, seconds(tBase), sk.BaseS, tBase.Seconds()/sk.BaseS)

	// Agreement with scikit-learn: chosen alphas and predictions on the first rows.
	skAlpha, _, err := npy.ReadFloat32(filepath.Join(b.work, "sk_alpha.npy"))
	if err != nil {
		return err
	}
	same = 0
	for j, a := range skAlpha {
		if a == loo.Alpha[j] {
			same++
		}
	}
	rows := min(ridgeCheckRows, c.n)
	dLOO, err := predictionGap(filepath.Join(b.work, "sk_ridge_pred.npy"), loo.Predict(x[:rows*c.p], rows))
	if err != nil {
		return err
	}
	dBase, err := predictionGap(filepath.Join(b.work, "sk_base_pred.npy"), base.Predict(x[:rows*c.p], rows))
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "agreement with sklearn: leave-one-out alphas identical for %.2f%% of targets, predictions max rel. gap %.1e; baseline predictions %.1e\n",
		100*float64(same)/float64(c.v), dLOO, dBase)
	return nil
}

// predictionGap is max|got − want| / max|want| against the float32 .npy at path.
func predictionGap(path string, got []float32) (float64, error) {
	want, _, err := npy.ReadFloat32(path)
	if err != nil {
		return 0, err
	}
	if len(want) != len(got) {
		return 0, fmt.Errorf("%s has %d values, want %d", path, len(want), len(got))
	}
	var d, scale float64
	for i, w := range want {
		d = max(d, math.Abs(float64(got[i]-w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	return d / scale, nil
}

type sklearnTimes struct {
	RidgeS float64 `json:"ridge_s"`
	BaseS  float64 `json:"base_s"`
}

// sklearnScript fits RidgeCV and the devkit baseline on the .npy data, timing only the fits, and
// writes the chosen alphas and the predictions on the first rows beside the data.
const sklearnScript = `
import json, os, sys, time
import numpy as np
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import LinearRegression, RidgeCV
work, alphas, k, batch, rows = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
x = np.load(os.path.join(work, "x.npy")).astype(np.float64)
y = np.load(os.path.join(work, "y.npy")).astype(np.float64)
t = time.perf_counter()
m = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
ridge_s = time.perf_counter() - t
np.save(os.path.join(work, "sk_alpha.npy"), np.asarray(m.alpha_, dtype=np.float32))
np.save(os.path.join(work, "sk_ridge_pred.npy"), m.predict(x[:rows]).astype(np.float32))
del m
t = time.perf_counter()
pca = IncrementalPCA(n_components=k, batch_size=batch).fit(x)
lr = LinearRegression().fit(pca.transform(x), y)
base_s = time.perf_counter() - t
np.save(os.path.join(work, "sk_base_pred.npy"), lr.predict(pca.transform(x[:rows])).astype(np.float32))
print(json.dumps({"ridge_s": ridge_s, "base_s": base_s}))
`

func sklearnRidge(ctx context.Context, work string, x, y []float32, c ridgeConfig, alphas []float64) (*sklearnTimes, error) {
	if err := npy.WriteFloat32(filepath.Join(work, "x.npy"), x, []int{c.n, c.p}); err != nil {
		return nil, err
	}
	if err := npy.WriteFloat32(filepath.Join(work, "y.npy"), y, []int{c.n, c.v}); err != nil {
		return nil, err
	}
	a, _ := json.Marshal(alphas)
	cmd := exec.CommandContext(ctx, python, "-c", sklearnScript, work, string(a),
		fmt.Sprint(c.pcaK), fmt.Sprint(c.pcaBatch), fmt.Sprint(min(ridgeCheckRows, c.n)))
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("%s with scikit-learn: %v: %s", python, err, lastLine(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("%s: %w", python, err)
	}
	var t sklearnTimes
	if err := json.Unmarshal(out, &t); err != nil {
		return nil, fmt.Errorf("scikit-learn output %q: %w", out, err)
	}
	return &t, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
