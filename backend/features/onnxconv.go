package features

import (
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
)

// im2colBackend wraps a gomlx backend so that float32 convolutions without
// dilation or grouping are built as im2col (strided slices of the padded
// input, one per kernel offset) followed by one matrix product, instead of
// the backend's ConvGeneral. The pure-Go backend's ConvGeneral is a direct
// loop that runs AlexNet's convolutions tens of times slower than its matrix
// product; the result is the same up to float32 summation order. Everything
// else passes through to the wrapped backend.
type im2colBackend struct {
	compute.Backend
	// polyLogistic computes float32 logistics with a rational polynomial
	// (see Logistic); on by default in GOEXPERIMENT=simd builds.
	polyLogistic bool
}

func (b *im2colBackend) Builder(name string) compute.Builder {
	return &im2colBuilder{Builder: b.Backend.Builder(name), poly: b.polyLogistic}
}

type im2colBuilder struct {
	compute.Builder
	poly bool
	main *im2colFunction
}

func (b *im2colBuilder) Main() compute.Function {
	if b.main == nil {
		b.main = &im2colFunction{Function: b.Builder.Main(), poly: b.poly}
	}
	return b.main
}

type im2colFunction struct {
	compute.Function
	poly bool
}

// unwrap returns the backend's own function behind f.
func unwrap(f compute.Function) compute.Function {
	if w, ok := f.(*im2colFunction); ok {
		return w.Function
	}
	return f
}

func (f *im2colFunction) Call(g compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Call(unwrap(g), inputs...)
}

func (f *im2colFunction) ConvGeneral(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (compute.Value, error) {
	direct := func() (compute.Value, error) {
		return f.Function.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
	}
	ones := func(v []int) bool { return !slices.ContainsFunc(v, func(x int) bool { return x != 1 }) }
	if channelGroupCount > 1 || batchGroupCount > 1 || !ones(inputDilations) || !ones(kernelDilations) {
		return direct()
	}
	is, err := f.Shape(input)
	if err != nil {
		return nil, err
	}
	ks, err := f.Shape(kernel)
	if err != nil {
		return nil, err
	}
	if is.DType != dtypes.Float32 || ks.DType != dtypes.Float32 || is.IsDynamic() || ks.IsDynamic() {
		return direct()
	}
	n := len(axes.InputSpatial)
	st := make([]int, n)
	for i := range st {
		st[i] = 1
		if strides != nil {
			st[i] = strides[i]
		}
		if st[i] < 1 {
			return direct()
		}
	}
	// Padded input size, kernel size and output size per spatial axis.
	padded := make([]int, n)
	ksz := make([]int, n)
	out := make([]int, n)
	for i := range n {
		padded[i] = is.Dimensions[axes.InputSpatial[i]]
		if paddings != nil {
			padded[i] += paddings[i][0] + paddings[i][1]
		}
		ksz[i] = ks.Dimensions[axes.KernelSpatial[i]]
		out[i] = (padded[i]-ksz[i])/st[i] + 1
		if out[i] < 1 {
			return direct()
		}
	}
	// A strided convolution is rewritten as a stride-1 one by space to
	// depth: each s×s block of input positions becomes one position with
	// s²·C channels, and the kernel, zero-padded to a multiple of s, is
	// blocked alike. AlexNet's 11×11 stride-4 conv1 then builds its column
	// matrix from 3×3 slices of 48 channels instead of 11×11 slices of 3,
	// for 19% more multiply-adds.
	s2d := slices.ContainsFunc(st, func(s int) bool { return s > 1 })
	// Input extent each axis needs: padded[i] for stride 1; for space to
	// depth, whole blocks covering every output's kernel window.
	need := slices.Clone(padded)
	kb := slices.Clone(ksz) // kernel size after blocking
	if s2d {
		for i := range n {
			kb[i] = (ksz[i] + st[i] - 1) / st[i]
			// ≥ (out-1)·s+k: every window lies inside.
			need[i] = (out[i] + kb[i] - 1) * st[i]
		}
	}
	// Input as B×S1…Sn×C (channels last), padded (the end padding adjusted
	// to need, cutting only positions no output window reads).
	perm := append(append([]int{axes.InputBatch}, axes.InputSpatial...), axes.InputChannels)
	x, err := f.Transpose(input, perm...)
	if err != nil {
		return nil, err
	}
	batch, cin := is.Dimensions[axes.InputBatch], is.Dimensions[axes.InputChannels]
	pad := make([]compute.PadAxis, n+2)
	padding, cut := false, false
	for i := range n {
		lo, hi := 0, 0
		if paddings != nil {
			lo, hi = paddings[i][0], paddings[i][1]
		}
		hi += need[i] - padded[i]
		if hi < 0 {
			cut = true
			hi = 0
		}
		pad[1+i] = compute.PadAxis{Start: lo, End: hi}
		padding = padding || lo != 0 || hi != 0
	}
	if padding {
		zero, err := f.Constant([]float32{0})
		if err != nil {
			return nil, err
		}
		if x, err = f.Pad(x, zero, pad...); err != nil {
			return nil, err
		}
	}
	if cut {
		limits := append(append([]int{batch}, need...), cin)
		if x, err = f.Slice(x, make([]int, n+2), limits, unitStrides(n+2)); err != nil {
			return nil, err
		}
	}
	// Kernel as Cout×K1…Kn×Cin, the same (offset, channel) order as the
	// column matrix: the product is then in the backend's fastest layout
	// (both operands contracted on their last axis).
	kperm := append(append([]int{axes.KernelOutputChannels}, axes.KernelSpatial...), axes.KernelInputChannels)
	w, err := f.Transpose(kernel, kperm...)
	if err != nil {
		return nil, err
	}
	cout := ks.Dimensions[axes.KernelOutputChannels]
	conv := convStride1{batch: batch, in: need, cin: cin, k: ksz, out: out}
	if s2d {
		if x, w, err = f.spaceToDepth(x, w, batch, need, cin, cout, ksz, kb, st); err != nil {
			return nil, err
		}
		blocks := make([]int, n)
		area := 1
		for i := range n {
			blocks[i] = need[i] / st[i]
			area *= st[i]
		}
		conv = convStride1{batch: batch, in: blocks, cin: area * cin, k: kb, out: out}
	}
	y, err := f.im2colDot(x, w, conv, cout)
	if err != nil {
		return nil, err
	}
	// B×O1…On×Cout → the output layout.
	operm := make([]int, n+2)
	operm[axes.OutputBatch] = 0
	operm[axes.OutputChannels] = n + 1
	for i, a := range axes.OutputSpatial {
		operm[a] = 1 + i
	}
	return f.Transpose(y, operm...)
}

// unitStrides returns n ones.
func unitStrides(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// convStride1 is the geometry of a stride-1, unpadded, channels-last
// convolution: input B×In1…Inn×Cin, kernel K1…Kn, output B×Out1…Outn.
type convStride1 struct {
	batch, cin int
	in, k, out []int
}

// spaceToDepth turns the channels-last input x (B×need×C, need[i] a
// multiple of st[i]) and the kernel w (Cout×ksz×C) of a strided
// convolution into the input (B×(need/st)×(∏st·C)) and kernel
// (Cout×kb×(∏st·C)) of the equivalent stride-1 convolution, the kernel
// zero-padded to kb[i]·st[i] taps.
func (f *im2colFunction) spaceToDepth(x, w compute.Value, batch int, need []int, cin, cout int, ksz, kb, st []int) (compute.Value, compute.Value, error) {
	n := len(need)
	// Blocked dims [B, Q1, s1, …, Qn, sn, C] → [B, Q1…Qn, s1…sn, C].
	xd := []int{batch}
	wd := []int{cout}
	for i := range n {
		xd = append(xd, need[i]/st[i], st[i])
		wd = append(wd, kb[i], st[i])
	}
	xd = append(xd, cin)
	wd = append(wd, cin)
	bperm := []int{0}
	for i := range n {
		bperm = append(bperm, 1+2*i)
	}
	for i := range n {
		bperm = append(bperm, 2+2*i)
	}
	bperm = append(bperm, 2*n+1)
	area := 1
	for _, s := range st {
		area *= s
	}
	var err error
	if x, err = f.Reshape(x, xd...); err != nil {
		return nil, nil, err
	}
	if x, err = f.Transpose(x, bperm...); err != nil {
		return nil, nil, err
	}
	xb := append([]int{batch}, need...)
	for i := range n {
		xb[1+i] /= st[i]
	}
	if x, err = f.Reshape(x, append(xb, area*cin)...); err != nil {
		return nil, nil, err
	}
	zero, err := f.Constant([]float32{0})
	if err != nil {
		return nil, nil, err
	}
	pad := make([]compute.PadAxis, n+2)
	for i := range n {
		pad[1+i] = compute.PadAxis{End: kb[i]*st[i] - ksz[i]}
	}
	if w, err = f.Pad(w, zero, pad...); err != nil {
		return nil, nil, err
	}
	if w, err = f.Reshape(w, wd...); err != nil {
		return nil, nil, err
	}
	if w, err = f.Transpose(w, bperm...); err != nil {
		return nil, nil, err
	}
	wb := append([]int{cout}, kb...)
	if w, err = f.Reshape(w, append(wb, area*cin)...); err != nil {
		return nil, nil, err
	}
	return x, w, nil
}

// im2colDot computes the stride-1 convolution c of the channels-last input
// x by the kernel w (Cout×K1…Kn×Cin) as one strided slice of x per kernel
// offset, the slices side by side (the column matrix, (B·O)×(K·Cin)), and
// one matrix product; it returns B×O1…On×Cout.
func (f *im2colFunction) im2colDot(x, w compute.Value, c convStride1, cout int) (compute.Value, error) {
	n := len(c.k)
	outN, kN := 1, 1
	for i := range n {
		outN *= c.out[i]
		kN *= c.k[i]
	}
	// The backend's Slice copies element by element: with an even channel
	// count, pairs of float32 travel as one float64, halving that work.
	cin, pair := c.cin, c.cin%2 == 0
	var err error
	if pair {
		if x, err = f.Reshape(x, append(append([]int{c.batch}, c.in...), cin/2, 2)...); err != nil {
			return nil, err
		}
		if x, err = f.Bitcast(x, dtypes.Float64); err != nil {
			return nil, err
		}
		cin /= 2
	}
	dims := append(append([]int{c.batch}, c.in...), cin)
	// One slice per kernel offset, each B×O×1×C; side by side B×O×K×C.
	cols := make([]compute.Value, 0, kN)
	off := make([]int, n)
	for range kN {
		starts := make([]int, n+2)
		limits := slices.Clone(dims)
		for i := range n {
			starts[1+i] = off[i]
			limits[1+i] = off[i] + c.out[i]
		}
		s := x
		if !slices.Equal(starts, make([]int, n+2)) || !slices.Equal(limits, dims) {
			if s, err = f.Slice(x, starts, limits, unitStrides(n+2)); err != nil {
				return nil, err
			}
		}
		if s, err = f.Reshape(s, c.batch, outN, 1, cin); err != nil {
			return nil, err
		}
		cols = append(cols, s)
		for i := n - 1; i >= 0; i-- { // next offset, row-major
			off[i]++
			if off[i] < c.k[i] {
				break
			}
			off[i] = 0
		}
	}
	col := cols[0]
	if len(cols) > 1 {
		if col, err = f.Concatenate(2, cols...); err != nil {
			return nil, err
		}
	}
	if pair {
		if col, err = f.Bitcast(col, dtypes.Float32); err != nil {
			return nil, err
		}
	}
	// → (B·O)×(K·C), the order of w's Cout×(K·C).
	if col, err = f.Reshape(col, c.batch*outN, kN*c.cin); err != nil {
		return nil, err
	}
	if w, err = f.Reshape(w, cout, kN*c.cin); err != nil {
		return nil, err
	}
	y, err := f.DotGeneral(col, []int{1}, nil, w, []int{1}, nil, compute.DotGeneralConfig{})
	if err != nil {
		return nil, err
	}
	return f.Reshape(y, append(append([]int{c.batch}, c.out...), cout)...)
}

// ReduceWindow runs float32 max pooling without dilations as the maximum
// of one strided slice per window offset: the pure-Go backend's
// ReduceWindow walks every window with a generic iterator and took a
// quarter of AlexNet's time. Other reductions pass through.
func (f *im2colFunction) ReduceWindow(input compute.Value, reductionType compute.ReduceOpType,
	windowDimensions, strides, inputDilations, windowDilations []int, paddings [][2]int) (compute.Value, error) {
	direct := func() (compute.Value, error) {
		return f.Function.ReduceWindow(input, reductionType, windowDimensions, strides, inputDilations, windowDilations, paddings)
	}
	is, err := f.Shape(input)
	if err != nil {
		return nil, err
	}
	rank := is.Rank()
	ones := func(v []int) bool { return !slices.ContainsFunc(v, func(x int) bool { return x != 1 }) }
	if reductionType != compute.ReduceOpMax || is.DType != dtypes.Float32 || is.IsDynamic() ||
		len(windowDimensions) != rank || (strides != nil && len(strides) != rank) ||
		!ones(inputDilations) || !ones(windowDilations) {
		return direct()
	}
	x := input
	dims := slices.Clone(is.Dimensions)
	if paddings != nil && slices.ContainsFunc(paddings, func(p [2]int) bool { return p[0] != 0 || p[1] != 0 }) {
		if len(paddings) != rank {
			return direct()
		}
		low, err := f.Constant([]float32{float32(math.Inf(-1))})
		if err != nil {
			return nil, err
		}
		pad := make([]compute.PadAxis, rank)
		for i, p := range paddings {
			pad[i] = compute.PadAxis{Start: p[0], End: p[1]}
			dims[i] += p[0] + p[1]
		}
		if x, err = f.Pad(x, low, pad...); err != nil {
			return nil, err
		}
	}
	st := make([]int, rank)
	out := make([]int, rank)
	windows := 1
	for i := range rank {
		st[i] = windowDimensions[i]
		if strides != nil {
			st[i] = strides[i]
		}
		if st[i] < 1 || windowDimensions[i] < 1 {
			return direct()
		}
		out[i] = (dims[i]-windowDimensions[i])/st[i] + 1
		if out[i] < 1 {
			return direct()
		}
		windows *= windowDimensions[i]
	}
	var y compute.Value
	off := make([]int, rank)
	for range windows {
		limits := make([]int, rank)
		for i := range rank {
			limits[i] = off[i] + (out[i]-1)*st[i] + 1
		}
		s, err := f.Slice(x, slices.Clone(off), limits, st)
		if err != nil {
			return nil, err
		}
		if y == nil {
			y = s
		} else if y, err = f.Max(y, s); err != nil {
			return nil, err
		}
		for i := rank - 1; i >= 0; i-- { // next offset, row-major
			off[i]++
			if off[i] < windowDimensions[i] {
				break
			}
			off[i] = 0
		}
	}
	return y, nil
}

// tanhClamp and the tanhA/tanhB coefficients are Eigen's float32 tanh: an
// odd degree-13 over even degree-6 rational polynomial on ±tanhClamp (beyond
// it tanh is 1 in float32); its error is below 4e-7.
const tanhClamp = 7.90531110763549805

var (
	tanhA = [...]float32{4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
		-8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16}
	tanhB = [...]float32{4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06}
)

// Logistic, when f.poly is set, computes a float32 logistic as
// ½ + ½·tanh(x/2) with tanh a rational polynomial, from products and sums
// only (absolute error below 2e-7). In GOEXPERIMENT=simd builds the
// backend's own Logistic, float64 math.Exp per value, runs tens of times
// slower (see ARCHITECTURE.md, SIMD) and was most of ViT-B/32's time.
func (f *im2colFunction) Logistic(x compute.Value) (compute.Value, error) {
	xs, err := f.Shape(x)
	if err != nil || !f.poly || xs.DType != dtypes.Float32 || xs.IsDynamic() {
		return f.Function.Logistic(x)
	}
	// Each step is skipped once one has failed; the first error is returned.
	var firstErr error
	k := func(v float32) compute.Value {
		if firstErr != nil {
			return nil
		}
		c, err := f.Constant([]float32{v})
		firstErr = err
		return c
	}
	do := func(fn func(a, b compute.Value) (compute.Value, error), a, b compute.Value) compute.Value {
		if firstErr != nil {
			return nil
		}
		v, err := fn(a, b)
		firstErr = err
		return v
	}
	// poly evaluates coef[0] + coef[1]·z + … by Horner's rule.
	poly := func(coef []float32, z compute.Value) compute.Value {
		p := do(f.Mul, z, k(coef[len(coef)-1]))
		for i := len(coef) - 2; i >= 0; i-- {
			p = do(f.Add, p, k(coef[i]))
			if i > 0 {
				p = do(f.Mul, p, z)
			}
		}
		return p
	}
	h := do(f.Mul, x, k(0.5))
	lo, hi := k(-tanhClamp), k(tanhClamp)
	if firstErr == nil {
		h, firstErr = f.Clamp(lo, h, hi)
	}
	h2 := do(f.Mul, h, h)
	p := do(f.Mul, poly(tanhA[:], h2), h) // odd numerator
	q := poly(tanhB[:], h2)
	t := do(f.Div, p, q)
	t = do(f.Add, do(f.Mul, t, k(0.5)), k(0.5))
	if firstErr != nil {
		return nil, firstErr
	}
	return t, nil
}
