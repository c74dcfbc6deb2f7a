package features

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// nativeNet runs an ONNX graph made only of the operators convolutional
// networks and vision transformers use (nativeOps: convolution, pooling,
// LRN, batch and layer normalisation, Gemm/MatMul, softmax, element-wise
// arithmetic, and the reshapes, slices and int64 shape arithmetic of a
// PyTorch export) directly in Go, every convolution and matrix product as
// BLAS calls through gonum's blas32: the system OpenBLAS in openblas builds
// (package openblas), where it runs AlexNet 4–6× faster than gomlx's pure-Go
// backend. Graphs with any other operator are left to onnx-gomlx
// (newNativeNet says which operator stopped it).
//
// Values are row-major float32, or int64 for shape arithmetic; shapes are
// worked out at run time from the batch, so one nativeNet runs any batch
// size. A nativeNet is not safe for concurrent use (its scratch buffers are
// shared between steps).
type nativeNet struct {
	input, output string
	steps         []nativeStep
	consts        map[string]ntensor // initializers and Constant outputs
	lastUse       map[string]int     // step index after which a value is no longer read
	scratch       []float32          // im2col matrix, reused by every Conv
	gemmOut       []float32          // Conv's product before the NCHW scatter

	// reuse[j] says, while a step runs, that its input j is not read
	// again, so the step may write its output over it.
	reuse []bool
	// maxValues bounds the size of every value (maxNativeValues).
	maxValues int
	// bytes is the last run's value sizes, each counted once (probe).
	bytes int64
	// largest is the last run's largest value or im2col matrix, in values
	// (probe: the batch it allows is maxValues / largest).
	largest int
}

// ntensor is a float32 tensor, or an int64 one (shape arithmetic: the
// graph's Shape, Gather, Concat … of dimensions), with its shape.
type ntensor struct {
	data  []float32
	ints  []int64
	isInt bool
	shape []int
}

// nativeStep is one node: its operator applied to its inputs' values.
type nativeStep struct {
	name, op string
	inputs   []string
	output   string
	run      func(n *nativeNet, in []ntensor) (ntensor, error)
}

// nativeOps are the operators nativeNet runs; the builders check each
// node's attributes and return the step's function.
var nativeOps = map[string]func(nd onnxNode, n *nativeNet) (stepFunc, error){
	"Conv":               buildConv,
	"Relu":               buildUnary,
	"Sigmoid":            buildUnary,
	"Identity":           buildUnary,
	"Dropout":            buildUnary,
	"MaxPool":            buildPool,
	"AveragePool":        buildPool,
	"GlobalAveragePool":  buildPool,
	"GlobalMaxPool":      buildPool,
	"LRN":                buildLRN,
	"BatchNormalization": buildBatchNorm,
	"Gemm":               buildGemm,
	"MatMul":             buildGemm,
	"Add":                buildBinary,
	"Sub":                buildBinary,
	"Mul":                buildBinary,
	"Div":                buildBinary,
	"Flatten":            buildReshape,
	"Reshape":            buildReshape,
	"Softmax":            buildSoftmax,
	"LayerNormalization": buildLayerNorm,
	"Concat":             buildConcat,
	"Shape":              buildShape,
	"Gather":             buildGather,
	"Unsqueeze":          buildSqueeze,
	"Squeeze":            buildSqueeze,
	"Cast":               buildCast,
	"Slice":              buildSlice,
	"Transpose":          buildTranspose,
	"ConstantOfShape":    buildConstantOfShape,
	"Expand":             buildExpand,
	"Range":              buildRange,
	"Mod":                buildBinary,
	"Pow":                buildBinary,
	"Erf":                buildUnary,
	"Sqrt":               buildUnary,
	"ReduceMean":         buildReduceMean,
	"Einsum":             buildEinsum,
	"Pad":                buildPad,
}

// intOps are the operators whose first input may be int64 (the rest read
// float32 only).
var intOps = map[string]bool{
	"Identity": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Reshape": true, "Flatten": true,
	"Concat": true, "Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Cast": true,
	"Slice": true, "Transpose": true, "ConstantOfShape": true, "Expand": true, "Range": true, "Mod": true,
	"Split": true, "Pad": true,
}

// newNativeNet prepares the steps that compute output from the graph input
// named input. It fails, naming the node, when a node that output depends
// on uses an operator, attribute or data type nativeNet does not run.
func newNativeNet(g *onnxGraph, input, output string) (*nativeNet, error) {
	n := &nativeNet{maxValues: maxNativeValues, input: input, output: output, consts: map[string]ntensor{}, lastUse: map[string]int{}}
	producer := map[string]int{}
	for i, nd := range g.nodes {
		for _, o := range nd.outputs {
			producer[o] = i
		}
	}
	// The nodes output depends on, in graph (topological) order.
	need := map[int]bool{}
	stack := []string{output}
	seen := map[string]bool{}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] || v == "" || v == input {
			continue
		}
		seen[v] = true
		if t := g.inits[v]; t != nil {
			if err := n.addConst(v, t); err != nil {
				return nil, fmt.Errorf("initializer %q: %w", v, err)
			}
			continue
		}
		i, ok := producer[v]
		if !ok {
			return nil, fmt.Errorf("value %q has no producer in the graph", v)
		}
		need[i] = true
		stack = append(stack, g.nodes[i].inputs...)
	}
	for i, nd := range g.nodes {
		if !need[i] {
			continue
		}
		if nd.op == "Constant" {
			a, ok := nd.attrs["value"]
			if !ok || a.t == nil || len(nd.outputs) != 1 {
				return nil, fmt.Errorf("node %q: Constant without a tensor value", nd.name)
			}
			if err := n.addConst(nd.outputs[0], a.t); err != nil {
				return nil, fmt.Errorf("node %q: %w", nd.name, err)
			}
			continue
		}
		if nd.op == "Split" {
			// One step per output, each a slice of the input.
			for k, o := range nd.outputs {
				run, err := buildSplit(nd, k)
				if err != nil {
					return nil, fmt.Errorf("node %q (%s): %w", nd.name, nd.op, err)
				}
				n.steps = append(n.steps, nativeStep{name: nd.name, op: nd.op, inputs: nd.inputs, output: o, run: run})
			}
			continue
		}
		build, ok := nativeOps[nd.op]
		if !ok {
			return nil, fmt.Errorf("node %q: operator %s is not one the native engine runs", nd.name, nd.op)
		}
		// Outputs other than the first (MaxPool's indices, Dropout's
		// mask) are not computed: nothing may read them. (A needed node
		// has at least the output it was needed for.)
		for _, o := range nd.outputs[1:] {
			if seen[o] {
				return nil, fmt.Errorf("node %q: its output %q is used, and the native engine computes only a node's first output", nd.name, o)
			}
		}
		run, err := build(nd, n)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", nd.name, nd.op, err)
		}
		n.steps = append(n.steps, nativeStep{name: nd.name, op: nd.op, inputs: nd.inputs, output: nd.outputs[0], run: run})
	}
	for i, s := range n.steps {
		for _, in := range s.inputs {
			n.lastUse[in] = i
		}
	}
	return n, nil
}

// addConst decodes an initializer or constant, float32 or int64.
func (n *nativeNet) addConst(name string, t *onnxTensor) error {
	if t.external {
		return fmt.Errorf("data in an external file")
	}
	shape := make([]int, len(t.dims))
	size := 1
	for i, d := range t.dims {
		shape[i] = int(d)
		size *= int(d)
	}
	switch t.dtype {
	case 1: // FLOAT
		v, err := constValues(t, t.floats, size, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
		if err != nil {
			return err
		}
		n.consts[name] = ntensor{data: v, shape: shape}
	case 7: // INT64
		v, err := constValues(t, t.int64s, size, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
		if err != nil {
			return err
		}
		n.consts[name] = ntensor{ints: v, isInt: true, shape: shape}
	default:
		return fmt.Errorf("data type %d (the native engine reads float32 and int64)", t.dtype)
	}
	return nil
}

// constValues returns a tensor's size values: from raw_data, width bytes
// each read by get, or else from its typed field.
func constValues[T any](t *onnxTensor, typed []T, size, width int, get func([]byte) T) ([]T, error) {
	switch {
	case t.raw != nil:
		if len(t.raw) != width*size {
			return nil, fmt.Errorf("raw data of %d bytes for dims %v (want %d)", len(t.raw), t.dims, width*size)
		}
		v := make([]T, size)
		for i := range v {
			v[i] = get(t.raw[width*i:])
		}
		return v, nil
	case len(typed) == size:
		return slices.Clone(typed), nil
	}
	return nil, fmt.Errorf("%d values for dims %v", len(typed), t.dims)
}

// run computes the output for x (shape xs). A panic in an operator (a bug,
// or a model the checks missed) becomes an error.
func (n *nativeNet) run(x []float32, xs []int) (_ ntensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("native engine: %v", r)
		}
	}()
	vals := map[string]ntensor{n.input: {data: x, shape: xs}}
	n.bytes, n.largest = 0, 0
	for i, s := range n.steps {
		in := make([]ntensor, len(s.inputs))
		n.reuse = make([]bool, len(s.inputs))
		for j, name := range s.inputs {
			if name == "" {
				continue // an omitted optional input
			}
			v, ok := vals[name]
			if !ok {
				if v, ok = n.consts[name]; !ok {
					return ntensor{}, fmt.Errorf("node %q: input %q not computed", s.name, name)
				}
			}
			in[j] = v
			// A computed value read for the last time (and not the
			// caller's input, nor read twice by this node) may be
			// overwritten.
			n.reuse[j] = ok && name != n.input && n.lastUse[name] == i && name != n.output &&
				countOf(s.inputs, name) == 1
			if _, c := n.consts[name]; c || v.isInt {
				n.reuse[j] = false
			}
		}
		if len(in) > 0 && in[0].isInt && !intOps[s.op] {
			return ntensor{}, fmt.Errorf("node %q (%s): input %q is int64; the operator runs on float32", s.name, s.op, s.inputs[0])
		}
		out, err := s.run(n, in)
		if err != nil {
			return ntensor{}, fmt.Errorf("node %q (%s): %w", s.name, s.op, err)
		}
		vals[s.output] = out
		if len(in) == 0 || len(out.data) == 0 || len(in[0].data) == 0 || &out.data[0] != &in[0].data[0] {
			n.bytes += 4*int64(len(out.data)) + 8*int64(len(out.ints))
		}
		n.largest = max(n.largest, out.size(), len(n.scratch))
		for _, name := range s.inputs {
			if n.lastUse[name] == i && name != n.output {
				delete(vals, name)
			}
		}
	}
	out, ok := vals[n.output]
	if !ok {
		if c, isConst := n.consts[n.output]; isConst {
			return c, nil
		}
		return ntensor{}, fmt.Errorf("output %q not computed", n.output)
	}
	return out, nil
}

// probe runs the graph once on zeros of shape xs (one image) and returns
// the output, the memory the run's values take, each counted once (a
// bound, as values are freed after their last use), plus the input and
// the scratch buffers, and the most images one run may take without a value
// going over n.maxValues.
func (n *nativeNet) probe(xs []int) (y ntensor, bytes int64, maxBatch int, err error) {
	x := make([]float32, shapeSize(xs))
	if y, err = n.run(x, xs); err != nil {
		return ntensor{}, 0, 0, err
	}
	return y, n.bytes + 4*int64(len(x)+cap(n.scratch)+cap(n.gemmOut)), max(1, n.maxValues/max(1, n.largest)), nil
}

// countOf is the number of times v occurs in s.
func countOf(s []string, v string) int {
	c := 0
	for _, x := range s {
		if x == v {
			c++
		}
	}
	return c
}

// shapeSize is the number of values of a tensor of shape s.
func shapeSize(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// shapeString formats a shape as 2×3×4.
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}
