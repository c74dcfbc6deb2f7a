package encoding

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// DefaultPCAComponents is the number of principal components of the organisers' baseline (the
// Algonauts 2023 development kit's IncrementalPCA(n_components=100)), used when 0 is asked for.
const DefaultPCAComponents = 100

// PCA is a principal component analysis fitted incrementally, as scikit-learn's IncrementalPCA
// (whiten=False) fits it: Transform computes (x − Mean)·Componentsᵀ.
type PCA struct {
	P, K int // features, components
	// Mean is the P feature means; Components the K×P row-major principal axes, orthonormal rows,
	// in decreasing order of variance, each signed so that its largest-magnitude entry is positive
	// (scikit-learn's svd_flip with u_based_decision=False).
	Mean, Components []float32
	// SingularValues, ExplainedVariance (their squares over n−1) and ExplainedVarianceRatio (over
	// the total variance) of the K components, as scikit-learn's attributes of the same names.
	SingularValues, ExplainedVariance, ExplainedVarianceRatio []float64
	// NoiseVariance is the mean explained variance of the components beyond K that the last batch's
	// decomposition had, 0 when K = P.
	NoiseVariance float64
	Samples       int // the samples seen
}

// ipca is the float64 state of an incremental PCA.
type ipca struct {
	p, k      int
	seen      int
	mean, vr  []float64 // p: mean and population variance
	comp      []float64 // k×p
	sv        []float64 // k
	ev, evr   []float64 // k
	noiseVar  float64
	unnormVar []float64 // p: scratch
}

// FitIncrementalPCA fits a PCA with components principal axes (0 means DefaultPCAComponents) to the
// n×p row-major features x in batches of batchSize rows (0 means 5·p, scikit-learn's default),
// exactly as scikit-learn's IncrementalPCA(n_components, batch_size).fit does: batches are cut as
// sklearn.utils.gen_batches cuts them, a last batch shorter than components merged into the one
// before, and each batch updates the mean, the variance and the decomposition of the stack
// [diag(s)·components; batch − batch mean; mean correction] by an SVD. It returns an error for
// inconsistent shapes, components larger than p, n or the batch size, or a NaN or infinity in x.
func FitIncrementalPCA(x []float32, n, p, components, batchSize int) (*PCA, error) {
	st, err := fitIPCA(x, n, p, components, batchSize)
	if err != nil {
		return nil, err
	}
	return st.export(), nil
}

func (st *ipca) export() *PCA {
	return &PCA{
		P: st.p, K: st.k,
		Mean: toFloat32(st.mean), Components: toFloat32(st.comp),
		SingularValues: st.sv, ExplainedVariance: st.ev, ExplainedVarianceRatio: st.evr,
		NoiseVariance: st.noiseVar, Samples: st.seen,
	}
}

func fitIPCA(x []float32, n, p, k, batch int) (*ipca, error) {
	if k == 0 {
		k = DefaultPCAComponents
	}
	if batch == 0 {
		batch = 5 * p
	}
	switch {
	case n < 1 || p < 1:
		return nil, fmt.Errorf("encoding: PCA needs samples and features, got n=%d, p=%d", n, p)
	case len(x) != n*p:
		return nil, fmt.Errorf("encoding: x has %d values, want n×p = %d×%d = %d", len(x), n, p, n*p)
	case k < 1 || k > p:
		return nil, fmt.Errorf("encoding: %d PCA components for %d features, want 1 to %d", k, p, p)
	case k > n:
		return nil, fmt.Errorf("encoding: %d PCA components for %d samples, want at most %d", k, n, n)
	case batch < k:
		return nil, fmt.Errorf("encoding: PCA batch size %d is smaller than the %d components", batch, k)
	}
	if err := checkFinite("x", x, p); err != nil {
		return nil, err
	}
	st := &ipca{p: p, k: k, mean: make([]float64, p), vr: make([]float64, p), unnormVar: make([]float64, p)}
	for _, b := range genBatches(n, batch, k) {
		if err := st.partialFit(x[b[0]*p:b[1]*p], b[1]-b[0]); err != nil {
			return nil, fmt.Errorf("encoding: PCA batch of rows %d–%d: %w", b[0], b[1]-1, err)
		}
	}
	return st, nil
}

// genBatches cuts [0, n) as sklearn.utils.gen_batches(n, size, min_batch_size=minSize) does.
func genBatches(n, size, minSize int) [][2]int {
	var out [][2]int
	start := 0
	for range n / size {
		end := start + size
		if end+minSize > n {
			continue
		}
		out = append(out, [2]int{start, end})
		start = end
	}
	if start < n {
		out = append(out, [2]int{start, n})
	}
	return out
}

// partialFit is IncrementalPCA.partial_fit on the nb×p rows xb.
func (st *ipca) partialFit(xb []float32, nb int) error {
	p, k := st.p, st.k
	bm := make([]float64, p)
	for i := range nb {
		for c, v := range xb[i*p : (i+1)*p] {
			bm[c] += float64(v)
		}
	}
	for c := range bm {
		bm[c] /= float64(nb)
	}
	batchSS := make([]float64, p)
	for i := range nb {
		for c, v := range xb[i*p : (i+1)*p] {
			e := float64(v) - bm[c]
			batchSS[c] += e * e
		}
	}
	total := st.seen + nb
	nf, tf, seen := float64(nb), float64(total), float64(st.seen)
	newMean := make([]float64, p)
	var totalSS float64
	for c := range p {
		newMean[c] = (seen*st.mean[c] + nf*bm[c]) / tf
		d := st.mean[c] - bm[c]
		uv := seen*st.vr[c] + batchSS[c]
		if st.seen > 0 {
			uv += seen * nf / tf * d * d
		}
		st.unnormVar[c] = uv
		totalSS += uv
	}
	// The matrix to decompose.
	rows := nb
	if st.seen > 0 {
		rows = k + nb + 1
	}
	m := make([]float64, rows*p)
	r0 := 0
	if st.seen > 0 {
		for i := range k {
			for c := range p {
				m[i*p+c] = st.sv[i] * st.comp[i*p+c]
			}
		}
		r0 = k
		corr := math.Sqrt(seen / tf * nf)
		for c := range p {
			m[(rows-1)*p+c] = corr * (st.mean[c] - bm[c])
		}
	}
	for i := range nb {
		for c, v := range xb[i*p : (i+1)*p] {
			m[(r0+i)*p+c] = float64(v) - bm[c]
		}
	}
	s, vt, ok := svdRight(m, rows, p)
	if !ok {
		return fmt.Errorf("SVD of the %d×%d update matrix did not converge", rows, p)
	}
	if st.comp == nil {
		st.comp = make([]float64, k*p)
		st.sv, st.ev, st.evr = make([]float64, k), make([]float64, k), make([]float64, k)
	}
	for i := range k {
		// svd_flip(u_based_decision=False): the largest |entry| of each axis positive (the first
		// such entry on ties, as numpy's argmax).
		row := vt[i*p : (i+1)*p]
		big, at := -1.0, 0
		for c, e := range row {
			if a := math.Abs(e); a > big {
				big, at = a, c
			}
		}
		sign := 1.0
		if row[at] < 0 {
			sign = -1
		}
		for c, e := range row {
			st.comp[i*p+c] = sign * e
		}
		st.sv[i] = s[i]
		st.ev[i] = s[i] * s[i] / (tf - 1)
		st.evr[i] = s[i] * s[i] / totalSS
	}
	st.noiseVar = 0
	if k < p {
		var sum float64
		for _, v := range s[k:] {
			sum += v * v / (tf - 1)
		}
		if len(s) > k {
			st.noiseVar = sum / float64(len(s)-k)
		} else {
			st.noiseVar = math.NaN() // numpy's mean of an empty slice
		}
	}
	st.seen = total
	st.mean = newMean
	for c := range p {
		st.vr[c] = st.unnormVar[c] / tf
	}
	return nil
}

// Transform returns the n×K row-major scores (x − Mean)·Componentsᵀ of the n×P row-major x. It
// panics when len(x) != n×P.
func (c *PCA) Transform(x []float32, n int) []float32 {
	if n < 0 || len(x) != n*c.P {
		panic(fmt.Sprintf("encoding: PCA.Transform with n=%d, len(x)=%d; want n×%d", n, len(x), c.P))
	}
	out := make([]float32, n*c.K)
	xc := make([]float32, c.P)
	for i := range n {
		for k, v := range x[i*c.P : (i+1)*c.P] {
			xc[k] = v - c.Mean[k]
		}
		for j := range c.K {
			var s float32
			for k, v := range c.Components[j*c.P : (j+1)*c.P] {
				s += v * xc[k]
			}
			out[i*c.K+j] = s
		}
	}
	return out
}

// FitPCABaseline fits the organisers' baseline from the n×p features x to the n×v targets y: an
// incremental PCA to components axes (0 means DefaultPCAComponents) in batches of batchSize rows (0
// means 5·p), then ordinary least squares with an intercept per target on the PCA scores, as
// scikit-learn's IncrementalPCA(n_components, batch_size) followed by LinearRegression() computes
// them (the least-squares solution through a decomposition of the centred scores; a rank-deficient
// problem gets the minimum-norm solution, as LAPACK's gelsd gives it).
//
// Both stages are linear, so the model is returned as the equivalent *Ridge, usable by Predict and
// the model store unchanged: XMean is the PCA mean, W = Componentsᵀ·B (p×v, B the K×v regression
// coefficients) and YMean is the intercept b₀ = ȳ − z̄·B (z̄ the mean training score, zero but for
// rounding). Its Alpha is all zeros (no penalty). The PCA is returned too, for its explained
// variances. Targets are processed in blocks of DefaultBlockSize, in parallel.
func FitPCABaseline(x []float32, n, p int, y []float32, v int, components, batchSize int) (*Ridge, *PCA, error) {
	if v < 1 || len(y) != n*v {
		return nil, nil, fmt.Errorf("encoding: y has %d values, want n×v = %d×%d with v ≥ 1", len(y), n, v)
	}
	if err := checkFinite("y", y, v); err != nil {
		return nil, nil, err
	}
	st, err := fitIPCA(x, n, p, components, batchSize)
	if err != nil {
		return nil, nil, err
	}
	k := st.k
	// The centred scores Zc = (x − mean)·Cᵀ − z̄.
	xc := make([]float64, n*p)
	for i := range n {
		for c := range p {
			xc[i*p+c] = float64(x[i*p+c]) - st.mean[c]
		}
	}
	z := make([]float64, n*k)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(n, p, xc), general(k, p, st.comp), 0, general(n, k, z))
	zbar := make([]float64, k)
	for i := range n {
		for j := range k {
			zbar[j] += z[i*k+j] / float64(n)
		}
	}
	for i := range n {
		for j := range k {
			z[i*k+j] -= zbar[j]
		}
	}
	// The least-squares solution through the decomposition ridge uses (with α = 0): directions with
	// s² below s²max·max(n,K)·ε are dropped, the minimum-norm solution of a rank-deficient problem.
	d, err := decompose(z, n, k, true)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding: PCA scores: %w", err)
	}
	r, u := d.r, d.u
	// B = V·diag(1/s)·UᵀYc over the r kept directions; W = Cᵀ·B = P·(UᵀYc) with P = Cᵀ·V·diag(1/s)
	// (p×r); the intercept term z̄·B = q·(UᵀYc) with q = diag(1/s)·Vᵀz̄.
	vs := make([]float64, k*r)
	q := make([]float64, r)
	for i := range k {
		for j := range r {
			vs[i*r+j] = d.v[i*r+j] / d.s[j]
			q[j] += vs[i*r+j] * zbar[i]
		}
	}
	proj := make([]float64, p*r)
	if r > 0 {
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(k, p, st.comp), general(k, r, vs), 0, general(p, r, proj))
	}
	ymean := columnMeans(y, n, v)
	rd := &Ridge{
		P: p, V: v,
		XMean: toFloat32(st.mean), YMean: make([]float32, v),
		W: make([]float32, p*v), Alpha: make([]float32, v),
	}
	block := min(DefaultBlockSize, v)
	runBlocks(v, block, RidgeOptions{}, func() func(j0, j1 int) {
		yb := make([]float64, n*block)
		uty := make([]float64, r*block)
		wb := make([]float64, p*block)
		return func(j0, j1 int) {
			w := j1 - j0
			for i := range n {
				for j, val := range y[i*v+j0 : i*v+j1] {
					yb[i*w+j] = float64(val) - ymean[j0+j]
				}
			}
			for j := range w {
				rd.YMean[j0+j] = float32(ymean[j0+j])
			}
			if r == 0 {
				return
			}
			blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(n, r, u), general(n, w, yb[:n*w]), 0, general(r, w, uty[:r*w]))
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(p, r, proj), general(r, w, uty[:r*w]), 0, general(p, w, wb[:p*w]))
			for j := range w {
				var zb float64
				for l := range r {
					zb += q[l] * uty[l*w+j]
				}
				// Prediction: ((x − mean)·Cᵀ − z̄)·B + ȳ = (x − mean)·W + (ȳ − z̄·B).
				rd.YMean[j0+j] = float32(ymean[j0+j] - zb)
			}
			for c := range p {
				dst := rd.W[c*v+j0 : c*v+j1]
				for j, val := range wb[c*w : (c+1)*w] {
					dst[j] = float32(val)
				}
			}
		}
	})
	return rd, st.export(), nil
}
