package features

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The native engine's shape and indexing operators (Reshape, Transpose,
// Slice, Gather, Concat, …) and element-wise arithmetic. They run on
// float32 values and on the int64 ones a traced PyTorch graph computes
// shapes with (Shape → Gather → Unsqueeze → Concat → Reshape), so graphs
// exported with dynamic batch axes run as they are.

// strideIndex returns, for every element of an array of the given shape in
// row-major order, base + Σ index[a]·strides[a]: where to read it from.
func strideIndex(shape, strides []int, base int) []int {
	size := shapeSize(shape)
	idx := make([]int, size)
	if size == 0 {
		return idx
	}
	r := len(shape)
	if r == 0 {
		idx[0] = base
		return idx
	}
	inner, step := shape[r-1], strides[r-1]
	pos := make([]int, r)
	off := base
	for i := 0; i < size; i += inner {
		for j := range inner {
			idx[i+j] = off + j*step
		}
		// Advance the outer axes.
		for a := r - 2; a >= 0; a-- {
			pos[a]++
			off += strides[a]
			if pos[a] < shape[a] {
				break
			}
			off -= pos[a] * strides[a]
			pos[a] = 0
		}
	}
	return idx
}

// rowStrides returns the row-major strides of shape.
func rowStrides(shape []int) []int {
	s := make([]int, len(shape))
	p := 1
	for a := len(shape) - 1; a >= 0; a-- {
		s[a] = p
		p *= shape[a]
	}
	return s
}

// take returns the tensor of the given shape whose element i is t's
// element idx[i], for float32 and int64 tensors alike.
func take(t ntensor, idx []int, shape []int) ntensor {
	if t.isInt {
		out := make([]int64, len(idx))
		for i, j := range idx {
			out[i] = t.ints[j]
		}
		return ntensor{ints: out, isInt: true, shape: shape}
	}
	out := make([]float32, len(idx))
	for i, j := range idx {
		out[i] = t.data[j]
	}
	return ntensor{data: out, shape: shape}
}

// strided returns the tensor of the given shape read from t at base +
// Σ index[a]·strides[a] (a transpose, slice or broadcast of t), copying
// whole rows when the last axis is contiguous.
func strided(t ntensor, shape, strides []int, base int) ntensor {
	if t.isInt || len(shape) == 0 {
		return take(t, strideIndex(shape, strides, base), shape)
	}
	size := shapeSize(shape)
	out := make([]float32, size)
	r := len(shape)
	inner, step := shape[r-1], strides[r-1]
	if size == 0 || inner == 0 {
		return ntensor{data: out, shape: shape}
	}
	rows := size / inner
	// Each worker starts at its own row: the offset of row q is found by
	// decomposing q over the outer axes.
	parallelFor(rows, func(q0, q1 int) {
		pos := make([]int, r-1)
		off := base
		q := q0
		for a := r - 2; a >= 0; a-- {
			pos[a] = q % shape[a]
			q /= shape[a]
			off += pos[a] * strides[a]
		}
		for q := q0; q < q1; q++ {
			dst := out[q*inner : (q+1)*inner]
			if step == 1 {
				copy(dst, t.data[off:off+inner])
			} else {
				for j := range dst {
					dst[j] = t.data[off+j*step]
				}
			}
			for a := r - 2; a >= 0; a-- {
				pos[a]++
				off += strides[a]
				if pos[a] < shape[a] {
					break
				}
				off -= pos[a] * strides[a]
				pos[a] = 0
			}
		}
	})
	return ntensor{data: out, shape: shape}
}

// size returns the number of elements t holds.
func (t ntensor) size() int {
	if t.isInt {
		return len(t.ints)
	}
	return len(t.data)
}

// intsOf returns t's values as ints, for shape, axis and index inputs.
func intsOf(t ntensor, what string) ([]int, error) {
	if !t.isInt {
		return nil, fmt.Errorf("%s must be int64", what)
	}
	v := make([]int, len(t.ints))
	for i, x := range t.ints {
		if x < -(1<<40) || x > 1<<40 {
			return nil, fmt.Errorf("%s value %d out of range", what, x)
		}
		v[i] = int(x)
	}
	return v, nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(a, rank int) (int, error) {
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d for rank %d", a, rank)
	}
	return a, nil
}

// buildBinary: element-wise Add, Sub, Mul, Div, Pow and Mod with numpy
// broadcasting, on float32 or (shape arithmetic) int64 pairs.
func buildBinary(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	if len(nd.inputs) != 2 {
		return nil, fmt.Errorf("%d inputs, want 2", len(nd.inputs))
	}
	op := nd.op
	fmod := attrInt(nd, "fmod", 0) != 0
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		a, b := in[0], in[1]
		if a.isInt != b.isInt {
			return ntensor{}, fmt.Errorf("one input int64, the other float32")
		}
		shape, err := broadcastShape(a.shape, b.shape)
		if err != nil {
			return ntensor{}, err
		}
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		size := shapeSize(shape)
		if a.isInt {
			ia, ib, err := broadcastPair(a, b, shape)
			if err != nil {
				return ntensor{}, err
			}
			out := make([]int64, size)
			for i := range out {
				x, y := a.ints[ia[i]], b.ints[ib[i]]
				switch op {
				case "Add":
					out[i] = x + y
				case "Sub":
					out[i] = x - y
				case "Mul":
					out[i] = x * y
				case "Div", "Mod":
					if y == 0 {
						return ntensor{}, fmt.Errorf("integer division by zero")
					}
					out[i] = x / y
					if op == "Mod" {
						out[i] = x % y
						if !fmod && out[i] != 0 && (out[i] < 0) != (y < 0) {
							out[i] += y // the divisor's sign, as Python's %
						}
					}
				case "Pow":
					return ntensor{}, fmt.Errorf("int64 Pow")
				}
			}
			return ntensor{ints: out, isInt: true, shape: shape}, nil
		}
		if op == "Pow" || op == "Mod" {
			return powMod(op, fmod, a, b, shape)
		}
		var out []float32
		switch {
		case len(a.data) == size && n.reuse[0]:
			out = a.data
		case len(b.data) == size && n.reuse[1]:
			out = b.data
		default:
			out = make([]float32, size)
		}
		// The common layouts run without index arrays: equal shapes, one
		// operand a scalar, or one a suffix of the other (a bias).
		switch {
		case len(a.data) == size && len(b.data) == size:
			binaryLoop(op, out, a.data, b.data, 0, 0)
		case len(a.data) == size && suffixOf(b.shape, shape):
			binaryLoop(op, out, a.data, b.data, 0, len(b.data))
		case len(b.data) == size && suffixOf(a.shape, shape):
			binaryLoop(op, out, a.data, b.data, len(a.data), 0)
		default:
			if err := broadcastRows(op, out, a, b, shape); err != nil {
				return ntensor{}, err
			}
		}
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// powMod is float32 Pow and Mod (fmod, or Python's sign of the divisor).
func powMod(op string, fmod bool, a, b ntensor, shape []int) (ntensor, error) {
	ia, ib, err := broadcastPair(a, b, shape)
	if err != nil {
		return ntensor{}, err
	}
	out := make([]float32, len(ia))
	for i := range out {
		x, y := float64(a.data[ia[i]]), float64(b.data[ib[i]])
		var v float64
		switch {
		case op == "Pow" && y == 2:
			v = x * x
		case op == "Pow":
			v = math.Pow(x, y)
		default:
			v = math.Mod(x, y)
			if !fmod && v != 0 && (v < 0) != (y < 0) {
				v += y
			}
		}
		out[i] = float32(v)
	}
	return ntensor{data: out, shape: shape}, nil
}

// suffixOf says whether shape s, without leading 1s, equals the trailing
// axes of out: a tensor of shape s then repeats every shapeSize(s) values.
func suffixOf(s, out []int) bool {
	for len(s) > 0 && s[0] == 1 {
		s = s[1:]
	}
	return len(s) <= len(out) && slices.Equal(s, out[len(out)-len(s):])
}

// binaryLoop writes op(a, b) into out; ma and mb, when not 0, are the
// period with which a or b repeats (a broadcast suffix, or 1 for a scalar).
func binaryLoop(op string, out, a, b []float32, ma, mb int) {
	if len(out) == 0 {
		return
	}
	period := max(ma, mb)
	step := period // one segment per repetition of the shorter operand
	chunk := 8192
	if period > 0 {
		chunk = max(1, chunk/period) * period
	}
	if period <= 1 {
		step = chunk
	}
	operand := func(v []float32, m, lo, hi int) []float32 {
		switch m {
		case 0:
			return v[lo:hi]
		case 1:
			return v[:1]
		}
		return v[:hi-lo]
	}
	parallelFor((len(out)+chunk-1)/chunk, func(c0, c1 int) {
		end := min(len(out), c1*chunk)
		for lo := c0 * chunk; lo < end; lo += step {
			hi := min(end, lo+step)
			segmentOp(op, out[lo:hi], operand(a, ma, lo, hi), operand(b, mb, lo, hi))
		}
	})
}

// segmentOp writes op(x, y) into o, where an operand of length 1 is a
// scalar and any other has o's length.
func segmentOp(op string, o, x, y []float32) {
	switch {
	case len(x) == 1 && len(y) == 1:
		fillOp(op, o, x[0], y[0])
	case len(x) == 1:
		scalarOp(op, o, x[0], y, true)
	case len(y) == 1:
		scalarOp(op, o, y[0], x, false)
	default:
		x, y = x[:len(o)], y[:len(o)]
		switch op {
		case "Add":
			for i := range o {
				o[i] = x[i] + y[i]
			}
		case "Sub":
			for i := range o {
				o[i] = x[i] - y[i]
			}
		case "Mul":
			for i := range o {
				o[i] = x[i] * y[i]
			}
		case "Div":
			for i := range o {
				o[i] = x[i] / y[i]
			}
		}
	}
}

// broadcastRows is op(a, b) broadcast to shape, written into out one row
// (last axis) at a time: each operand's row is read in place, or is one
// value repeated, so nothing of the output's size is allocated.
func broadcastRows(op string, out []float32, a, b ntensor, shape []int) error {
	sa, err := broadcastStrides(a.shape, shape)
	if err != nil {
		return err
	}
	sb, err := broadcastStrides(b.shape, shape)
	if err != nil {
		return err
	}
	r := len(shape)
	if r == 0 || len(out) == 0 {
		if len(out) == 1 {
			segmentOp(op, out, a.data[:1], b.data[:1])
		}
		return nil
	}
	inner := shape[r-1]
	row := func(v []float32, off, step int) []float32 {
		if step == 0 || inner == 1 {
			return v[off : off+1]
		}
		return v[off : off+inner]
	}
	parallelFor(len(out)/inner, func(q0, q1 int) {
		pos := make([]int, r-1)
		offA, offB := 0, 0
		q := q0
		for ax := r - 2; ax >= 0; ax-- {
			pos[ax] = q % shape[ax]
			q /= shape[ax]
			offA += pos[ax] * sa[ax]
			offB += pos[ax] * sb[ax]
		}
		for q := q0; q < q1; q++ {
			o := out[q*inner : (q+1)*inner]
			x, y := row(a.data, offA, sa[r-1]), row(b.data, offB, sb[r-1])
			if len(o) == 1 {
				fillOp(op, o, x[0], y[0])
			} else {
				segmentOp(op, o, x, y)
			}
			for ax := r - 2; ax >= 0; ax-- {
				pos[ax]++
				offA += sa[ax]
				offB += sb[ax]
				if pos[ax] < shape[ax] {
					break
				}
				offA -= pos[ax] * sa[ax]
				offB -= pos[ax] * sb[ax]
				pos[ax] = 0
			}
		}
	})
	return nil
}

// scalarOp writes op(c, v[i]) (first) or op(v[i], c) into o.
func scalarOp(op string, o []float32, c float32, v []float32, first bool) {
	v = v[:len(o)]
	switch {
	case op == "Add":
		for i := range o {
			o[i] = v[i] + c
		}
	case op == "Mul":
		for i := range o {
			o[i] = v[i] * c
		}
	case op == "Sub" && first:
		for i := range o {
			o[i] = c - v[i]
		}
	case op == "Sub":
		for i := range o {
			o[i] = v[i] - c
		}
	case op == "Div" && first:
		for i := range o {
			o[i] = c / v[i]
		}
	default:
		for i := range o {
			o[i] = v[i] / c
		}
	}
}

// fillOp fills o with op(x, y).
func fillOp(op string, o []float32, x, y float32) {
	var v float32
	switch op {
	case "Add":
		v = x + y
	case "Sub":
		v = x - y
	case "Mul":
		v = x * y
	case "Div":
		v = x / y
	}
	for i := range o {
		o[i] = v
	}
}

// broadcastPair returns where each element of the broadcast of a and b to
// shape reads from in each.
func broadcastPair(a, b ntensor, shape []int) ([]int, []int, error) {
	sa, err := broadcastStrides(a.shape, shape)
	if err != nil {
		return nil, nil, err
	}
	sb, err := broadcastStrides(b.shape, shape)
	if err != nil {
		return nil, nil, err
	}
	return strideIndex(shape, sa, 0), strideIndex(shape, sb, 0), nil
}

// buildReshape: Flatten and Reshape (with a constant or computed shape); the
// values are copied unless the input is not read again.
func buildReshape(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	axis := int(attrInt(nd, "axis", 1))
	if nd.op == "Reshape" && len(nd.inputs) != 2 {
		return nil, fmt.Errorf("%d inputs, want 2", len(nd.inputs))
	}
	allowZero := attrInt(nd, "allowzero", 0) != 0
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		size := x.size()
		var shape []int
		if nd.op == "Flatten" {
			a := axis
			if a < 0 {
				a += len(x.shape)
			}
			if a < 0 || a > len(x.shape) {
				return ntensor{}, fmt.Errorf("axis %d for an input of rank %d", axis, len(x.shape))
			}
			shape = []int{shapeSize(x.shape[:a]), shapeSize(x.shape[a:])}
		} else {
			target, err := intsOf(in[1], "shape")
			if err != nil {
				return ntensor{}, err
			}
			shape = make([]int, len(target))
			infer, known := -1, 1
			for i, d := range target {
				switch {
				case d == 0 && !allowZero && i < len(x.shape):
					shape[i] = x.shape[i]
				case d == -1 && infer < 0:
					infer = i
					continue
				case d >= 0:
					shape[i] = d
				default:
					return ntensor{}, fmt.Errorf("shape %v for an input of shape %s", target, shapeString(x.shape))
				}
				known *= shape[i]
			}
			if infer >= 0 && known > 0 {
				shape[infer] = size / known
			}
			if shapeSize(shape) != size {
				return ntensor{}, fmt.Errorf("shape %v for an input of shape %s (%d values)", target, shapeString(x.shape), size)
			}
		}
		if x.isInt {
			return ntensor{ints: slices.Clone(x.ints), isInt: true, shape: shape}, nil
		}
		out := n.outBuf(in, 0, size)
		if len(out) > 0 && &out[0] != &x.data[0] {
			copy(out, x.data)
		}
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// buildConcat: Concat along one axis.
func buildConcat(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	a, ok := nd.attrs["axis"]
	if !ok {
		return nil, fmt.Errorf("no axis attribute")
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		if len(in) == 0 {
			return ntensor{}, fmt.Errorf("no inputs")
		}
		r := len(in[0].shape)
		ax, err := normAxis(int(a.i), r)
		if err != nil {
			return ntensor{}, err
		}
		shape := slices.Clone(in[0].shape)
		shape[ax] = 0
		for _, t := range in {
			if t.isInt != in[0].isInt || len(t.shape) != r || !slices.Equal(t.shape[:ax], in[0].shape[:ax]) || !slices.Equal(t.shape[ax+1:], in[0].shape[ax+1:]) {
				return ntensor{}, fmt.Errorf("inputs of shapes %s and %s (or types) differ off axis %d", shapeString(in[0].shape), shapeString(t.shape), ax)
			}
			shape[ax] += t.shape[ax]
		}
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		outer, inner := shapeSize(shape[:ax]), shapeSize(shape[ax+1:])
		if in[0].isInt {
			out := make([]int64, shapeSize(shape))
			off := 0
			for o := range outer {
				for _, t := range in {
					m := t.shape[ax] * inner
					off += copy(out[off:], t.ints[o*m:(o+1)*m])
				}
			}
			return ntensor{ints: out, isInt: true, shape: shape}, nil
		}
		out := make([]float32, shapeSize(shape))
		off := 0
		for o := range outer {
			for _, t := range in {
				m := t.shape[ax] * inner
				off += copy(out[off:], t.data[o*m:(o+1)*m])
			}
		}
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// buildShape: a tensor's shape as int64 (opset 15's start and end too).
func buildShape(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	start, hasStart := nd.attrs["start"]
	end, hasEnd := nd.attrs["end"]
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		r := len(in[0].shape)
		lo, hi := 0, r
		clampAxis := func(v int64) int {
			a := int(max(-int64(r), min(int64(r), v)))
			if a < 0 {
				a += r
			}
			return a
		}
		if hasStart {
			lo = clampAxis(start.i)
		}
		if hasEnd {
			hi = clampAxis(end.i)
		}
		out := []int64{}
		for _, d := range in[0].shape[lo:max(lo, hi)] {
			out = append(out, int64(d))
		}
		return ntensor{ints: out, isInt: true, shape: []int{len(out)}}, nil
	}, nil
}

// buildGather: Gather along an axis with int64 indices.
func buildGather(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	axis := int(attrInt(nd, "axis", 0))
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		ax, err := normAxis(axis, len(x.shape))
		if err != nil {
			return ntensor{}, err
		}
		ind, err := intsOf(in[1], "indices")
		if err != nil {
			return ntensor{}, err
		}
		dim := x.shape[ax]
		for i, v := range ind {
			if v < 0 {
				v += dim
			}
			if v < 0 || v >= dim {
				return ntensor{}, fmt.Errorf("index %d out of range for axis %d of size %d", ind[i], ax, dim)
			}
			ind[i] = v
		}
		shape := append(append(slices.Clone(x.shape[:ax]), in[1].shape...), x.shape[ax+1:]...)
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		outer, inner := shapeSize(x.shape[:ax]), shapeSize(x.shape[ax+1:])
		idx := make([]int, 0, shapeSize(shape))
		for o := range outer {
			for _, v := range ind {
				base := (o*dim + v) * inner
				for j := range inner {
					idx = append(idx, base+j)
				}
			}
		}
		return take(x, idx, shape), nil
	}, nil
}

// buildSqueeze: Unsqueeze and Squeeze, axes from the second input (opset
// 13) or the axes attribute.
func buildSqueeze(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	attrAxes := nd.attrs["axes"].ints
	squeeze := nd.op == "Squeeze"
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		var axes []int
		if len(in) > 1 && in[1].size() > 0 {
			var err error
			if axes, err = intsOf(in[1], "axes"); err != nil {
				return ntensor{}, err
			}
		} else {
			for _, a := range attrAxes {
				axes = append(axes, int(a))
			}
		}
		var shape []int
		if squeeze {
			drop := map[int]bool{}
			for _, a := range axes {
				a, err := normAxis(a, len(x.shape))
				if err != nil {
					return ntensor{}, err
				}
				if x.shape[a] != 1 {
					return ntensor{}, fmt.Errorf("axis %d of shape %s is not 1", a, shapeString(x.shape))
				}
				drop[a] = true
			}
			for a, d := range x.shape {
				if !drop[a] && (len(axes) > 0 || d != 1) {
					shape = append(shape, d)
				}
			}
		} else {
			r := len(x.shape) + len(axes)
			ones := map[int]bool{}
			for _, a := range axes {
				a, err := normAxis(a, r)
				if err != nil {
					return ntensor{}, err
				}
				ones[a] = true
			}
			j := 0
			for a := range r {
				if ones[a] {
					shape = append(shape, 1)
				} else if j < len(x.shape) {
					shape = append(shape, x.shape[j])
					j++
				}
			}
			if len(shape) != r {
				return ntensor{}, fmt.Errorf("repeated axes %v", axes)
			}
		}
		if x.isInt {
			return ntensor{ints: slices.Clone(x.ints), isInt: true, shape: shape}, nil
		}
		out := n.outBuf(in, 0, len(x.data))
		if len(out) > 0 && &out[0] != &x.data[0] {
			copy(out, x.data)
		}
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// buildCast: Cast between float32 and int64 (int32 is read as int64).
func buildCast(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	to := attrInt(nd, "to", 0)
	if to != 1 && to != 6 && to != 7 {
		return nil, fmt.Errorf("cast to data type %d (the native engine has float32 and int64)", to)
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		switch {
		case to == 1 && x.isInt:
			out := make([]float32, len(x.ints))
			for i, v := range x.ints {
				out[i] = float32(v)
			}
			return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
		case to == 1:
			return ntensor{data: slices.Clone(x.data), shape: slices.Clone(x.shape)}, nil
		case x.isInt:
			return ntensor{ints: slices.Clone(x.ints), isInt: true, shape: slices.Clone(x.shape)}, nil
		}
		out := make([]int64, len(x.data))
		for i, v := range x.data {
			out[i] = int64(v) // truncation toward zero, as ONNX casts
		}
		return ntensor{ints: out, isInt: true, shape: slices.Clone(x.shape)}, nil
	}, nil
}

// buildSlice: Slice with starts, ends and optional axes and steps inputs.
func buildSlice(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	if len(nd.inputs) < 3 {
		return nil, fmt.Errorf("%d inputs: the native engine runs opset-10 Slice (starts and ends as inputs)", len(nd.inputs))
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		starts, err := intsOf(in[1], "starts")
		if err != nil {
			return ntensor{}, err
		}
		ends, err := intsOf(in[2], "ends")
		if err != nil {
			return ntensor{}, err
		}
		if len(ends) != len(starts) {
			return ntensor{}, fmt.Errorf("%d starts and %d ends", len(starts), len(ends))
		}
		axes := make([]int, len(starts))
		for i := range axes {
			axes[i] = i
		}
		steps := make([]int, len(starts))
		for i := range steps {
			steps[i] = 1
		}
		if len(in) > 3 && in[3].size() > 0 {
			if axes, err = intsOf(in[3], "axes"); err != nil {
				return ntensor{}, err
			}
		}
		if len(in) > 4 && in[4].size() > 0 {
			if steps, err = intsOf(in[4], "steps"); err != nil {
				return ntensor{}, err
			}
		}
		if len(axes) != len(starts) || len(steps) != len(starts) {
			return ntensor{}, fmt.Errorf("%d starts, %d axes, %d steps", len(starts), len(axes), len(steps))
		}
		shape := slices.Clone(x.shape)
		base := 0
		st := rowStrides(x.shape)
		strides := slices.Clone(st)
		for i, a := range axes {
			a, err := normAxis(a, r)
			if err != nil {
				return ntensor{}, err
			}
			d, s := x.shape[a], steps[i]
			if s == 0 {
				return ntensor{}, fmt.Errorf("step 0 on axis %d", a)
			}
			b, e := starts[i], ends[i]
			if b < 0 {
				b += d
			}
			if e < 0 {
				e += d
			}
			var size int
			if s > 0 {
				b, e = max(0, min(d, b)), max(0, min(d, e))
				size = max(0, (e-b+s-1)/s)
			} else {
				b, e = max(-1, min(d-1, b)), max(-1, min(d-1, e))
				size = max(0, (b-e-s-1)/(-s))
			}
			shape[a] = size
			base += b * st[a]
			strides[a] = s * st[a]
		}
		if shapeSize(shape) == 0 {
			base = 0
		}
		return strided(x, shape, strides, base), nil
	}, nil
}

// buildTranspose: Transpose by the perm attribute (default: reversed axes).
func buildTranspose(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	var perm []int
	for _, p := range nd.attrs["perm"].ints {
		perm = append(perm, int(p))
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		p := perm
		if p == nil {
			for a := r - 1; a >= 0; a-- {
				p = append(p, a)
			}
		}
		if len(p) != r {
			return ntensor{}, fmt.Errorf("perm %v for rank %d", p, r)
		}
		st := rowStrides(x.shape)
		shape, strides := make([]int, r), make([]int, r)
		seen := make([]bool, r)
		for i, a := range p {
			if a < 0 || a >= r || seen[a] {
				return ntensor{}, fmt.Errorf("perm %v for rank %d", p, r)
			}
			seen[a] = true
			shape[i], strides[i] = x.shape[a], st[a]
		}
		return strided(x, shape, strides, 0), nil
	}, nil
}

// buildConstantOfShape: a tensor of the shape given by the input, filled
// with the value attribute (float32 0 by default).
func buildConstantOfShape(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	fill := ntensor{data: []float32{0}}
	if a, ok := nd.attrs["value"]; ok && a.t != nil {
		tmp := &nativeNet{consts: map[string]ntensor{}}
		if err := tmp.addConst("value", a.t); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		fill = tmp.consts["value"]
		if fill.size() != 1 {
			return nil, fmt.Errorf("value has %d elements, want 1", fill.size())
		}
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		shape, err := intsOf(in[0], "shape")
		if err != nil {
			return ntensor{}, err
		}
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		return take(fill, make([]int, shapeSize(shape)), shape), nil
	}, nil
}

// buildExpand: Expand, the input broadcast to (the numpy broadcast of it
// with) a shape.
func buildExpand(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		target, err := intsOf(in[1], "shape")
		if err != nil {
			return ntensor{}, err
		}
		shape, err := broadcastShape(in[0].shape, target)
		if err != nil {
			return ntensor{}, err
		}
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		st, err := broadcastStrides(in[0].shape, shape)
		if err != nil {
			return ntensor{}, err
		}
		return strided(in[0], shape, st, 0), nil
	}, nil
}

// buildSplit returns the step computing output k of a Split node: sizes
// from the second input (opset 13), the split attribute, or equal parts.
func buildSplit(nd onnxNode, k int) (stepFunc, error) {
	axis := int(attrInt(nd, "axis", 0))
	attrSplit := nd.attrs["split"].ints
	parts := len(nd.outputs)
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		ax, err := normAxis(axis, len(x.shape))
		if err != nil {
			return ntensor{}, err
		}
		dim := x.shape[ax]
		var sizes []int
		switch {
		case len(in) > 1 && in[1].size() > 0:
			if sizes, err = intsOf(in[1], "split"); err != nil {
				return ntensor{}, err
			}
		case len(attrSplit) > 0:
			for _, v := range attrSplit {
				sizes = append(sizes, int(v))
			}
		default:
			each := (dim + parts - 1) / parts
			for i := range parts {
				sizes = append(sizes, max(0, min(each, dim-i*each)))
			}
		}
		total := 0
		for _, v := range sizes {
			if v < 0 {
				return ntensor{}, fmt.Errorf("split sizes %v", sizes)
			}
			total += v
		}
		if len(sizes) != parts || total != dim {
			return ntensor{}, fmt.Errorf("split sizes %v for %d outputs of axis %d (size %d)", sizes, parts, ax, dim)
		}
		start := 0
		for _, v := range sizes[:k] {
			start += v
		}
		st := rowStrides(x.shape)
		shape := slices.Clone(x.shape)
		shape[ax] = sizes[k]
		return strided(x, shape, st, start*st[ax]), nil
	}, nil
}

// buildRange: Range(start, limit, delta) of int64 or float32 scalars.
func buildRange(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		if len(in) != 3 || in[0].size() != 1 || in[1].size() != 1 || in[2].size() != 1 {
			return ntensor{}, fmt.Errorf("want three scalar inputs")
		}
		if in[0].isInt {
			s, l, d := in[0].ints[0], in[1].ints[0], in[2].ints[0]
			if d == 0 {
				return ntensor{}, fmt.Errorf("delta 0")
			}
			cnt := max(0, (l-s+d-sign64(d))/d)
			if err := n.checkSize([]int{int(min(cnt, 1<<40))}); err != nil {
				return ntensor{}, err
			}
			out := make([]int64, cnt)
			for i := range out {
				out[i] = s + int64(i)*d
			}
			return ntensor{ints: out, isInt: true, shape: []int{len(out)}}, nil
		}
		s, l, d := float64(in[0].data[0]), float64(in[1].data[0]), float64(in[2].data[0])
		if d == 0 {
			return ntensor{}, fmt.Errorf("delta 0")
		}
		cnt := max(0, math.Ceil((l-s)/d))
		if err := n.checkSize([]int{int(min(cnt, 1<<40))}); err != nil {
			return ntensor{}, err
		}
		out := make([]float32, int(cnt))
		for i := range out {
			out[i] = float32(s + float64(i)*d)
		}
		return ntensor{data: out, shape: []int{len(out)}}, nil
	}, nil
}

func sign64(v int64) int64 {
	if v < 0 {
		return -1
	}
	return 1
}

// buildReduceMean: the mean over axes (attribute, or second input from
// opset 18; all axes when none), keeping them as 1s unless keepdims is 0.
func buildReduceMean(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	keep := attrInt(nd, "keepdims", 1) != 0
	attrAxes := nd.attrs["axes"].ints
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		var axes []int
		if len(in) > 1 && in[1].size() > 0 {
			var err error
			if axes, err = intsOf(in[1], "axes"); err != nil {
				return ntensor{}, err
			}
		} else {
			for _, a := range attrAxes {
				axes = append(axes, int(a))
			}
		}
		reduced := make([]bool, r)
		if len(axes) == 0 {
			for a := range reduced {
				reduced[a] = true
			}
		}
		for _, a := range axes {
			a, err := normAxis(a, r)
			if err != nil {
				return ntensor{}, err
			}
			reduced[a] = true
		}
		kept := make([]int, r) // the output shape with reduced axes as 1
		count := 1
		for a, d := range x.shape {
			kept[a] = d
			if reduced[a] {
				kept[a] = 1
				count *= d
			}
		}
		st := rowStrides(kept)
		for a := range st {
			if reduced[a] {
				st[a] = 0
			}
		}
		dst := strideIndex(x.shape, st, 0)
		sums := make([]float64, shapeSize(kept))
		for i, o := range dst {
			sums[o] += float64(x.data[i])
		}
		out := make([]float32, len(sums))
		for i, v := range sums {
			out[i] = float32(v / float64(max(count, 1)))
		}
		shape := kept
		if !keep {
			shape = nil
			for a, d := range kept {
				if !reduced[a] {
					shape = append(shape, d)
				}
			}
		}
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// buildEinsum: two-operand Einsum without ellipses or repeated labels, as
// one batched matrix product: A's axes arranged as batch × free × summed,
// B's as batch × summed × free, the product rearranged to the output.
func buildEinsum(_ *onnxGraph, nd onnxNode, _ *nativeNet) (stepFunc, error) {
	eq := strings.ReplaceAll(nd.attrs["equation"].s, " ", "")
	lhs, out, ok := strings.Cut(eq, "->")
	ins := strings.Split(lhs, ",")
	if !ok || len(ins) != 2 || strings.Contains(eq, ".") {
		return nil, fmt.Errorf("equation %q: the native engine runs two operands with an explicit output, no ellipsis", eq)
	}
	la, lb := ins[0], ins[1]
	for _, l := range []string{la, lb, out} {
		for i, c := range l {
			if strings.ContainsRune(l[i+1:], c) || c < 'A' || c > 'z' {
				return nil, fmt.Errorf("equation %q: repeated or non-letter label %q", eq, c)
			}
		}
	}
	var batch, freeA, freeB, sum string
	for _, c := range la {
		inB, inOut := strings.ContainsRune(lb, c), strings.ContainsRune(out, c)
		switch {
		case inB && inOut:
			batch += string(c)
		case inB:
			sum += string(c)
		case inOut:
			freeA += string(c)
		default:
			return nil, fmt.Errorf("equation %q: label %q of one operand only is summed away", eq, c)
		}
	}
	for _, c := range lb {
		if !strings.ContainsRune(la, c) {
			if !strings.ContainsRune(out, c) {
				return nil, fmt.Errorf("equation %q: label %q of one operand only is summed away", eq, c)
			}
			freeB += string(c)
		}
	}
	for _, c := range out {
		if !strings.ContainsRune(la, c) && !strings.ContainsRune(lb, c) {
			return nil, fmt.Errorf("equation %q: output label %q is in no operand", eq, c)
		}
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		a, b := in[0], in[1]
		if len(a.shape) != len(la) || len(b.shape) != len(lb) {
			return ntensor{}, fmt.Errorf("equation %q for inputs of shapes %s and %s", eq, shapeString(a.shape), shapeString(b.shape))
		}
		size := map[rune]int{}
		for _, t := range []struct {
			l string
			s []int
		}{{la, a.shape}, {lb, b.shape}} {
			for i, c := range t.l {
				if d, ok := size[c]; ok && d != t.s[i] {
					return ntensor{}, fmt.Errorf("equation %q: label %q is %d and %d", eq, c, d, t.s[i])
				}
				size[c] = t.s[i]
			}
		}
		prod := func(l string) int {
			p := 1
			for _, c := range l {
				p *= size[c]
			}
			return p
		}
		// arrange permutes t (labels l) to the label order want.
		arrange := func(t ntensor, l, want string) ntensor {
			st := rowStrides(t.shape)
			shape, strides := make([]int, len(want)), make([]int, len(want))
			for i, c := range want {
				j := strings.IndexRune(l, c)
				shape[i], strides[i] = t.shape[j], st[j]
			}
			return strided(t, shape, strides, 0)
		}
		nb, m, k, nn := prod(batch), prod(freeA), prod(sum), prod(freeB)
		ta := arrange(a, la, batch+freeA+sum)
		tb := arrange(b, lb, batch+sum+freeB)
		ta.shape, tb.shape = []int{nb, m, k}, []int{nb, k, nn}
		y, err := batchedMatMul(n, ta, tb)
		if err != nil {
			return ntensor{}, err
		}
		lr := batch + freeA + freeB
		y.shape = nil
		for _, c := range lr {
			y.shape = append(y.shape, size[c])
		}
		return arrange(y, lr, out), nil
	}, nil
}
