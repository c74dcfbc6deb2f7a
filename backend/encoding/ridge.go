// Package encoding fits and stores voxel-wise (vertex-wise) encoding models: ridge regression from an
// image feature matrix to the response of every cortical vertex, with a regularisation strength
// chosen per vertex by efficient leave-one-out or K-fold cross-validation, the organisers' PCA +
// least-squares baseline, the per-subject model that pairs a ridge for each hemisphere with the
// feature extractor it was trained on, and the on-disk model store.
//
// FitRidge reproduces scikit-learn's RidgeCV(alphas, alpha_per_target=True, fit_intercept=True) with
// its default cv=None: the data are centred (the intercept is not penalised), the design is
// decomposed once, and for every alpha of the grid the exact leave-one-out residuals of every target
// follow from a rescaling of that decomposition. Each target keeps the alpha with the smallest mean
// squared leave-one-out error, the first of the grid on ties, as scikit-learn does. With
// RidgeOptions.Folds ≥ 2 the alphas are chosen by K-fold cross-validation instead, in the manner of
// himalaya's RidgeCV (see kfold.go).
package encoding

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// DefaultAlphas returns the default ridge grid: 17 values from 10⁻¹ to 10⁷, half a decade apart
// (numpy's logspace(-1, 7, 17)). The grid is absolute, as in scikit-learn, so it suits features
// whose columns have roughly unit variance over a few thousand images; it spans the strengths that
// such data need from a nearly noise-free target (small alpha) to a pure-noise one (the largest).
func DefaultAlphas() []float64 {
	a := make([]float64, 17)
	for i := range a {
		a[i] = math.Pow(10, -1+0.5*float64(i))
	}
	return a
}

// DefaultBlockSize is the number of targets processed together when RidgeOptions.BlockSize is 0.
const DefaultBlockSize = 512

// RidgeOptions configures FitRidge.
type RidgeOptions struct {
	// Alphas is the grid of regularisation strengths, each positive and finite, tried in order
	// (ties go to the earlier one). Nil means DefaultAlphas.
	Alphas []float64
	// BlockSize is the number of targets (vertices) handled at once by one worker; it bounds the
	// memory at about 2 × n × BlockSize float64 per worker (plus the p × BlockSize weights). 0 means DefaultBlockSize.
	BlockSize int
	// Folds selects the cross-validation: 0 means exact leave-one-out (scikit-learn's RidgeCV with
	// cv=None); k ≥ 2 means K-fold cross-validation over the folds algonauts.KFold(n, k, Seed)
	// (himalaya's RidgeCV style), each alpha scored by its validation squared error summed over the
	// folds. In K-fold mode each worker also keeps k × p × BlockSize float64 per block.
	Folds int
	// Seed fixes the K-fold partition; unused for leave-one-out.
	Seed int64
	// Workers is the number of blocks fitted in parallel; 0 means GOMAXPROCS with the pure-Go
	// BLAS and 1 with OpenBLAS, whose own threads already use every core (more workers only contend).
	Workers int
	// Progress, when set, is called after each block with the number of targets done and the
	// total. Calls are serialised and done increases.
	Progress func(done, total int)
}

// Ridge is a fitted multi-target ridge regression: Predict computes (x − XMean)·W + YMean.
type Ridge struct {
	P, V  int       // features, targets
	XMean []float32 // P: the feature means of the training data
	YMean []float32 // V: the target means of the training data (the intercepts for centred x)
	W     []float32 // P×V row-major weights
	Alpha []float32 // V: the alpha chosen for each target

	// bias caches YMean − XMean·W, the intercept for uncentred x, made on the first prediction
	// of few rows: with it, one pass over W predicts a row.
	biasOnce sync.Once
	bias     []float32
}

// fitResult is what fitRidge computes beyond the model: the cross-validation curve of every target,
// V×len(alphas) row-major, when asked for. It is the mean squared error over the n samples, each
// predicted once: by leave-one-out, or by the model of the fold that held it out.
type fitResult struct {
	ridge *Ridge
	cv    []float64
}

// FitRidge fits ridge regressions from the n×p row-major features x to the n×v row-major targets y,
// choosing an alpha per target from opt.Alphas by exact leave-one-out error, as scikit-learn's
// RidgeCV(alphas, alpha_per_target=True) does, or by K-fold cross-validation when opt.Folds ≥ 2.
// It returns an error for inconsistent shapes, fewer than two samples, a bad alpha grid or fold
// count, or a NaN or infinite value in x or y (naming its row and column).
func FitRidge(x []float32, n, p int, y []float32, v int, opt RidgeOptions) (*Ridge, error) {
	res, err := fitRidge(x, n, p, y, v, opt, false)
	if err != nil {
		return nil, err
	}
	return res.ridge, nil
}

// validate checks shapes, the grid and the finiteness of the data.
func validate(x []float32, n, p int, y []float32, v int, alphas []float64, folds int) error {
	switch {
	case folds == 1 || folds < 0:
		return fmt.Errorf("encoding: RidgeOptions.Folds = %d, want 0 (leave-one-out) or at least 2", folds)
	case folds > n:
		return fmt.Errorf("encoding: RidgeOptions.Folds = %d exceeds the %d samples", folds, n)
	case n < 2:
		return fmt.Errorf("encoding: ridge needs at least 2 samples, got n=%d", n)
	case p < 1 || v < 1:
		return fmt.Errorf("encoding: ridge needs at least one feature and one target, got p=%d, v=%d", p, v)
	case len(x) != n*p:
		return fmt.Errorf("encoding: x has %d values, want n×p = %d×%d = %d", len(x), n, p, n*p)
	case len(y) != n*v:
		return fmt.Errorf("encoding: y has %d values, want n×v = %d×%d = %d", len(y), n, v, n*v)
	case len(alphas) == 0:
		return errors.New("encoding: empty alpha grid")
	}
	for i, a := range alphas {
		if !(a > 0) || math.IsInf(a, 0) {
			return fmt.Errorf("encoding: alpha[%d] = %v, want a positive finite value", i, a)
		}
	}
	if err := checkFinite("x", x, p); err != nil {
		return err
	}
	return checkFinite("y", y, v)
}

// checkFinite reports the first NaN or infinity of the row-major matrix m with cols columns.
func checkFinite(name string, m []float32, cols int) error {
	for i, val := range m {
		if f := float64(val); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("encoding: %s[row %d, column %d] is %v", name, i/cols, i%cols, val)
		}
	}
	return nil
}

// decomposition is the centred design written as X = U·diag(s)·Vᵀ over its numerically non-zero
// singular values: U is n×r, V is p×r, both with orthonormal columns, both row-major.
type decomposition struct {
	n, p, r int
	u, v    []float64
	s       []float64
}

// decompose factorises the centred n×p matrix xc through the eigendecomposition of the smaller Gram
// matrix: XᵀX (p×p) when n > p, as scikit-learn's 'svd' mode does through the SVD, or XXᵀ (n×n)
// otherwise (its 'eigen' mode). Eigenvalues below λmax·max(n,p)·ε are rounding noise and dropped;
// their directions would get a weight of at most ε relative to the largest for any alpha. When
// needU is false and n > p, U is not formed (d.u is nil).
func decompose(xc []float64, n, p int, needU bool) (*decomposition, error) {
	m := min(n, p)
	gram := make([]float64, m*m)
	a := blas64.General{Rows: n, Cols: p, Stride: p, Data: xc}
	t := blas.Trans // XᵀX
	if n <= p {
		t = blas.NoTrans // XXᵀ
	}
	blas64.Syrk(t, 1, a, 0, blas64.Symmetric{Uplo: blas.Lower, N: m, Stride: m, Data: gram})
	vals, q, ok := symEigen(gram, m) // vals ascending
	if !ok {
		return nil, fmt.Errorf("encoding: eigendecomposition of the %d×%d Gram matrix failed", m, m)
	}
	tol := vals[m-1] * float64(max(n, p)) * 0x1p-52
	var keep []int
	for k := m - 1; k >= 0; k-- { // descending, like an SVD
		if vals[k] > tol && vals[k] > 0 {
			keep = append(keep, k)
		}
	}
	d := &decomposition{n: n, p: p, r: len(keep), s: make([]float64, len(keep))}
	// qr holds the kept eigenvectors (m×r) scaled by 1/s; the other factor is X or Xᵀ times it.
	r := len(keep)
	qr := make([]float64, m*r)
	eig := make([]float64, m*r)
	for c, k := range keep {
		d.s[c] = math.Sqrt(vals[k])
		for i := range m {
			eig[i*r+c] = q[i*m+k]
			qr[i*r+c] = q[i*m+k] / d.s[c]
		}
	}
	if r == 0 {
		return d, nil
	}
	if n > p {
		d.v = eig
		if !needU {
			return d, nil
		}
		d.u = make([]float64, n*r) // U = X·V·diag(1/s)
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, a, general(p, r, qr), 0, general(n, r, d.u))
	} else {
		d.u = eig
		d.v = make([]float64, p*r) // V = Xᵀ·U·diag(1/s)
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, a, general(n, r, qr), 0, general(p, r, d.v))
	}
	return d, nil
}

func general(rows, cols int, data []float64) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: max(cols, 1), Data: data}
}

// fitRidge is FitRidge, optionally keeping the cross-validation curves.
func fitRidge(x []float32, n, p int, y []float32, v int, opt RidgeOptions, keepCV bool) (*fitResult, error) {
	alphas := opt.Alphas
	if alphas == nil {
		alphas = DefaultAlphas()
	}
	if err := validate(x, n, p, y, v, alphas, opt.Folds); err != nil {
		return nil, err
	}
	xmean := columnMeans(x, n, p)
	ymean := columnMeans(y, n, v)
	xc := make([]float64, n*p)
	for i := range n {
		for k := range p {
			xc[i*p+k] = float64(x[i*p+k]) - xmean[k]
		}
	}
	rd := &Ridge{
		P: p, V: v,
		XMean: toFloat32(xmean), YMean: toFloat32(ymean),
		W:     make([]float32, p*v),
		Alpha: make([]float32, v),
	}
	res := &fitResult{ridge: rd}
	if keepCV {
		res.cv = make([]float64, v*len(alphas))
	}
	if opt.Folds >= 2 {
		if err := fitKFold(xc, n, p, y, v, ymean, alphas, opt, res); err != nil {
			return nil, err
		}
		return res, nil
	}

	d, err := decompose(xc, n, p, true)
	if err != nil {
		return nil, err
	}
	xc = nil // only U and V are needed from here

	// Per alpha: the shrinkage s²/(s²+α) of each component and 1/(1−h) for each sample, where
	// h is the leverage of the centred ridge plus 1/n for the unpenalised intercept.
	na := len(alphas)
	shrink := make([][]float64, na)
	invLev := make([][]float64, na)
	for a, alpha := range alphas {
		f := make([]float64, d.r)
		for k, s := range d.s {
			f[k] = s * s / (s*s + alpha)
		}
		inv := make([]float64, n)
		for i := range n {
			h := 1 / float64(n)
			row := d.u[i*d.r : (i+1)*d.r]
			for k, uik := range row {
				h += uik * uik * f[k]
			}
			inv[i] = 1 / (1 - h)
		}
		shrink[a], invLev[a] = f, inv
	}
	block := blockSize(opt, v)
	runBlocks(v, block, opt, func() func(j0, j1 int) {
		ws := newWorkspace(n, d.r, p, block)
		return func(j0, j1 int) {
			ws.fitBlock(d, y, v, ymean, j0, j1, alphas, shrink, invLev, res)
		}
	})
	return res, nil
}

// blockSize is opt.BlockSize with its default, at most v.
func blockSize(opt RidgeOptions, v int) int {
	block := opt.BlockSize
	if block <= 0 {
		block = DefaultBlockSize
	}
	return min(block, v)
}

// runBlocks calls the block functions made by newWorker, one per worker goroutine, on the target
// ranges [j0, j1) of width block that cover [0, v), reporting progress as opt asks.
func runBlocks(v, block int, opt RidgeOptions, newWorker func() func(j0, j1 int)) {
	blocks := (v + block - 1) / block
	workers := opt.Workers
	if workers <= 0 {
		workers = defaultWorkers()
	}
	workers = min(workers, blocks)
	jobs := make(chan int, blocks)
	for b := range blocks {
		jobs <- b * block
	}
	close(jobs)
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fit := newWorker()
			for j0 := range jobs {
				j1 := min(v, j0+block)
				fit(j0, j1)
				if opt.Progress != nil {
					mu.Lock()
					done += j1 - j0
					opt.Progress(done, v)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

// workspace is one worker's scratch memory, sized for a full block.
type workspace struct {
	yb, yhat []float64 // n×w
	uty, t   []float64 // r×w
	wb       []float64 // p×w
	best     []float64 // w
	bestA    []int     // w
	loss     []float64 // w
}

func newWorkspace(n, r, p, w int) *workspace {
	return &workspace{
		yb: make([]float64, n*w), yhat: make([]float64, n*w),
		uty: make([]float64, r*w), t: make([]float64, r*w),
		wb:   make([]float64, p*w),
		best: make([]float64, w), bestA: make([]int, w), loss: make([]float64, w),
	}
}

// fitBlock fits targets [j0, j1): it projects the centred targets on U once, then for every alpha
// forms the fitted values U·diag(f)·Uᵀy, the leave-one-out residuals (y − ŷ)/(1 − h) and their mean
// square, keeps the best alpha of each target and writes its weights V·diag(s/(s²+α))·Uᵀy.
func (ws *workspace) fitBlock(d *decomposition, y []float32, v int, ymean []float64, j0, j1 int,
	alphas []float64, shrink, invLev [][]float64, res *fitResult) {
	n, r, p, w := d.n, d.r, d.p, j1-j0
	yb := ws.yb[:n*w]
	for i := range n {
		src := y[i*v+j0 : i*v+j1]
		dst := yb[i*w : (i+1)*w]
		for j, val := range src {
			dst[j] = float64(val) - ymean[j0+j]
		}
	}
	uty, t, yhat := ws.uty[:r*w], ws.t[:r*w], ws.yhat[:n*w]
	if r > 0 {
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(n, r, d.u), general(n, w, yb), 0, general(r, w, uty))
	}
	best, bestA, loss := ws.best[:w], ws.bestA[:w], ws.loss[:w]
	for a := range alphas {
		f := shrink[a]
		if r > 0 {
			for k := range r {
				for j := range w {
					t[k*w+j] = f[k] * uty[k*w+j]
				}
			}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(n, r, d.u), general(r, w, t), 0, general(n, w, yhat))
		} else {
			clear(yhat)
		}
		clear(loss)
		inv := invLev[a]
		for i := range n {
			c := inv[i]
			yr, hr := yb[i*w:(i+1)*w], yhat[i*w:(i+1)*w]
			for j := range w {
				e := (yr[j] - hr[j]) * c
				loss[j] += e * e
			}
		}
		for j := range w {
			loss[j] /= float64(n)
			if res.cv != nil {
				res.cv[(j0+j)*len(alphas)+a] = loss[j]
			}
			// The first alpha starts the search; later ones replace it only when strictly better
			// (a NaN never is), exactly as scikit-learn's update rule.
			if a == 0 || loss[j] < best[j] {
				best[j], bestA[j] = loss[j], a
			}
		}
	}
	rd := res.ridge
	for j := range w {
		rd.Alpha[j0+j] = float32(alphas[bestA[j]])
	}
	if r == 0 {
		return // all features constant: zero weights
	}
	for k := range r {
		s := d.s[k]
		for j := range w {
			t[k*w+j] = s / (s*s + alphas[bestA[j]]) * uty[k*w+j]
		}
	}
	wb := ws.wb[:p*w]
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(p, r, d.v), general(r, w, t), 0, general(p, w, wb))
	for k := range p {
		dst := rd.W[k*v+j0 : k*v+j1]
		for j, val := range wb[k*w : (k+1)*w] {
			dst[j] = float32(val)
		}
	}
}

func columnMeans(m []float32, n, cols int) []float64 {
	mean := make([]float64, cols)
	for i := range n {
		for j, val := range m[i*cols : (i+1)*cols] {
			mean[j] += float64(val)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	return mean
}

func toFloat32(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}
