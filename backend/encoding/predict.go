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

// predictStream computes the predictions one tile of columns at a time, tiles in parallel.
func (r *Ridge) predictStream(dst, x []float32, n int) {
	tiles := (r.V + predictTile - 1) / predictTile
	workers := min(runtime.GOMAXPROCS(0), tiles)
	if n*r.P*r.V < 1<<20 {
		workers = 1
	}
	if workers == 1 {
		for t := range tiles {
			r.predictTile(dst, x, n, t*predictTile)
		}
		return
	}
	r.predictStreamParallel(dst, x, n, tiles, workers)
}

// predictStreamParallel spreads the tiles over workers goroutines. It is separate from
// predictStream so that the single-worker path keeps its variables off the heap.
func (r *Ridge) predictStreamParallel(dst, x []float32, n, tiles, workers int) {
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := wk; t < tiles; t += workers {
				r.predictTile(dst, x, n, t*predictTile)
			}
		}()
	}
	wg.Wait()
}

// predictTile computes columns [j0, j0+predictTile) of every row.
func (r *Ridge) predictTile(dst, x []float32, n, j0 int) {
	p, v := r.P, r.V
	j1 := min(v, j0+predictTile)
	for i := range n {
		out := dst[i*v+j0 : i*v+j1]
		copy(out, r.YMean[j0:j1])
		xi := x[i*p : (i+1)*p]
		for k, xv := range xi {
			c := xv - r.XMean[k]
			if c == 0 {
				continue
			}
			wk := r.W[k*v+j0 : k*v+j1]
			wk = wk[:len(out)]
			for j := range out {
				out[j] += c * wk[j]
			}
		}
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
