package encoding

// K-fold cross-validated ridge, in the manner of himalaya's RidgeCV.
//
// Notation: X̃ and Ỹ are the features and targets centred with the means of all n samples. For a
// fold with validation rows val and training rows tr (ntr of them), m and μ are the means of X̃ and
// Ỹ over tr, X' = X̃ − 1mᵀ and Y' = Ỹ − 1μᵀ; so X'tr, Y'tr are the training part centred as the final
// fit centres all the data, and X'val, Y'val the validation part centred with the training means,
// which is how the fold's model predicts it. With X'tr = U·diag(s)·Vᵀ the fold's ridge is
//
//	W_α = V·diag(1/(s²+α))·Vᵀ·Z,   Z = X'trᵀY'tr (p×v),
//
// and its validation error for target j is ‖y'val_j − A·h_α∘b_j‖², with A = X'val·V (nval×r),
// B = VᵀZ (r×v) and h_α = 1/(s²+α). Everything that does not depend on α is formed once per fold
// and block; what remains per alpha is one of two organisations, chosen per fold:
//
//   - gram (r ≤ nval, the usual case of many samples): with AᵀA = L·Lᵀ (Cholesky, r×r) and
//     D = AᵀY'val (r×v), the error is ‖y'val_j‖² − 2·Σₖ hₖBₖⱼDₖⱼ + ‖Lᵀ(h∘b_j)‖²: one triangular
//     r×r by r×v product per alpha, about r²·v multiply-adds, whatever the fold size. The expanded
//     square loses about ε·‖y'val‖²/error relative precision, below 10⁻⁹ unless a target is fitted
//     to better than one part in 10⁶.
//   - direct (nval < r, or AᵀA not positive definite): the predictions A·(h∘B) (nval·r·v) and the
//     residuals themselves.
//
// Z comes from p×v products too: Σ over folds of X̃valᵀỸval is X̃ᵀỸ, and X'trᵀY'tr = X'ᵀY' − X'valᵀY'val
// where X'ᵀY' = X̃ᵀỸ − (X̃ᵀ1)μᵀ − m(Ỹᵀ1)ᵀ + n·mμᵀ; so a block costs one nval×p by p×v product per
// fold (n·p·v in all) to form every X'valᵀY'val, instead of a training product per fold. The same
// X̃ᵀỸ gives the final weights V·diag(1/(s²+α_j))·VᵀX̃ᵀỸ over the decomposition of all the data,
// without U.
//
// Each target keeps the alpha with the smallest validation squared error summed over the folds
// (the mean over all samples, each predicted by the fold that held it out), the first of the grid
// on ties. himalaya scores each fold with R² by default and averages the folds' scores; the two
// agree up to the weighting of the folds by their size and variance.

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"cortexcast/backend/algonauts"
)

// fold is what K-fold fitting precomputes for one fold, shared read-only by the workers.
type fold struct {
	val  []int     // validation rows, ascending
	ntr  int       // training rows
	m    []float64 // p: mean of X̃ over the training rows
	xv   []float64 // nval×p: X'val = X̃val − 1mᵀ
	sx   []float64 // p: column sums of X'val
	d    *decomposition
	h    [][]float64 // per alpha, 1/(s²+α) of each component
	gram bool        // organisation: gram (true) or direct
	a    []float64   // direct: A = X'val·V, nval×r
	l    []float64   // gram: the lower Cholesky factor of AᵀA, r×r row-major
}

// prepareFold decomposes the training part of fold val of the globally centred xc.
func prepareFold(xc []float64, n, p int, val []int, alphas []float64) (*fold, error) {
	nval := len(val)
	f := &fold{val: val, ntr: n - nval, m: make([]float64, p)}
	inVal := make([]bool, n)
	for _, i := range val {
		inVal[i] = true
	}
	xtr := make([]float64, 0, f.ntr*p)
	for i := range n {
		if inVal[i] {
			continue
		}
		row := xc[i*p : (i+1)*p]
		xtr = append(xtr, row...)
		for k, x := range row {
			f.m[k] += x
		}
	}
	for k := range f.m {
		f.m[k] /= float64(f.ntr)
	}
	for i := range f.ntr {
		row := xtr[i*p : (i+1)*p]
		for k := range row {
			row[k] -= f.m[k]
		}
	}
	d, err := decompose(xtr, f.ntr, p, false)
	if err != nil {
		return nil, err
	}
	f.d = d
	f.xv = make([]float64, nval*p)
	f.sx = make([]float64, p)
	for i, row := range val {
		dst := f.xv[i*p : (i+1)*p]
		for k, x := range xc[row*p : (row+1)*p] {
			dst[k] = x - f.m[k]
			f.sx[k] += dst[k]
		}
	}
	f.h = make([][]float64, len(alphas))
	for a, alpha := range alphas {
		h := make([]float64, d.r)
		for k, s := range d.s {
			h[k] = 1 / (s*s + alpha)
		}
		f.h[a] = h
	}
	r := d.r
	if r == 0 {
		return f, nil // all training features constant: the fold predicts the training means
	}
	f.a = make([]float64, nval*r)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(nval, p, f.xv), general(p, r, d.v), 0, general(nval, r, f.a))
	if r > nval {
		return f, nil
	}
	m := mat.NewSymDense(r, nil)
	blas64.Syrk(blas.Trans, 1, general(nval, r, f.a), 0, m.RawSymmetric())
	var ch mat.Cholesky
	if !ch.Factorize(m) {
		return f, nil // AᵀA singular: keep the direct organisation
	}
	var l mat.TriDense
	ch.LTo(&l)
	f.l = make([]float64, r*r)
	for i := range r {
		for k := 0; k <= i; k++ {
			f.l[i*r+k] = l.At(i, k)
		}
	}
	f.gram, f.a = true, nil
	return f, nil
}

// fitKFold fills res (whose means and shapes fitRidge has set) by K-fold cross-validation.
func fitKFold(xc []float64, n, p int, y []float32, v int, ymean, alphas []float64, opt RidgeOptions, res *fitResult) error {
	parts := algonauts.KFold(n, opt.Folds, opt.Seed)
	folds := make([]*fold, len(parts))
	var full *decomposition
	// The folds' decompositions and that of all the data, in parallel.
	errs := make([]error, len(parts)+1)
	var wg sync.WaitGroup
	workers := opt.Workers
	if workers <= 0 {
		workers = defaultWorkers()
	}
	sem := make(chan struct{}, workers)
	for i := range len(parts) + 1 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if i == len(parts) {
				full, errs[i] = decompose(xc, n, p, false)
				return
			}
			folds[i], errs[i] = prepareFold(xc, n, p, parts[i], alphas)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("fold %d of %d: %w", i+1, len(parts), errs[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	sxAll := make([]float64, p) // X̃ᵀ1, zero but for rounding
	for i := range n {
		for k, x := range xc[i*p : (i+1)*p] {
			sxAll[k] += x
		}
	}
	block := blockSize(opt, v)
	kf := &kfold{n: n, p: p, v: v, y: y, ymean: ymean, alphas: alphas, folds: folds, full: full, sxAll: sxAll, res: res}
	runBlocks(v, block, opt, func() func(j0, j1 int) {
		ws := kf.newWorkspace(block)
		return func(j0, j1 int) { kf.fitBlock(ws, j0, j1) }
	})
	return nil
}

// kfold holds what every block of a K-fold fit reads.
type kfold struct {
	n, p, v int
	y       []float32
	ymean   []float64
	alphas  []float64
	folds   []*fold
	full    *decomposition
	sxAll   []float64
	res     *fitResult
}

// kfoldWorkspace is one worker's scratch memory, sized for a full block of w targets.
type kfoldWorkspace struct {
	yb     []float64   // n×w: Ỹ
	colsum []float64   // w: Ỹᵀ1
	yv     []float64   // nval×w: Y'val of one fold
	g      [][]float64 // per fold, p×w: X'valᵀY'val, then Z
	mu     [][]float64 // per fold, w: μ
	yy     [][]float64 // per fold, w: ‖y'val_j‖²
	xty    []float64   // p×w: X̃ᵀỸ
	b, dd  []float64   // r×w: B = VᵀZ and D = VᵀX'valᵀY'val
	t      []float64   // r×w
	yhat   []float64   // nval×w
	cross  []float64   // r×w: B∘D
	sums   []float64   // w: column sums of Y'val
	c, q   []float64   // w: per-alpha accumulators
	sse    []float64   // w×len(alphas): summed validation squared errors
}

func (kf *kfold) newWorkspace(w int) *kfoldWorkspace {
	maxVal, maxR := 0, kf.full.r
	for _, f := range kf.folds {
		maxVal = max(maxVal, len(f.val))
		maxR = max(maxR, f.d.r)
	}
	ws := &kfoldWorkspace{
		yb: make([]float64, kf.n*w), colsum: make([]float64, w),
		yv:  make([]float64, maxVal*w),
		g:   make([][]float64, len(kf.folds)),
		mu:  make([][]float64, len(kf.folds)),
		yy:  make([][]float64, len(kf.folds)),
		xty: make([]float64, kf.p*w),
		b:   make([]float64, maxR*w), dd: make([]float64, maxR*w), t: make([]float64, maxR*w),
		yhat: make([]float64, maxVal*w), cross: make([]float64, maxR*w),
		sse:  make([]float64, w*len(kf.alphas)),
		sums: make([]float64, w), c: make([]float64, w), q: make([]float64, w),
	}
	for i := range kf.folds {
		ws.g[i] = make([]float64, kf.p*w)
		ws.mu[i] = make([]float64, w)
		ws.yy[i] = make([]float64, w)
	}
	return ws
}

// gatherVal writes Y'val = Ỹval − 1μᵀ of fold f into ws.yv and returns it with its column sums
// added into sy when sy is not nil.
func (ws *kfoldWorkspace) gatherVal(f *fold, mu []float64, w int, sy []float64) []float64 {
	yv := ws.yv[:len(f.val)*w]
	for i, row := range f.val {
		src := ws.yb[row*w : (row+1)*w]
		dst := yv[i*w : (i+1)*w]
		for j := range dst {
			dst[j] = src[j] - mu[j]
		}
		if sy != nil {
			for j, e := range dst {
				sy[j] += e
			}
		}
	}
	return yv
}

// fitBlock fits targets [j0, j1).
func (kf *kfold) fitBlock(ws *kfoldWorkspace, j0, j1 int) {
	n, p, v, w, na := kf.n, kf.p, kf.v, j1-j0, len(kf.alphas)
	yb, colsum := ws.yb[:n*w], ws.colsum[:w]
	clear(colsum)
	for i := range n {
		src := kf.y[i*v+j0 : i*v+j1]
		dst := yb[i*w : (i+1)*w]
		for j, val := range src {
			dst[j] = float64(val) - kf.ymean[j0+j]
			colsum[j] += dst[j]
		}
	}
	xty := ws.xty[:p*w]
	clear(xty)
	sums := ws.sums[:w]
	// Pass 1: per fold μ, Y'val, ‖y'val‖², G = X'valᵀY'val, and X̃ᵀỸ = Σ X̃valᵀỸval.
	for fi, f := range kf.folds {
		nval := len(f.val)
		mu := ws.mu[fi][:w]
		copy(mu, colsum)
		for _, row := range f.val {
			for j, e := range yb[row*w : (row+1)*w] {
				mu[j] -= e
			}
		}
		for j := range mu {
			mu[j] /= float64(f.ntr)
		}
		clear(sums)
		yv := ws.gatherVal(f, mu, w, sums)
		yy := ws.yy[fi][:w]
		clear(yy)
		for i := range nval {
			for j, e := range yv[i*w : (i+1)*w] {
				yy[j] += e * e
			}
		}
		g := ws.g[fi][:p*w]
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(nval, p, f.xv), general(nval, w, yv), 0, general(p, w, g))
		// X̃valᵀỸval = G + sx·μᵀ + m·syᵀ + nval·m·μᵀ.
		for k := range p {
			row := xty[k*w : (k+1)*w]
			gk := g[k*w : (k+1)*w]
			sxk, mk := f.sx[k], f.m[k]
			for j := range row {
				row[j] += gk[j] + sxk*mu[j] + mk*(sums[j]+float64(nval)*mu[j])
			}
		}
	}
	// Pass 2: per fold Z and the validation error of every alpha.
	sse := ws.sse[:w*na]
	clear(sse)
	for fi, f := range kf.folds {
		kf.foldErrors(ws, f, fi, w, sse)
	}
	rd := kf.res.ridge
	best := make([]int, w)
	for j := range w {
		row := sse[j*na : (j+1)*na]
		for a, e := range row {
			if kf.res.cv != nil {
				kf.res.cv[(j0+j)*na+a] = e / float64(n)
			}
			if a > 0 && e < row[best[j]] {
				best[j] = a
			}
		}
		rd.Alpha[j0+j] = float32(kf.alphas[best[j]])
	}
	// The final weights over all the data: V·diag(1/(s²+α_j))·VᵀX̃ᵀỸ.
	d := kf.full
	r := d.r
	if r == 0 {
		return
	}
	b, t := ws.b[:r*w], ws.t[:r*w]
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(p, r, d.v), general(p, w, xty), 0, general(r, w, b))
	for k, s := range d.s {
		for j := range w {
			t[k*w+j] = b[k*w+j] / (s*s + kf.alphas[best[j]])
		}
	}
	wb := ws.g[0][:p*w]
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(p, r, d.v), general(r, w, t), 0, general(p, w, wb))
	for k := range p {
		dst := rd.W[k*v+j0 : k*v+j1]
		for j, val := range wb[k*w : (k+1)*w] {
			dst[j] = float32(val)
		}
	}
}

// foldErrors adds the validation squared errors of fold f for every alpha into sse (w×alphas).
func (kf *kfold) foldErrors(ws *kfoldWorkspace, f *fold, fi, w int, sse []float64) {
	p, na, nval, r := kf.p, len(kf.alphas), len(f.val), f.d.r
	yy, mu := ws.yy[fi][:w], ws.mu[fi][:w]
	if r == 0 {
		for j := range w {
			for a := range na {
				sse[j*na+a] += yy[j]
			}
		}
		return
	}
	g := ws.g[fi][:p*w]
	b, dd, t := ws.b[:r*w], ws.dd[:r*w], ws.t[:r*w]
	if f.gram {
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(p, r, f.d.v), general(p, w, g), 0, general(r, w, dd))
	}
	// Z = X̃ᵀỸ − (X̃ᵀ1)μᵀ − m(Ỹᵀ1)ᵀ + n·mμᵀ − G, in place of G.
	xty, colsum := ws.xty[:p*w], ws.colsum[:w]
	nf := float64(kf.n)
	for k := range p {
		row := g[k*w : (k+1)*w]
		xk := xty[k*w : (k+1)*w]
		sk, mk := kf.sxAll[k], f.m[k]
		for j := range row {
			row[j] = xk[j] - sk*mu[j] - mk*colsum[j] + nf*mk*mu[j] - row[j]
		}
	}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(p, r, f.d.v), general(p, w, g), 0, general(r, w, b))
	if f.gram {
		cross := ws.cross[:r*w]
		for i := range cross {
			cross[i] = b[i] * dd[i]
		}
		l := blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: r, Stride: r, Data: f.l}
		for a := range na {
			h := f.h[a]
			for k := range r {
				hk := h[k]
				tr, br := t[k*w:(k+1)*w], b[k*w:(k+1)*w]
				for j := range tr {
					tr[j] = hk * br[j]
				}
			}
			blas64.Trmm(blas.Left, blas.Trans, 1, l, general(r, w, t)) // t = Lᵀ(h∘B)
			c, q := ws.c[:w], ws.q[:w]
			clear(c)
			clear(q)
			for k := range r {
				hk := h[k]
				for j, e := range cross[k*w : (k+1)*w] {
					c[j] += hk * e
				}
				for j, e := range t[k*w : (k+1)*w] {
					q[j] += e * e
				}
			}
			for j := range w {
				sse[j*na+a] += max(yy[j]-2*c[j]+q[j], 0)
			}
		}
		return
	}
	yv := ws.gatherVal(f, mu, w, nil)
	yhat := ws.yhat[:nval*w]
	for a := range na {
		h := f.h[a]
		for k := range r {
			hk := h[k]
			tr, br := t[k*w:(k+1)*w], b[k*w:(k+1)*w]
			for j := range tr {
				tr[j] = hk * br[j]
			}
		}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(nval, r, f.a), general(r, w, t), 0, general(nval, w, yhat))
		q := ws.q[:w]
		clear(q)
		for i := range nval {
			yr, hr := yv[i*w:(i+1)*w], yhat[i*w:(i+1)*w]
			for j := range yr {
				e := yr[j] - hr[j]
				q[j] += e * e
			}
		}
		for j, e := range q {
			sse[j*na+a] += e
		}
	}
}
