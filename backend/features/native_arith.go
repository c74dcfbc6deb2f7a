package features

import (
	"fmt"
	"math"
	"slices"
)

// The native engine's element-wise arithmetic with numpy broadcasting, on
// float32 values and the int64 ones of shape arithmetic, and ReduceMean.

// buildBinary: element-wise Add, Sub, Mul, Div, Pow and Mod with numpy
// broadcasting, on float32 or (shape arithmetic) int64 pairs.
func buildBinary(nd onnxNode, _ *nativeNet) (stepFunc, error) {
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
		w := newRowWalker(shape, q0, []int{0, 0}, sa, sb)
		for q := q0; q < q1; q++ {
			o := out[q*inner : (q+1)*inner]
			x, y := row(a.data, w.off[0], sa[r-1]), row(b.data, w.off[1], sb[r-1])
			if len(o) == 1 {
				fillOp(op, o, x[0], y[0])
			} else {
				segmentOp(op, o, x, y)
			}
			w.next()
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

// broadcastInto writes scale·c, broadcast to shape (numpy rules), into dst.
func broadcastInto(dst []float32, shape []int, c ntensor, scale float32) error {
	strides, err := broadcastStrides(c.shape, shape)
	if err != nil {
		return err
	}
	if len(shape) == 2 && len(c.data) == shape[1] && suffixOf(c.shape, shape) {
		// A bias: one row repeated.
		for r := range shape[0] {
			row := dst[r*shape[1] : (r+1)*shape[1]]
			for i, v := range c.data {
				row[i] = scale * v
			}
		}
		return nil
	}
	idx := make([]int, len(shape))
	for i := range dst {
		off := 0
		for a, v := range idx {
			off += v * strides[a]
		}
		dst[i] = scale * c.data[off]
		for a := len(idx) - 1; a >= 0; a-- {
			if idx[a]++; idx[a] < shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return nil
}

// broadcastStrides returns, for each axis of out, the stride of the tensor
// of shape s broadcast to it (0 on broadcast axes).
func broadcastStrides(s, out []int) ([]int, error) {
	if len(s) > len(out) {
		return nil, fmt.Errorf("shape %s does not broadcast to %s", shapeString(s), shapeString(out))
	}
	strides := make([]int, len(out))
	st := 1
	for i := 1; i <= len(s); i++ {
		d, o := s[len(s)-i], out[len(out)-i]
		switch d {
		case o:
			strides[len(out)-i] = st
		case 1:
		default:
			return nil, fmt.Errorf("shape %s does not broadcast to %s", shapeString(s), shapeString(out))
		}
		st *= d
	}
	return strides, nil
}

// broadcastShape is the numpy broadcast of shapes a and b.
func broadcastShape(a, b []int) ([]int, error) {
	out := make([]int, max(len(a), len(b)))
	for i := 1; i <= len(out); i++ {
		da, db := 1, 1
		if i <= len(a) {
			da = a[len(a)-i]
		}
		if i <= len(b) {
			db = b[len(b)-i]
		}
		switch {
		case da == db || db == 1:
			out[len(out)-i] = da
		case da == 1:
			out[len(out)-i] = db
		default:
			return nil, fmt.Errorf("shapes %s and %s do not broadcast", shapeString(a), shapeString(b))
		}
	}
	return out, nil
}

// buildReduceMean: the mean over axes (attribute, or second input from
// opset 18; all axes when none), keeping them as 1s unless keepdims is 0.
func buildReduceMean(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	keep := attrInt(nd, "keepdims", 1) != 0
	attrAxes := nd.attrs["axes"].ints
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		axes, err := inputOrAttr(in, 1, attrAxes, "axes")
		if err != nil {
			return ntensor{}, err
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
