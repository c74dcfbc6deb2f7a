//go:build !openblas || !cgo

package encoding

import "runtime"

// defaultWorkers is GOMAXPROCS: the pure-Go gonum BLAS runs each product on one goroutine.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// blasThreaded says that one BLAS call already uses every core: not so for pure-Go gonum.
const blasThreaded = false
