//go:build !openblas || !cgo

package encoding

import "runtime"

// defaultWorkers is GOMAXPROCS: the pure-Go gonum BLAS runs each product on one goroutine.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
