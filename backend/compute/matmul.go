package compute

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// MatMul returns a·w for row-major a (n×k) and w (k×m) as a row-major n×m matrix, computed
// on the backend.
func (b *Backend) MatMul(a []float32, n, k int, w []float32, m int) ([]float32, error) {
	if len(a) != n*k || len(w) != k*m {
		return nil, fmt.Errorf("compute: MatMul shapes: a has %d values for %d×%d, w has %d for %d×%d", len(a), n, k, len(w), k, m)
	}
	exec, err := graph.NewExec(b.Backend, func(x, y *graph.Node) *graph.Node { return graph.MatMul(x, y) })
	if err != nil {
		return nil, fmt.Errorf("compute: build MatMul: %w", err)
	}
	defer exec.Finalize()
	out, err := exec.Call1(tensors.FromFlatDataAndDimensions(a, n, k), tensors.FromFlatDataAndDimensions(w, k, m))
	if err != nil {
		return nil, fmt.Errorf("compute: run MatMul on %s: %w", b.Spec, err)
	}
	defer out.FinalizeAll()
	return tensors.CopyFlatData[float32](out)
}
