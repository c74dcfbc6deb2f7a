package features

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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
		{"clip_tiny", "", "clip_tiny_output", "flatten", 32},
		{"clip_tiny", "ln_post", "clip_tiny_ln_post", "flatten", 64},
		{"sam_tiny", "", "sam_tiny_output", "flatten", 16 * 4 * 4},
		{"sam_tiny", "", "sam_tiny_output", "mean", 16},
		// segment-anything's own F.pad export (Pad, and a Slice ending at
		// INT64_MIN+1), on sam_tiny's input.
		{"sam_fpad_tiny", "", "sam_fpad_tiny_output", "flatten", 16 * 4 * 4},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s#%s/%s", c.model, c.node, c.pool), func(t *testing.T) {
			input := c.model + "_input"
			if c.model == "sam_fpad_tiny" {
				input = "sam_tiny_input"
			}
			x, xs := readNPY(t, input)
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
	odd := filepath.Join(t.TempDir(), "odd.onnx")
	if err := os.WriteFile(odd, bytes.ReplaceAll(b, []byte("Relu"), []byte("Relx")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewONNX(odd, "", ONNXOptions{Engine: "native"}); err == nil || !strings.Contains(err.Error(), "operator Relx is not one the native engine runs") {
		t.Errorf("unknown operator on the native engine: error %v", err)
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

// TestErff compares erff with math.Erf.
func TestErff(t *testing.T) {
	var xs []float32
	for x := float32(-6); x < 6; x += 0.0003 {
		xs = append(xs, x)
	}
	vs := make([]float32, len(xs))
	erfSlice(vs, xs)
	worst, worstSlice := 0.0, 0.0
	for i, x := range xs {
		want := math.Erf(float64(x))
		worst = max(worst, math.Abs(float64(erff(x))-want))
		worstSlice = max(worstSlice, math.Abs(float64(vs[i])-want))
	}
	if worst > 2e-7 || worstSlice > 2e-7 {
		t.Errorf("worst absolute error %.3g (erff), %.3g (erfSlice) > 2e-7", worst, worstSlice)
	}
}

// TestExpf compares expf with math.Exp: relative error within float32
// rounding over the normal range, and the limits.
func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x < 88.7; x += 0.0007 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 2e-7 {
		t.Errorf("worst relative error %.3g > 2e-7", worst)
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {1, float32(math.E)}, {-200, 0}, {100, float32(math.Inf(1))},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := expf(float32(math.NaN())); got == got {
		t.Errorf("expf(NaN) = %g", got)
	}
	if got := expf(-100); got < 0 || got > 1e-43 {
		t.Errorf("expf(-100) = %g, want a denormal near 3.7e-44", got)
	}
}

// runOp runs one native operator on the given inputs.
func runOp(t *testing.T, op string, attrs map[string]onnxAttr, in ...ntensor) (ntensor, error) {
	t.Helper()
	nd := onnxNode{name: op, op: op, attrs: attrs, outputs: []string{"y"}}
	for i := range in {
		nd.inputs = append(nd.inputs, fmt.Sprint("in", i))
	}
	n := &nativeNet{maxValues: maxNativeValues, consts: map[string]ntensor{}, reuse: make([]bool, len(in))}
	build := nativeOps[op]
	if op == "Split" {
		// The second output of a two-way split.
		nd.outputs = []string{"y0", "y"}
		build = func(nd onnxNode, _ *nativeNet) (stepFunc, error) { return buildSplit(nd, 1) }
	}
	run, err := build(nd, n)
	if err != nil {
		return ntensor{}, err
	}
	return run(n, in)
}

func f32(shape []int, v ...float32) ntensor { return ntensor{data: v, shape: shape} }
func i64(v ...int64) ntensor                { return ntensor{ints: v, isInt: true, shape: []int{len(v)}} }

// TestNativeShapeOps checks the shape and indexing operators, and the
// element-wise ones' broadcasting, on small hand-worked cases.
func TestNativeShapeOps(t *testing.T) {
	x23 := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	ints := func(v ...int64) []int64 { return v }
	cases := []struct {
		name  string
		op    string
		attrs map[string]onnxAttr
		in    []ntensor
		shape []int
		want  []float32
		wantI []int64
	}{
		{"transpose default", "Transpose", nil, []ntensor{x23}, []int{3, 2}, []float32{1, 4, 2, 5, 3, 6}, nil},
		{"transpose perm", "Transpose", map[string]onnxAttr{"perm": {ints: ints(1, 0, 2)}},
			[]ntensor{f32([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)}, []int{2, 2, 2}, []float32{1, 2, 5, 6, 3, 4, 7, 8}, nil},
		{"slice reversed", "Slice", nil, []ntensor{x23, i64(-1), i64(-4), i64(1), i64(-1)}, []int{2, 3}, []float32{3, 2, 1, 6, 5, 4}, nil},
		{"slice step 2", "Slice", nil, []ntensor{x23, i64(0, 0), i64(9, 9), i64(0, 1), i64(1, 2)}, []int{2, 2}, []float32{1, 3, 4, 6}, nil},
		{"slice empty", "Slice", nil, []ntensor{x23, i64(2), i64(1), i64(1)}, []int{2, 0}, []float32{}, nil},
		{"gather scalar", "Gather", map[string]onnxAttr{"axis": {i: 1}}, []ntensor{x23, {ints: []int64{-1}, isInt: true, shape: []int{}}}, []int{2}, []float32{3, 6}, nil},
		{"gather ints", "Gather", nil, []ntensor{i64(7, 8, 9), i64(2, 0)}, []int{2}, nil, []int64{9, 7}},
		{"expand", "Expand", nil, []ntensor{f32([]int{2, 1}, 1, 2), i64(2, 3)}, []int{2, 3}, []float32{1, 1, 1, 2, 2, 2}, nil},
		{"unsqueeze", "Unsqueeze", nil, []ntensor{x23, i64(0, -1)}, []int{1, 2, 3, 1}, []float32{1, 2, 3, 4, 5, 6}, nil},
		{"squeeze all", "Squeeze", nil, []ntensor{f32([]int{1, 2, 1}, 1, 2)}, []int{2}, []float32{1, 2}, nil},
		{"shape start", "Shape", map[string]onnxAttr{"start": {i: -1}}, []ntensor{x23}, []int{1}, nil, []int64{3}},
		{"cast", "Cast", map[string]onnxAttr{"to": {i: 7}}, []ntensor{f32([]int{3}, -1.7, 0.5, 2.9)}, []int{3}, nil, []int64{-1, 0, 2}},
		{"constant of shape", "ConstantOfShape", nil, []ntensor{i64(2, 2)}, []int{2, 2}, []float32{0, 0, 0, 0}, nil},
		{"concat ints", "Concat", map[string]onnxAttr{"axis": {i: 0}}, []ntensor{i64(1), i64(-1, 4)}, []int{3}, nil, []int64{1, -1, 4}},
		{"reshape infer", "Reshape", nil, []ntensor{x23, i64(3, -1)}, []int{3, 2}, []float32{1, 2, 3, 4, 5, 6}, nil},
		{"sub column", "Sub", nil, []ntensor{x23, f32([]int{2, 1}, 1, 4)}, []int{2, 3}, []float32{0, 1, 2, 0, 1, 2}, nil},
		{"div scalar first", "Div", nil, []ntensor{f32([]int{}, 12), x23}, []int{2, 3}, []float32{12, 6, 4, 3, 2.4, 2}, nil},
		{"mul row", "Mul", nil, []ntensor{f32([]int{3}, 1, 0, -1), x23}, []int{2, 3}, []float32{1, 0, -3, 4, 0, -6}, nil},
		{"int div", "Div", nil, []ntensor{i64(7, -7), i64(2)}, []int{2}, nil, []int64{3, -3}},
		{"global max", "GlobalMaxPool", nil, []ntensor{f32([]int{1, 2, 1, 2}, 1, 5, -2, -1)}, []int{1, 2, 1, 1}, []float32{5, -1}, nil},
		{"layer norm", "LayerNormalization", map[string]onnxAttr{"epsilon": {f: 0}}, []ntensor{f32([]int{1, 2}, 1, 3), f32([]int{2}, 1, 2), f32([]int{2}, 0, 1)},
			[]int{1, 2}, []float32{-1, 3}, nil},
		{"einsum rel-pos", "Einsum", map[string]onnxAttr{"equation": {s: "bhwc,hkc->bhwk"}},
			[]ntensor{f32([]int{1, 2, 1, 2}, 1, 2, 3, 4), f32([]int{2, 1, 2}, 1, 1, 2, -1)}, []int{1, 2, 1, 1}, []float32{3, 2}, nil},
		{"einsum transpose out", "Einsum", map[string]onnxAttr{"equation": {s: "ij,jk->ki"}},
			[]ntensor{f32([]int{2, 2}, 1, 2, 3, 4), f32([]int{2, 1}, 1, 10)}, []int{1, 2}, []float32{21, 43}, nil},
		{"split second", "Split", map[string]onnxAttr{"axis": {i: 1}}, []ntensor{x23, i64(1, 2)}, []int{2, 2}, []float32{2, 3, 5, 6}, nil},
		{"range", "Range", nil, []ntensor{i64(5), i64(0), i64(-2)}, []int{3}, nil, []int64{5, 3, 1}},
		{"python mod", "Mod", nil, []ntensor{i64(-7, 7), i64(3)}, []int{2}, nil, []int64{2, 1}},
		{"pow", "Pow", nil, []ntensor{f32([]int{2}, 3, -2), f32([]int{}, 2)}, []int{2}, []float32{9, 4}, nil},
		{"reduce mean", "ReduceMean", map[string]onnxAttr{"axes": {ints: ints(1)}, "keepdims": {i: 0}}, []ntensor{x23}, []int{2}, []float32{2, 5}, nil},
		{"sqrt", "Sqrt", nil, []ntensor{f32([]int{2}, 4, 9)}, []int{2}, []float32{2, 3}, nil},
		{"erf", "Erf", nil, []ntensor{f32([]int{2}, 0, 1)}, []int{2}, []float32{0, float32(math.Erf(1))}, nil},
		{"pad", "Pad", nil, []ntensor{f32([]int{1, 2}, 1, 2), i64(0, 1, 1, 0), f32([]int{}, 9)}, []int{2, 3}, []float32{9, 1, 2, 9, 9, 9}, nil},
		{"batched matmul", "MatMul", nil, []ntensor{f32([]int{2, 1, 2}, 1, 2, 3, 4), f32([]int{1, 2, 1}, 1, 1)}, []int{2, 1, 1}, []float32{3, 7}, nil},
	}
	for _, c := range cases {
		got, err := runOp(t, c.op, c.attrs, c.in...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got.shape, c.shape) {
			t.Errorf("%s: shape %v, want %v", c.name, got.shape, c.shape)
		}
		if c.wantI != nil {
			if !got.isInt || !slices.Equal(got.ints, c.wantI) {
				t.Errorf("%s: %v (int %v), want %v", c.name, got.ints, got.isInt, c.wantI)
			}
			continue
		}
		if got.isInt || len(got.data) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got.data, c.want)
			continue
		}
		for i := range c.want {
			if math.Abs(float64(got.data[i]-c.want[i])) > 1e-6 {
				t.Errorf("%s: %v, want %v", c.name, got.data, c.want)
				break
			}
		}
	}
	for _, c := range []struct {
		name, op string
		in       []ntensor
		want     string
	}{
		{"int division by zero", "Div", []ntensor{i64(1), i64(0)}, "division by zero"},
		{"mixed types", "Add", []ntensor{i64(1), f32([]int{1}, 1)}, "one input int64"},
		{"no broadcast", "Add", []ntensor{x23, f32([]int{2}, 1, 2)}, "do not broadcast"},
		{"gather out of range", "Gather", []ntensor{x23, i64(5)}, "out of range"},
		{"reshape size", "Reshape", []ntensor{x23, i64(4, -1)}, "shape [4 -1]"},
		{"step 0", "Slice", []ntensor{x23, i64(0), i64(1), i64(0), i64(0)}, "step 0"},
	} {
		if _, err := runOp(t, c.op, nil, c.in...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestExpSlice compares expSlice (8 lanes at a time in simd builds on
// AVX2 machines) with math.Exp, tails included.
func TestExpSlice(t *testing.T) {
	var x []float32
	for v := float32(-87); v < 88.3; v += 0.00731 {
		x = append(x, v)
	}
	x = append(x, 0, 1, -1) // an odd-length tail
	got := make([]float32, len(x))
	expSlice(got, x)
	worst := 0.0
	for i, v := range x {
		want := math.Exp(float64(v))
		worst = max(worst, math.Abs(float64(got[i])-want)/want)
	}
	if worst > 2e-7 {
		t.Errorf("worst relative error %.3g > 2e-7 (vector: %v)", worst, vectorExp)
	}
	y := []float32{-200, -100, 100}
	expSlice(y, y)
	if y[0] > 1.3e-38 || y[1] > 1.3e-38 || y[2] < 2e38 {
		t.Errorf("limits: %v", y)
	}
}

// TestNativeSplitsBatch: a batch whose largest value would pass the native
// engine's size limit (SAM's attention maps, at a batch the memory allows)
// runs in parts, with the same result.
func TestNativeSplitsBatch(t *testing.T) {
	path := filepath.Join(onnxDir, "alexnet_tiny.onnx")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseONNXGraph(b)
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNativeNet(g, "image", "output")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := n.probe([]int{1, 3, 224, 224}); err != nil {
		t.Fatal(err)
	}
	// Room for one image's largest value, not two.
	e, err := NewONNX(path, "", ONNXOptions{Engine: "native", BatchSize: 2, nativeMaxValues: n.largest})
	if err != nil {
		t.Fatal(err)
	}
	if e.nativeMaxBatch != 1 {
		t.Errorf("nativeMaxBatch %d, want 1", e.nativeMaxBatch)
	}
	x, xs := readNPY(t, "alexnet_tiny_input")
	want, _ := readNPY(t, "alexnet_tiny_output")
	got, err := e.Run(context.Background(), x, xs[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := relErr(got, want); r > 1e-4 {
		t.Errorf("relative error %.3g", r)
	}
	// The limit itself still holds for one run of two images.
	if _, err := e.native.run(x, xs); err == nil || !strings.Contains(err.Error(), "over the native engine's limit") {
		t.Errorf("two images in one run: error %v", err)
	}
}
