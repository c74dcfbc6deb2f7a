//go:build openblas && cgo

package encoding

/*
#include <stddef.h>

// LAPACK's Fortran entry points in libopenblas (32-bit integers), with gfortran's hidden lengths
// of the character arguments. Go memory passed to them holds no Go pointers, as cgo requires.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
	double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
	double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
	int *iwork, int *info, size_t);
*/
import "C"

import (
	"math"
	"unsafe"
)

// fits32 reports whether every count fits LAPACK's 32-bit integers.
func fits32(xs ...int) bool {
	for _, x := range xs {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

func symEigen(a []float64, n int) (vals, vecs []float64, ok bool) {
	if n == 0 || !fits32(n*n) {
		return nil, nil, false
	}
	// Row-major lower = column-major upper of the same memory.
	jobz, uplo := C.char('V'), C.char('U')
	cn := C.int(n)
	w := make([]float64, n)
	var info C.int
	var wq float64
	var iq C.int
	lw, liw := C.int(-1), C.int(-1)
	C.dsyevd_(&jobz, &uplo, &cn, (*C.double)(unsafe.Pointer(&a[0])), &cn, (*C.double)(unsafe.Pointer(&w[0])),
		(*C.double)(unsafe.Pointer(&wq)), &lw, &iq, &liw, &info, 1, 1)
	if info != 0 {
		return nil, nil, false
	}
	work := make([]float64, int(wq))
	iwork := make([]C.int, int(iq))
	lw, liw = C.int(len(work)), C.int(len(iwork))
	C.dsyevd_(&jobz, &uplo, &cn, (*C.double)(unsafe.Pointer(&a[0])), &cn, (*C.double)(unsafe.Pointer(&w[0])),
		(*C.double)(unsafe.Pointer(&work[0])), &lw, &iwork[0], &liw, &info, 1, 1)
	if info != 0 {
		return nil, nil, false
	}
	// Column-major eigenvectors: eigenvector k is a[k*n : (k+1)*n]; transpose to columns.
	vecs = make([]float64, n*n)
	for k := range n {
		for i, x := range a[k*n : (k+1)*n] {
			vecs[i*n+k] = x
		}
	}
	return w, vecs, true
}

func svdRight(m []float64, rows, cols int) (s, vt []float64, ok bool) {
	r := min(rows, cols)
	if r == 0 || !fits32(rows*cols, 8*r) {
		return nil, nil, false
	}
	// The row-major rows×cols m is the column-major cols×rows Mᵀ = V·S·Uᵀ: its left singular
	// vectors (cols×r, column-major) are the rows of our vt.
	jobz := C.char('S')
	cm, cn := C.int(cols), C.int(rows)
	s = make([]float64, r)
	vt = make([]float64, cols*r)  // LAPACK's u
	ut := make([]float64, r*rows) // LAPACK's vt, unused
	iwork := make([]C.int, 8*r)
	var info C.int
	var wq float64
	lw := C.int(-1)
	ld := C.int(r)
	C.dgesdd_(&jobz, &cm, &cn, (*C.double)(unsafe.Pointer(&m[0])), &cm, (*C.double)(unsafe.Pointer(&s[0])),
		(*C.double)(unsafe.Pointer(&vt[0])), &cm, (*C.double)(unsafe.Pointer(&ut[0])), &ld,
		(*C.double)(unsafe.Pointer(&wq)), &lw, &iwork[0], &info, 1)
	if info != 0 {
		return nil, nil, false
	}
	work := make([]float64, int(wq))
	lw = C.int(len(work))
	C.dgesdd_(&jobz, &cm, &cn, (*C.double)(unsafe.Pointer(&m[0])), &cm, (*C.double)(unsafe.Pointer(&s[0])),
		(*C.double)(unsafe.Pointer(&vt[0])), &cm, (*C.double)(unsafe.Pointer(&ut[0])), &ld,
		(*C.double)(unsafe.Pointer(&work[0])), &lw, &iwork[0], &info, 1)
	if info != 0 {
		return nil, nil, false
	}
	return s, vt, true
}
