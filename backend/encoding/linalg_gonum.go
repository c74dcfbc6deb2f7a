//go:build !openblas || !cgo

package encoding

import "gonum.org/v1/gonum/mat"

func symEigen(a []float64, n int) (vals, vecs []float64, ok bool) {
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for k := 0; k <= i; k++ {
			sym.SetSym(i, k, a[i*n+k])
		}
	}
	var es mat.EigenSym
	if !es.Factorize(sym, true) {
		return nil, nil, false
	}
	var q mat.Dense
	es.VectorsTo(&q)
	return es.Values(nil), q.RawMatrix().Data, true
}

func svdRight(m []float64, rows, cols int) (s, vt []float64, ok bool) {
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, m), mat.SVDThinV) {
		return nil, nil, false
	}
	s = svd.Values(nil)
	var v mat.Dense
	svd.VTo(&v) // cols×r
	r := len(s)
	vt = make([]float64, r*cols)
	for i := range r {
		for c := range cols {
			vt[i*cols+c] = v.At(c, i)
		}
	}
	return s, vt, true
}
