//go:build openblas && cgo

package encoding

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// With the openblas build tag (and cgo), gonum's BLAS calls in this process go to the system
// OpenBLAS through gonum.org/v1/netlib: build with
//
//	CGO_LDFLAGS=-lopenblas go build -tags openblas
//
// This sets gonum's process-wide implementation, which is what a BLAS binding is for; without the
// tag the pure-Go gonum implementation is used.
func init() {
	blas64.Use(netlib.Implementation{})
	blas32.Use(netlib.Implementation{})
}

// defaultWorkers is 1: OpenBLAS parallelises each product itself, and concurrent calls from
// several goroutines made one fit twice as slow on 2 cores.
func defaultWorkers() int { return 1 }

// blasThreaded says that one BLAS call already uses every core.
const blasThreaded = true
