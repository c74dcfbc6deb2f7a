package encoding

import (
	"runtime"

	"cortexcast/backend/openblas"
)

// blasThreaded says that one BLAS call already uses every core (OpenBLAS);
// pure-Go gonum runs each product on one goroutine.
const blasThreaded = openblas.Enabled

// defaultWorkers is 1 with OpenBLAS, which parallelises each product itself
// (concurrent calls from several goroutines made one fit twice as slow on 2
// cores), and GOMAXPROCS with pure-Go gonum.
func defaultWorkers() int {
	if blasThreaded {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}
