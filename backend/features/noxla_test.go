//go:build !xla

package features

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestONNXBackendWithoutXLA: in a binary built without the xla tag, asking
// a network extractor for the GPU fails at once and says how to get XLA.
func TestONNXBackendWithoutXLA(t *testing.T) {
	for _, spec := range []string{"xla:cuda", "xla:cpu"} {
		_, err := NewWith("alexnet", Options{Weights: filepath.Join(onnxDir, "alexnet_tiny.onnx"), Backend: spec})
		if err == nil || !strings.Contains(err.Error(), `"`+spec+`"`) || !strings.Contains(err.Error(), "XLA=1") {
			t.Errorf("backend %s: error %v, want one naming the backend and the XLA build", spec, err)
		}
	}
}
