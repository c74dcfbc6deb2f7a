package encoding

import (
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Predict returns the n×r.V row-major predictions (x − XMean)·W + YMean for the n×r.P row-major
// features x. It panics when len(x) != n×r.P, as a slice index would.
func (r *Ridge) Predict(x []float32, n int) []float32 {
	dst := make([]float32, n*r.V)
	r.PredictInto(dst, x, n)
	return dst
}

// gemmRows is the number of rows from which PredictInto switches from its streaming kernel to a
// matrix product on centred chunks of rows.
const gemmRows = 32

// predictTile is the number of columns of W that the streaming kernel keeps hot in cache.
const predictTile = 512

// PredictInto writes the n×r.V predictions for the n×r.P features x into dst. For fewer than 32 rows
// (a server answering for one image) it allocates nothing beyond its goroutines: it streams W once
// per tile of columns, centring x on the fly. For more rows it centres chunks of x into a scratch
// buffer and uses a float32 matrix product. It panics when len(x) != n×r.P or len(dst) != n×r.V.
func (r *Ridge) PredictInto(dst, x []float32, n int) {
	if n < 0 || len(x) != n*r.P || len(dst) != n*r.V {
		panic(fmt.Sprintf("encoding: PredictInto with n=%d, len(x)=%d, len(dst)=%d; want x n×%d and dst n×%d",
			n, len(x), len(dst), r.P, r.V))
	}
	if n == 0 || r.V == 0 {
		return
	}
	if n < gemmRows {
		r.predictStream(dst, x, n)
		return
	}
	r.predictGemm(dst, x, n)
}

// uncentredBias returns YMean − XMean·W (accumulated in float64), computed once.
func (r *Ridge) uncentredBias() []float32 {
	r.biasOnce.Do(func() {
		acc := make([]float64, r.V)
		for j, m := range r.YMean {
			acc[j] = float64(m)
		}
		for k, m := range r.XMean {
			if m == 0 {
				continue
			}
			row := r.W[k*r.V : (k+1)*r.V]
			for j, w := range row {
				acc[j] -= float64(m) * float64(w)
			}
		}
		r.bias = make([]float32, r.V)
		for j, a := range acc {
			r.bias[j] = float32(a)
		}
	})
	return r.bias
}

// predictStream computes bias + x·W for a few rows, one float32 matrix-vector product (assembly
// or OpenBLAS) per row: several times faster than a Go loop over W, and W is read once per row.
// With OpenBLAS one product spans all columns (OpenBLAS threads it); with the pure-Go BLAS tiles
// of columns run in parallel.
func (r *Ridge) predictStream(dst, x []float32, n int) {
	bias := r.uncentredBias()
	if blasThreaded {
		r.predictCols(dst, x, n, bias, 0, r.V)
		return
	}
	tiles := (r.V + predictTile - 1) / predictTile
	workers := min(runtime.GOMAXPROCS(0), tiles)
	if n*r.P*r.V < 1<<20 {
		workers = 1
	}
	if workers == 1 {
		r.predictCols(dst, x, n, bias, 0, r.V)
		return
	}
	r.predictStreamParallel(dst, x, n, bias, tiles, workers)
}

// predictStreamParallel spreads the tiles over workers goroutines. It is separate from
// predictStream so that the single-worker path keeps its variables off the heap.
func (r *Ridge) predictStreamParallel(dst, x []float32, n int, bias []float32, tiles, workers int) {
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := wk; t < tiles; t += workers {
				r.predictCols(dst, x, n, bias, t*predictTile, min(r.V, (t+1)*predictTile))
			}
		}()
	}
	wg.Wait()
}

// predictCols computes columns [j0, j1) of every row.
func (r *Ridge) predictCols(dst, x []float32, n int, bias []float32, j0, j1 int) {
	p, v := r.P, r.V
	w := blas32.General{Rows: p, Cols: j1 - j0, Stride: v, Data: r.W[j0:]}
	for i := range n {
		out := dst[i*v+j0 : i*v+j1]
		copy(out, bias[j0:j1])
		blas32.Gemv(blas.Trans, 1, w, blas32.Vector{N: p, Inc: 1, Data: x[i*p : (i+1)*p]}, 1,
			blas32.Vector{N: len(out), Inc: 1, Data: out})
	}
}

// predictGemm centres chunks of rows and multiplies them by W with float32 BLAS.
func (r *Ridge) predictGemm(dst, x []float32, n int) {
	p, v := r.P, r.V
	const chunk = 256
	xc := make([]float32, min(n, chunk)*p)
	w := blas32.General{Rows: p, Cols: v, Stride: v, Data: r.W}
	for i0 := 0; i0 < n; i0 += chunk {
		i1 := min(n, i0+chunk)
		m := i1 - i0
		for i := range m {
			src := x[(i0+i)*p : (i0+i+1)*p]
			row := xc[i*p : (i+1)*p]
			for k, xv := range src {
				row[k] = xv - r.XMean[k]
			}
			copy(dst[(i0+i)*v:(i0+i+1)*v], r.YMean)
		}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: m, Cols: p, Stride: p, Data: xc[:m*p]}, w,
			1, blas32.General{Rows: m, Cols: v, Stride: v, Data: dst[i0*v : i1*v]})
	}
}
