//go:build openblas && cgo

package openblas

/*
char *openblas_get_corename(void);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// Enabled says that gonum's BLAS calls go to OpenBLAS, whose every product
// already runs on all cores: callers should not split one across goroutines.
const Enabled = true

func init() {
	blas64.Use(netlib.Implementation{})
	blas32.Use(netlib.Implementation{})
}

// CoreName returns the kernel set OpenBLAS runs ("SkylakeX", "Haswell",
// "Prescott", …).
func CoreName() string { return C.GoString(C.openblas_get_corename()) }
