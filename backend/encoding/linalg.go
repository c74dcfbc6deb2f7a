package encoding

// The two dense factorisations that fitting needs. linalg_gonum.go implements them with gonum's
// pure-Go LAPACK; with the openblas build tag (and cgo) linalg_openblas.go calls the LAPACK inside
// the system OpenBLAS (divide and conquer, multithreaded), several times faster for the p×p
// eigendecompositions of ridge and the SVDs of the incremental PCA.
//
//	symEigen(a, n) (vals, vecs []float64, ok bool)
//	    the eigendecomposition of the symmetric n×n row-major a (only its lower triangle is read;
//	    a is overwritten): vals ascending, vecs n×n row-major with eigenvector k in column k.
//
//	svdRight(m []float64, rows, cols int) (s, vt []float64, ok bool)
//	    the thin SVD of the rows×cols row-major m (overwritten): s descending (min(rows, cols)
//	    values) and vt, min(rows, cols)×cols row-major, the right singular vectors as rows.
