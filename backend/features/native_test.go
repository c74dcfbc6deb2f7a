package features

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNativeParity runs the PyTorch-exported fixtures on the native engine
// and compares them with PyTorch's float64 outputs, in one batch and one
// image at a time.
func TestNativeParity(t *testing.T) {
	cases := []struct {
		model, node, want, pool string
		dim                     int
	}{
		{"alexnet_tiny", "", "alexnet_tiny_output", "flatten", 10},
		{"alexnet_tiny", "features.2", "alexnet_tiny_features.2", "flatten", 8 * 27 * 27},
		{"alexnet_tiny", "/features/features.12/MaxPool_output_0", "alexnet_tiny_features.12", "flatten", 16 * 36},
		{"alexnet_tiny", "features.12", "alexnet_tiny_features.12", "mean", 16},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s#%s/%s", c.model, c.node, c.pool), func(t *testing.T) {
			x, xs := readNPY(t, c.model+"_input")
			want, ws := readNPY(t, c.want)
			if c.pool == "mean" {
				want = spatialMean(want, ws)
			}
			n := xs[0]
			for _, batch := range []int{n, 1} {
				e, err := NewONNX(filepath.Join(onnxDir, c.model+".onnx"), c.node, ONNXOptions{Label: c.model, Engine: "native", Pool: c.pool, BatchSize: batch})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(e.Engine(), "native") {
					t.Errorf("Engine() = %q", e.Engine())
				}
				if e.Dim() != c.dim {
					t.Fatalf("Dim %d, want %d", e.Dim(), c.dim)
				}
				got, err := e.Run(context.Background(), x, n)
				if err != nil {
					t.Fatal(err)
				}
				if r := relErr(got, want); r > 1e-4 || math.IsNaN(r) {
					t.Errorf("batch %d: relative error %.3g > 1e-4", batch, r)
				} else {
					t.Logf("batch %d: relative error %.3g", batch, r)
				}
				if e.PerImageBytes() <= 0 {
					t.Errorf("PerImageBytes %d", e.PerImageBytes())
				}
			}
		})
	}
}

// TestNativeCaffeOps runs caffe_ops.onnx (written node by node by
// scripts/fixtures/onnx_models.py: LRN, grouped/dilated/strided
// convolutions, ceil-mode and padded pools, BatchNormalization, residual
// Add, broadcast Mul, Concat, Reshape to [1, -1], Gemm, Softmax; static batch
// of 1) against torch.nn.functional in float64.
func TestNativeCaffeOps(t *testing.T) {
	x, xs := readNPY(t, "caffe_ops_input")
	for _, c := range []struct{ node, want string }{
		{"", "caffe_ops_output"},
		{"p1", "caffe_ops_pool1"},
		{"gate_mul", "caffe_ops_gated"},
	} {
		want, _ := readNPY(t, c.want)
		e, err := NewONNX(filepath.Join(onnxDir, "caffe_ops.onnx"), c.node, ONNXOptions{Engine: "native", BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Run(context.Background(), x, xs[0])
		if err != nil {
			t.Fatalf("%q: %v", c.node, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d values, want %d", c.node, len(got), len(want))
		}
		if r := relErr(got, want); r > 1e-5 || math.IsNaN(r) {
			t.Errorf("%q: relative error %.3g > 1e-5", c.node, r)
		} else {
			t.Logf("%q: relative error %.3g", c.node, r)
		}
	}
}

func TestNativeErrors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(onnxDir, "caffe_ops.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mutate func(g *onnxGraph)
		want   string
	}{
		{"unknown operator", func(g *onnxGraph) { g.nodes[1].op = "Frobnicate" }, `node "relu1": operator Frobnicate`},
		{"grouping", func(g *onnxGraph) { g.nodes[4].attrs["group"] = onnxAttr{i: 5} }, `group 5 does not divide 12`},
		{"weight not constant", func(g *onnxGraph) { g.nodes[0].inputs[1] = "x" }, `weight "x" is not a float32 initializer`},
		{"external data", func(g *onnxGraph) { g.inits["c1.w"].external = true }, `initializer "c1.w": data in an external file`},
		{"truncated weight", func(g *onnxGraph) { g.inits["c1.b"].raw = g.inits["c1.b"].raw[:5] }, `raw data of 5 bytes for dims [8]`},
		{"missing producer", func(g *onnxGraph) { g.nodes[2].inputs[0] = "nowhere" }, `value "nowhere" has no producer`},
		{"kernel attribute", func(g *onnxGraph) { g.nodes[0].attrs["kernel_shape"] = onnxAttr{ints: []int64{3, 3}} }, `kernel_shape [3 3] but weight kernel 5×5`},
	} {
		g, err := parseONNXGraph(b)
		if err != nil {
			t.Fatal(err)
		}
		c.mutate(g)
		if _, err := newNativeNet(g, "x", "prob"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// Shapes that do not fit are run-time errors naming the node.
	g, _ := parseONNXGraph(b)
	n, err := newNativeNet(g, "x", "prob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.run(make([]float32, 4*40*40), []int{1, 4, 40, 40}); err == nil || !strings.Contains(err.Error(), `node "conv1"`) {
		t.Errorf("4-channel input: error %v, want one naming conv1", err)
	}
	if _, err := n.run(make([]float32, 3*2*2), []int{1, 3, 2, 2}); err == nil || !strings.Contains(err.Error(), "larger than the padded input") {
		t.Errorf("2×2 input: error %v", err)
	}
	// A model whose graph the native engine cannot run: "native" says why,
	// "auto" falls back to onnx-gomlx.
	if _, err := NewONNX(filepath.Join(onnxDir, "sam_tiny.onnx"), "", ONNXOptions{Engine: "native"}); err == nil || !strings.Contains(err.Error(), "is not one the native engine runs") {
		t.Errorf("sam_tiny on the native engine: error %v", err)
	}
	if _, err := NewONNX(filepath.Join(onnxDir, "alexnet_tiny.onnx"), "", ONNXOptions{Engine: "native", Backend: "xla:cuda"}); err == nil || !strings.Contains(err.Error(), "runs on the CPU") {
		t.Errorf("native engine on xla:cuda: error %v", err)
	}
	if _, err := NewONNX(filepath.Join(onnxDir, "alexnet_tiny.onnx"), "", ONNXOptions{Engine: "fast"}); err == nil || !strings.Contains(err.Error(), `engine "fast"`) {
		t.Errorf("unknown engine: error %v", err)
	}
}

// FuzzNativeNet builds and runs the native engine on mutated models: any
// outcome but a panic or a runaway allocation is fine.
func FuzzNativeNet(f *testing.F) {
	for _, name := range []string{"caffe_ops.onnx"} {
		b, err := os.ReadFile(filepath.Join(onnxDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, side uint8) {
		g, err := parseONNXGraph(data)
		if err != nil || len(g.inputs) != 1 || len(g.outputs) == 0 {
			return
		}
		n, err := newNativeNet(g, g.inputs[0], g.outputs[0])
		if err != nil {
			return
		}
		n.maxValues = 1 << 18 // keeps each run fast
		s := 8 + int(side)%48
		_, _ = n.run(make([]float32, 3*s*s), []int{1, 3, s, s})
	})
}
