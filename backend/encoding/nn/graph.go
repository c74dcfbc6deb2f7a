package nn

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	cccompute "cortexcast/backend/compute"
)

// AdamW and batch-norm constants (PyTorch's defaults).
const (
	adamBeta1   = 0.9
	adamBeta2   = 0.999
	adamEps     = 1e-8
	bnEps       = 1e-5
	bnMomentum  = 0.1
	leakySlope  = 0.01
	predictRows = 1024 // rows per prediction call
	// predictValues bounds rows × vertices × width of one pos prediction call.
	predictValues = 1 << 24
)

// executor holds the compiled graphs of one model on one backend.
type executor struct {
	backend compute.Backend
	train   *graph.Exec // one AdamW step
	predict *graph.Exec // evaluation-mode forward pass
	loss    *graph.Exec // training-mode loss alone (gradient checks)
	grad    *graph.Exec // training-mode loss and gradients (gradient checks)
}

func (e *executor) finalize() {
	for _, x := range []*graph.Exec{e.train, e.predict, e.loss, e.grad} {
		if x != nil {
			x.Finalize()
		}
	}
}

// addRow adds the vector b (length h) to every row of x (rows×h).
func addRow(x, b *graph.Node) *graph.Node {
	return graph.Add(x, graph.BroadcastToDims(graph.ExpandAxes(b, 0), x.Shape().Dimensions...))
}

func mulRow(x, b *graph.Node) *graph.Node {
	return graph.Mul(x, graph.BroadcastToDims(graph.ExpandAxes(b, 0), x.Shape().Dimensions...))
}

// leaky is LeakyReLU.
func leaky(z *graph.Node) *graph.Node { return graph.Max(z, graph.MulScalar(z, leakySlope)) }

// forward builds the network on x. In training mode batch norm uses the batch statistics and
// returns the updated running statistics; masks (dnn with dropout, training only) scale the input
// of each linear layer. Otherwise the running statistics in stats are used.
func (m *Model) forward(x *graph.Node, params, stats, masks []*graph.Node, training bool) (out *graph.Node, newStats []*graph.Node) {
	if m.Config.Kind == KindPos {
		return m.forwardPos(x, params), nil
	}
	h, newStats := m.trunk(x, params[:m.headStart], stats, masks, training)
	return m.head(h, params[m.headStart:]), newStats
}

// head maps the trunk's output to the vertices: one linear layer, or one per ROI.
func (m *Model) head(h *graph.Node, params []*graph.Node) *graph.Node {
	if len(m.Groups) <= 1 {
		return addRow(graph.MatMul(h, params[0]), params[1])
	}
	// The heads' weights side by side make one product: the same function and gradients as one
	// product per head, faster, and it avoids a deadlock of the pure-Go backend (its default
	// parallel op execution with several large products at once on 2 cores).
	ws := make([]*graph.Node, len(m.Groups))
	bs := make([]*graph.Node, len(m.Groups))
	for g := range m.Groups {
		ws[g], bs[g] = params[2*g], params[2*g+1]
	}
	return addRow(graph.MatMul(h, graph.Concatenate(ws, 1)), graph.Concatenate(bs, 0))
}

// trunk builds the layers before the head (none for simple and roi).
func (m *Model) trunk(x *graph.Node, params, stats, masks []*graph.Node, training bool) (*graph.Node, []*graph.Node) {
	switch m.Config.Kind {
	case KindDNN:
		return m.trunkDNN(x, params, stats, masks, training)
	case KindConv1D:
		return m.trunkConv(x, params), nil
	}
	return x, nil
}

// trunkConv applies the 1-D convolutions to x (rows × P, read as tokens × channels, row-major) and
// flattens the result. Each convolution is one product: the kernel's windows of the input, side
// by side (im2col), times the kernel as a (kernel·channels)×out-channels matrix.
func (m *Model) trunkConv(x *graph.Node, params []*graph.Node) *graph.Node {
	c := m.Config
	rows := x.Shape().Dimensions[0]
	channels := max(c.ConvInChannels, 1)
	tokens := m.P / channels
	h := graph.Reshape(x, rows, tokens, channels)
	for l := 0; l < c.ConvLayers; l++ {
		out := convTokens(tokens, c.ConvKernel, c.ConvStride)
		windows := make([]*graph.Node, c.ConvKernel)
		for j := range windows {
			windows[j] = graph.Slice(h, graph.AxisRange(), graph.AxisRange(j, j+c.ConvStride*(out-1)+1).Stride(c.ConvStride), graph.AxisRange())
		}
		cols := graph.Reshape(graph.Concatenate(windows, 2), rows*out, c.ConvKernel*channels)
		z := leaky(addRow(graph.MatMul(cols, params[2*l]), params[2*l+1]))
		tokens, channels = out, c.ConvChannels
		h = graph.Reshape(z, rows, tokens, channels)
	}
	return graph.Reshape(h, rows, tokens*channels)
}

// forwardPos runs the pos network on every (row, vertex) pair: rows × V.
func (m *Model) forwardPos(x *graph.Node, params []*graph.Node) *graph.Node {
	c := m.Config
	rows, v, hid := x.Shape().Dimensions[0], m.V, c.Hidden
	img := addRow(graph.MatMul(x, params[0]), params[1]) // rows × hidden
	enc := graph.ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(m.posEnc, v, c.PosDim))
	pos := graph.MatMul(enc, params[2]) // V × hidden
	h := graph.Add(graph.BroadcastToDims(graph.ExpandAxes(img, 1), rows, v, hid),
		graph.BroadcastToDims(graph.ExpandAxes(pos, 0), rows, v, hid))
	h = graph.Reshape(leaky(h), rows*v, hid)
	k := 3
	for l := 1; l < c.PosLayers-1; l++ {
		h = leaky(addRow(graph.MatMul(h, params[k]), params[k+1]))
		k += 2
	}
	return graph.Reshape(addRow(graph.MatMul(h, params[k]), params[k+1]), rows, v)
}

// trunkDNN builds the dnn blocks.
func (m *Model) trunkDNN(x *graph.Node, params, stats, masks []*graph.Node, training bool) (out *graph.Node, newStats []*graph.Node) {
	h := x
	rows := x.Shape().Dimensions[0]
	for b := 0; b < m.Config.Blocks; b++ {
		w, bias, gamma, beta := params[4*b], params[4*b+1], params[4*b+2], params[4*b+3]
		in := h
		if masks != nil {
			in = graph.Mul(in, masks[b])
		}
		z := addRow(graph.MatMul(in, w), bias)
		var mean, variance *graph.Node
		if training {
			mean = graph.ReduceMean(z, 0)
			centred := graph.Sub(z, graph.BroadcastToDims(graph.ExpandAxes(mean, 0), z.Shape().Dimensions...))
			variance = graph.ReduceMean(graph.Square(centred), 0)
			unbiased := float64(rows) / float64(max(rows-1, 1))
			newStats = append(newStats,
				graph.Add(graph.MulScalar(stats[2*b], 1-bnMomentum), graph.MulScalar(graph.StopGradient(mean), bnMomentum)),
				graph.Add(graph.MulScalar(stats[2*b+1], 1-bnMomentum), graph.MulScalar(graph.StopGradient(variance), bnMomentum*unbiased)))
		} else {
			mean, variance = stats[2*b], stats[2*b+1]
		}
		scale := graph.Div(gamma, graph.Sqrt(graph.AddScalar(variance, bnEps))) // Rsqrt has no gradient in gomlx v0.28
		z = addRow(mulRow(graph.Sub(z, graph.BroadcastToDims(graph.ExpandAxes(mean, 0), z.Shape().Dimensions...)), scale), beta)
		z = leaky(z)
		if m.Config.Residual && h.Shape().Dimensions[1] == z.Shape().Dimensions[1] {
			z = graph.Add(z, h)
		}
		h = z
	}
	if masks != nil {
		h = graph.Mul(h, masks[m.Config.Blocks])
	}
	return h, newStats
}

// mse is the mean squared error of out against y over every value.
func mse(out, y *graph.Node) *graph.Node {
	return graph.ReduceAllMean(graph.Square(graph.Sub(out, y)))
}

// numMasks is the number of dropout masks a training step takes.
func (m *Model) numMasks() int {
	if m.Config.Kind == KindDNN && m.Config.Dropout > 0 {
		return m.Config.Blocks + 1
	}
	return 0
}

// build compiles the model's graphs on backend.
//
// The training step takes [x, y, lrAdam, lrDecay, c2, masks…, params…, m1…, m2…, stats…] where
// lrAdam = lr/(1−β1ᵗ), lrDecay = lr·weightDecay, c2 = 1/(1−β2ᵗ), and returns
// [loss, params'…, m1'…, m2'…, stats'…].
func (m *Model) build(backend compute.Backend) error {
	if w, ok := backend.(*cccompute.Backend); ok {
		// The wrapper's identity differs from the backend's own, and gomlx refuses tensors that
		// a different backend instance made: the state kept on the backend between steps needs
		// the executables and the tensors to name the same one.
		backend = w.Backend
	}
	np, ns, nm := len(m.Params), len(m.Stats), m.numMasks()
	e := &executor{backend: backend}
	var err error
	e.train, err = graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		x, y, lrAdam, lrDecay, c2 := in[0], in[1], in[2], in[3], in[4]
		k := 5
		var masks []*graph.Node
		if nm > 0 {
			masks = in[k : k+nm]
		}
		k += nm
		params, m1, m2, stats := in[k:k+np], in[k+np:k+2*np], in[k+2*np:k+3*np], in[k+3*np:k+3*np+ns]
		out, newStats := m.forward(x, params, stats, masks, true)
		loss := mse(out, y)
		grads := graph.Gradient(loss, params...)
		res := make([]*graph.Node, 0, 1+3*np+ns)
		res = append(res, loss)
		newP := make([]*graph.Node, np)
		newM1 := make([]*graph.Node, np)
		newM2 := make([]*graph.Node, np)
		for i, p := range params {
			g := grads[i]
			newM1[i] = graph.Add(graph.MulScalar(m1[i], adamBeta1), graph.MulScalar(g, 1-adamBeta1))
			newM2[i] = graph.Add(graph.MulScalar(m2[i], adamBeta2), graph.MulScalar(graph.Square(g), 1-adamBeta2))
			denom := graph.AddScalar(graph.Sqrt(graph.Mul(newM2[i], c2)), adamEps)
			decayed := graph.Sub(p, graph.Mul(p, lrDecay))
			newP[i] = graph.Sub(decayed, graph.Div(graph.Mul(newM1[i], lrAdam), denom))
		}
		res = append(res, newP...)
		res = append(res, newM1...)
		res = append(res, newM2...)
		return append(res, newStats...)
	})
	if err != nil {
		return fmt.Errorf("nn: build training step: %w", err)
	}
	e.predict, err = graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		out, _ := m.forward(in[0], in[1:1+np], in[1+np:1+np+ns], nil, false)
		return []*graph.Node{out}
	})
	if err != nil {
		e.finalize()
		return fmt.Errorf("nn: build prediction: %w", err)
	}
	e.loss, err = graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		out, _ := m.forward(in[0], in[2:2+np], in[2+np:2+np+ns], nil, true)
		return []*graph.Node{mse(out, in[1])}
	})
	if err != nil {
		e.finalize()
		return fmt.Errorf("nn: build loss: %w", err)
	}
	e.grad, err = graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		params := in[2 : 2+np]
		out, _ := m.forward(in[0], params, in[2+np:2+np+ns], nil, true)
		loss := mse(out, in[1])
		return append([]*graph.Node{loss}, graph.Gradient(loss, params...)...)
	})
	if err != nil {
		e.finalize()
		return fmt.Errorf("nn: build gradient: %w", err)
	}
	if m.exec != nil {
		m.exec.finalize()
	}
	m.exec = e
	return nil
}

func tensorOf(p *param) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(p.Data, p.Shape...) }

func scalar(v float64) *tensors.Tensor { return tensors.FromScalar(float32(v)) }

// readInto copies t's values into dst (copyOut) and frees t.
func readInto(dst []float32, t *tensors.Tensor) error {
	defer t.FinalizeAll()
	return copyOut(dst, t)
}

func readScalar(t *tensors.Tensor) (float64, error) {
	var v [1]float32
	if err := readInto(v[:], t); err != nil {
		return 0, err
	}
	return float64(v[0]), nil
}

// finalizeArgs frees the input tensors of a call.
func finalizeArgs(args []any) {
	for _, a := range args {
		if t, ok := a.(*tensors.Tensor); ok {
			t.FinalizeAll()
		}
	}
}

func finalizeTensors(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.FinalizeAll()
	}
}
