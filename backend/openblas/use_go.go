//go:build !openblas || !cgo

package openblas

// Enabled is false: gonum's pure-Go BLAS runs each product on one goroutine
// for the sizes this project uses, so callers may split work across cores.
const Enabled = false

// CoreName returns "" (no OpenBLAS in this build).
func CoreName() string { return "" }
