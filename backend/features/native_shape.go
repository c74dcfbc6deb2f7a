package features

import (
	"fmt"
	"math"
	"slices"
)

// The native engine's shape and indexing operators (Reshape, Transpose,
// Slice, Gather, Concat, Split, …). They run on
// float32 values and on the int64 ones a traced PyTorch graph computes
// shapes with (Shape → Gather → Unsqueeze → Concat → Reshape), so graphs
// exported with dynamic batch axes run as they are.

// rowWalker visits the rows (last axis) of a row-major array of shape one
// after the other, keeping for each of several operands the offset where
// the row starts in it: base + Σ index[a]·strides[a] over the outer axes.
type rowWalker struct {
	shape   []int
	strides [][]int
	pos     []int
	off     []int
}

// newRowWalker starts at row q.
func newRowWalker(shape []int, q int, bases []int, strides ...[]int) *rowWalker {
	r := len(shape)
	w := &rowWalker{shape: shape, strides: strides, pos: make([]int, max(r-1, 0)), off: slices.Clone(bases)}
	for a := r - 2; a >= 0; a-- {
		w.pos[a] = q % shape[a]
		q /= shape[a]
		for k, st := range strides {
			w.off[k] += w.pos[a] * st[a]
		}
	}
	return w
}

// next moves to the following row.
func (w *rowWalker) next() {
	for a := len(w.shape) - 2; a >= 0; a-- {
		w.pos[a]++
		for k, st := range w.strides {
			w.off[k] += st[a]
		}
		if w.pos[a] < w.shape[a] {
			return
		}
		for k, st := range w.strides {
			w.off[k] -= w.pos[a] * st[a]
		}
		w.pos[a] = 0
	}
}

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
	w := newRowWalker(shape, 0, []int{base}, strides)
	for i := 0; i < size; i += inner {
		for j := range inner {
			idx[i+j] = w.off[0] + j*step
		}
		w.next()
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
	parallelFor(rows, func(q0, q1 int) {
		w := newRowWalker(shape, q0, []int{base}, strides)
		for q := q0; q < q1; q++ {
			dst, off := out[q*inner:(q+1)*inner], w.off[0]
			if step == 1 {
				copy(dst, t.data[off:off+inner])
			} else {
				for j := range dst {
					dst[j] = t.data[off+j*step]
				}
			}
			w.next()
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

// boundsOf is intsOf for Slice's starts and ends, where exports write
// ±(2⁶³−1) for "to the end": values beyond ±2⁴⁰ are clamped there (Slice
// clamps them to the axis anyway).
func boundsOf(t ntensor, what string) ([]int, error) {
	if !t.isInt {
		return nil, fmt.Errorf("%s must be int64", what)
	}
	v := make([]int, len(t.ints))
	for i, x := range t.ints {
		v[i] = int(max(-(1 << 40), min(1<<40, x)))
	}
	return v, nil
}

// inputOrAttr returns the int64 values of input i when the node has it
// (the opset-13+ form of axes, pads, split sizes), else the attribute's.
func inputOrAttr(in []ntensor, i int, attr []int64, what string) ([]int, error) {
	if len(in) > i && in[i].size() > 0 {
		return intsOf(in[i], what)
	}
	v := make([]int, len(attr))
	for j, a := range attr {
		v[j] = int(a)
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

// buildReshape: Flatten and Reshape (with a constant or computed shape); the
// values are copied unless the input is not read again.
func buildReshape(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
		return n.reshaped(in, shape), nil
	}, nil
}

// reshaped returns input 0's values with shape: its own buffer when the
// step may overwrite it (n.reuse), a copy otherwise.
func (n *nativeNet) reshaped(in []ntensor, shape []int) ntensor {
	x := in[0]
	if x.isInt {
		return ntensor{ints: slices.Clone(x.ints), isInt: true, shape: shape}
	}
	out := n.outBuf(in, 0, len(x.data))
	if len(out) > 0 && &out[0] != &x.data[0] {
		copy(out, x.data)
	}
	return ntensor{data: out, shape: shape}
}

// concatAxis writes parts one after the other along an axis: out and each
// part are outer blocks of (the part's rows) × inner values.
func concatAxis[T any](out []T, parts [][]T, rows []int, outer, inner int) {
	off := 0
	for o := range outer {
		for k, p := range parts {
			m := rows[k] * inner
			off += copy(out[off:], p[o*m:(o+1)*m])
		}
	}
}

// padInto fills out with fill, then writes src[i] at out[dst[i]].
func padInto[T any](out []T, fill T, src []T, dst []int) {
	for i := range out {
		out[i] = fill
	}
	for i, j := range dst {
		out[j] = src[i]
	}
}

// buildConcat: Concat along one axis.
func buildConcat(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
		rows := make([]int, len(in))
		for k, t := range in {
			rows[k] = t.shape[ax]
		}
		if in[0].isInt {
			parts := make([][]int64, len(in))
			for k, t := range in {
				parts[k] = t.ints
			}
			out := make([]int64, shapeSize(shape))
			concatAxis(out, parts, rows, outer, inner)
			return ntensor{ints: out, isInt: true, shape: shape}, nil
		}
		parts := make([][]float32, len(in))
		for k, t := range in {
			parts[k] = t.data
		}
		out := make([]float32, shapeSize(shape))
		concatAxis(out, parts, rows, outer, inner)
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// buildShape: a tensor's shape as int64 (opset 15's start and end too).
func buildShape(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
func buildGather(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
func buildSqueeze(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	attrAxes := nd.attrs["axes"].ints
	squeeze := nd.op == "Squeeze"
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		axes, err := inputOrAttr(in, 1, attrAxes, "axes")
		if err != nil {
			return ntensor{}, err
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
		return n.reshaped(in, shape), nil
	}, nil
}

// buildCast: Cast between float32 and int64 (int32 is read as int64).
func buildCast(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
func buildSlice(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	if len(nd.inputs) < 3 {
		return nil, fmt.Errorf("%d inputs: the native engine runs opset-10 Slice (starts and ends as inputs)", len(nd.inputs))
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		starts, err := boundsOf(in[1], "starts")
		if err != nil {
			return ntensor{}, err
		}
		ends, err := boundsOf(in[2], "ends")
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
func buildTranspose(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
func buildConstantOfShape(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
func buildExpand(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
		sizes, err := inputOrAttr(in, 1, attrSplit, "split")
		if err != nil {
			return ntensor{}, err
		}
		if len(sizes) == 0 { // equal parts, the last one smaller
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
func buildRange(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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

// buildPad: Pad in constant mode (pads from the second input, opset 11,
// or the attribute; the value from the third input or 0).
func buildPad(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	if m := nd.attrs["mode"].s; m != "" && m != "constant" {
		return nil, fmt.Errorf("mode %q: the native engine pads with a constant only", m)
	}
	attrPads := nd.attrs["pads"].ints
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		pads, err := inputOrAttr(in, 1, attrPads, "pads")
		if err != nil {
			return ntensor{}, err
		}
		if len(pads) != 2*r || (len(in) > 3 && in[3].size() > 0) {
			return ntensor{}, fmt.Errorf("pads %v for rank %d (an axes input is not supported)", pads, r)
		}
		hasFill := len(in) > 2 && in[2].size() > 0
		if hasFill && in[2].isInt != x.isInt {
			return ntensor{}, fmt.Errorf("constant value of another type")
		}
		shape := make([]int, r)
		for a := range r {
			shape[a] = x.shape[a] + pads[a] + pads[r+a]
			if pads[a] < 0 || pads[r+a] < 0 {
				return ntensor{}, fmt.Errorf("negative pads %v (cropping) are not supported", pads)
			}
		}
		if err := n.checkSize(shape); err != nil {
			return ntensor{}, err
		}
		// Each input element i goes to Σ (index[a] + begin[a])·outStride[a].
		ost := rowStrides(shape)
		base := 0
		for a := range r {
			base += pads[a] * ost[a]
		}
		dst := strideIndex(x.shape, ost, base)
		if x.isInt {
			var fill int64
			if hasFill {
				fill = in[2].ints[0]
			}
			out := make([]int64, shapeSize(shape))
			padInto(out, fill, x.ints, dst)
			return ntensor{ints: out, isInt: true, shape: shape}, nil
		}
		var fill float32
		if hasFill {
			fill = in[2].data[0]
		}
		out := make([]float32, shapeSize(shape))
		padInto(out, fill, x.data, dst)
		return ntensor{data: out, shape: shape}, nil
	}, nil
}
