package features

import (
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
}

func (b *im2colBackend) Builder(name string) compute.Builder {
	return &im2colBuilder{Builder: b.Backend.Builder(name)}
}

type im2colBuilder struct {
	compute.Builder
	main *im2colFunction
}

func (b *im2colBuilder) Main() compute.Function {
	if b.main == nil {
		b.main = &im2colFunction{Function: b.Builder.Main()}
	}
	return b.main
}

type im2colFunction struct {
	compute.Function
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
	ones := func(v []int) bool {
		for _, x := range v {
			if x != 1 {
				return false
			}
		}
		return true
	}
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
	// Input as B×C×S1…Sn, padded.
	perm := append([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial...)
	x, err := f.Transpose(input, perm...)
	if err != nil {
		return nil, err
	}
	dims := make([]int, n+2)
	for i, a := range perm {
		dims[i] = is.Dimensions[a]
	}
	if paddings != nil && slices.ContainsFunc(paddings, func(p [2]int) bool { return p[0] != 0 || p[1] != 0 }) {
		zero, err := f.Constant([]float32{0})
		if err != nil {
			return nil, err
		}
		pad := make([]compute.PadAxis, n+2)
		for i := range n {
			pad[2+i] = compute.PadAxis{Start: paddings[i][0], End: paddings[i][1]}
			dims[2+i] += paddings[i][0] + paddings[i][1]
		}
		if x, err = f.Pad(x, zero, pad...); err != nil {
			return nil, err
		}
	}
	batch, cin := dims[0], dims[1]
	ksz := make([]int, n)
	out := make([]int, n)
	outN, kN := 1, 1
	for i := range n {
		ksz[i] = ks.Dimensions[axes.KernelSpatial[i]]
		s := 1
		if strides != nil {
			s = strides[i]
		}
		out[i] = (dims[2+i]-ksz[i])/s + 1
		if out[i] < 1 {
			return direct()
		}
		outN *= out[i]
		kN *= ksz[i]
	}
	// One strided slice per kernel offset, each B×C×1×O.
	cols := make([]compute.Value, 0, kN)
	off := make([]int, n)
	for range kN {
		starts := make([]int, n+2)
		limits := slices.Clone(dims)
		st := make([]int, n+2)
		st[0], st[1] = 1, 1
		for i := range n {
			s := 1
			if strides != nil {
				s = strides[i]
			}
			starts[2+i] = off[i]
			limits[2+i] = off[i] + (out[i]-1)*s + 1
			st[2+i] = s
		}
		c, err := f.Slice(x, starts, limits, st)
		if err != nil {
			return nil, err
		}
		if c, err = f.Reshape(c, batch, cin, 1, outN); err != nil {
			return nil, err
		}
		cols = append(cols, c)
		for i := n - 1; i >= 0; i-- { // next offset, row-major
			off[i]++
			if off[i] < ksz[i] {
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
	// B×C×K×O → (B·O)×(C·K).
	if col, err = f.Transpose(col, 0, 3, 1, 2); err != nil {
		return nil, err
	}
	if col, err = f.Reshape(col, batch*outN, cin*kN); err != nil {
		return nil, err
	}
	// Kernel as (C·K)×Cout.
	kperm := append([]int{axes.KernelInputChannels}, axes.KernelSpatial...)
	kperm = append(kperm, axes.KernelOutputChannels)
	w, err := f.Transpose(kernel, kperm...)
	if err != nil {
		return nil, err
	}
	cout := ks.Dimensions[axes.KernelOutputChannels]
	if w, err = f.Reshape(w, cin*kN, cout); err != nil {
		return nil, err
	}
	y, err := f.DotGeneral(col, []int{1}, nil, w, []int{0}, nil, compute.DotGeneralConfig{})
	if err != nil {
		return nil, err
	}
	// (B·O)×Cout → B×O1…On×Cout → the output layout.
	if y, err = f.Reshape(y, append(append([]int{batch}, out...), cout)...); err != nil {
		return nil, err
	}
	operm := make([]int, n+2)
	operm[axes.OutputBatch] = 0
	operm[axes.OutputChannels] = n + 1
	for i, a := range axes.OutputSpatial {
		operm[a] = 1 + i
	}
	return f.Transpose(y, operm...)
}
