package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"cortexcast/backend/compute"
	"cortexcast/backend/imageio"
	"cortexcast/backend/openblas"

	gcompute "github.com/gomlx/compute"

	. "github.com/gomlx/gomlx/core/graph" // gomlx graph building reads best unqualified (staticcheck.conf allows it)
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/onnx-gomlx/onnx"
	"github.com/gomlx/onnx-gomlx/onnx/parser"
)

// ONNXOptions configures an ONNX extractor. The zero value runs the model's
// first output, flattened, on ImageNet-normalised images at the model's
// input size, on the default compute backend.
type ONNXOptions struct {
	// Label names the model in the ID, e.g. "alexnet" (default "onnx").
	Label string
	// Backend is the compute backend spec ("go", "xla:cpu", "xla:cuda");
	// empty means compute.Resolve("").
	Backend string
	// Open, when not nil, is used instead of opening one from Backend.
	Open *compute.Backend
	// Preprocess is "imagenet" (default), "clip" or "caffe" (BGR, 0–255,
	// mean pixel subtracted; imageio.CaffeNorm): the normalisation applied
	// after imageio.ResizeCenterCrop to the model's input size.
	Preprocess string
	// Pool is how the selected node's output (batch × ...) becomes one row
	// per image: "flatten" (default; every value, in row-major order, as the
	// Algonauts devkit flattens AlexNet layers) or "mean" (the mean over every
	// axis after the second: the spatial mean of an N×C×H×W map, giving C
	// values, as used for SAM's 256×64×64 embedding).
	Pool string
	// BatchSize is the number of images run at once; ≤ 0 chooses it from
	// the available memory and the model's activation size per image
	// (BatchForMemory with AvailableMemory and PerImageBytes).
	BatchSize int
	// DirectConv keeps the backend's own convolution on the pure-Go
	// backend; by default convolutions there run as im2col + one matrix
	// product, several times faster (see im2colBackend).
	DirectConv bool
	// Engine chooses what runs the model: "" or "auto" runs it with the
	// native engine (nativeNet: the graph interpreted in Go, products as
	// BLAS calls) when the build uses OpenBLAS, the backend is the pure-Go
	// one and every operator the selected node needs is one it runs, and
	// with onnx-gomlx on the backend otherwise (falling back to the native
	// engine, on pure-Go BLAS, when onnx-gomlx cannot build the graph);
	// "native" insists on the native engine (an error names the operator it
	// lacks); "gomlx" never uses it.
	Engine string

	// polyLogistic forces im2colBackend's polynomial logistic (tests).
	polyLogistic bool
	// nativeMaxValues, when > 0, replaces the native engine's limit on the
	// size of one value (tests).
	nativeMaxValues int
}

// ONNX is an Extractor running an ONNX image model on the native engine or
// with onnx-gomlx on a gomlx backend (ONNXOptions.Engine). The model must take
// one float32 N×3×H×W input with a dynamic (or any) batch axis and static H
// and W.
//
// Extract resizes each image's shorter side to the model's input size and
// centre-crops it (imageio.ResizeCenterCrop, torchvision's Resize + CenterCrop
// with antialiased bicubic), normalises it (CLIP, ImageNet or Caffe) and
// runs the model in batches; the chosen node's output is flattened or pooled
// per ONNXOptions.Pool.
//
// An ONNX value is safe for concurrent use; runs are serialised.
type ONNX struct {
	label, node, tensor, input string
	hash                       string
	opts                       ONNXOptions
	size                       int // input H = W
	dim                        int
	outShape                   []int // selected node's output shape for one image, batch axis excluded
	im2col                     bool  // convolutions run as im2col + matrix product
	native                     *nativeNet
	nativeBatch1               bool   // the model's input has a static batch of 1: the native engine runs one image at a time
	nativeMaxBatch             int    // the most images per native run before a value (SAM's attention map) goes over its size limit
	nativeWhy                  string // why "auto" did not choose the native engine
	perImage                   int64  // activation bytes of one image (activationBytes of the batch-1 graph, or the native probe's)
	batchFrom                  string
	probing                    bool // set during NewONNX only: the graph builder measures perImage

	backend *compute.Backend
	store   *model.Store
	mu      sync.Mutex
	exec    *model.Exec
}

// NewONNX loads the ONNX model at path and prepares to extract the output of
// node: "" for the model's first output, a tensor name, a node name or a
// PyTorch module path (the rules are in ID's documentation). It runs the model once on a one-image batch
// of zeros to learn the output size.
func NewONNX(path, node string, opts ONNXOptions) (*ONNX, error) {
	if opts.Label == "" {
		opts.Label = "onnx"
	}
	if opts.Preprocess == "" {
		opts.Preprocess = "imagenet"
	}
	if opts.Pool == "" {
		opts.Pool = "flatten"
	}
	if opts.Preprocess != "imagenet" && opts.Preprocess != "clip" && opts.Preprocess != "caffe" {
		return nil, fmt.Errorf("features: ONNX preprocess %q: want \"imagenet\", \"clip\" or \"caffe\"", opts.Preprocess)
	}
	if opts.Pool != "flatten" && opts.Pool != "mean" {
		return nil, fmt.Errorf("features: ONNX pool %q: want \"flatten\" or \"mean\"", opts.Pool)
	}
	switch opts.Engine {
	case "", "auto", "native", "gomlx":
	default:
		return nil, fmt.Errorf("features: ONNX engine %q: want \"auto\", \"native\" or \"gomlx\"", opts.Engine)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: read ONNX model: %w", err)
	}
	sum := sha256.Sum256(data)
	g, err := parseONNXGraph(data)
	if err != nil {
		return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
	}
	tensor, err := g.resolve(node)
	if err != nil {
		return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
	}
	spec := compute.Resolve(opts.Backend)
	if opts.Open != nil {
		spec = opts.Open.Spec
	}
	hash := hex.EncodeToString(sum[:])[:12]
	var nativeWhy string
	switch {
	case opts.Engine == "gomlx":
		nativeWhy = "engine gomlx asked for"
	case opts.Engine == "native" && !strings.HasPrefix(spec, "go"):
		return nil, fmt.Errorf("features: ONNX model %s: the native engine runs on the CPU, not on backend %q", path, spec)
	case opts.Engine != "native" && !strings.HasPrefix(spec, "go"):
		nativeWhy = "backend " + spec
	case opts.Engine != "native" && !openblas.Enabled:
		nativeWhy = "built without OpenBLAS"
	default:
		e, err := newNativeONNX(g, tensor, node, hash, opts)
		if err == nil {
			return e, nil
		}
		if opts.Engine == "native" {
			return nil, fmt.Errorf("features: ONNX model %s: native engine: %w", path, err)
		}
		nativeWhy = err.Error()
	}
	e, err := newGomlxONNX(path, data, tensor, node, hash, nativeWhy, opts)
	if err != nil && opts.Engine != "gomlx" && strings.HasPrefix(spec, "go") && !openblas.Enabled {
		// onnx-gomlx cannot run it (LRN, say): the native engine on pure-Go
		// BLAS is slower than OpenBLAS but runs it.
		if ne, nerr := newNativeONNX(g, tensor, node, hash, opts); nerr == nil {
			return ne, nil
		}
	}
	return e, err
}

// newGomlxONNX is NewONNX with onnx-gomlx on a gomlx backend, for the model
// file's contents data; nativeWhy says why the native engine is not used.
func newGomlxONNX(path string, data []byte, tensor, node, hash, nativeWhy string, opts ONNXOptions) (*ONNX, error) {
	m, err := parseModel(data)
	if err != nil {
		return nil, fmt.Errorf("features: parse ONNX model %s: %w", path, err)
	}
	m = m.WithBaseDir(filepath.Dir(path))
	names, ishapes := m.Inputs()
	if len(names) != 1 {
		return nil, fmt.Errorf("features: ONNX model %s has %d inputs %q, want one image input", path, len(names), names)
	}
	in := ishapes[0]
	if in.Rank() != 4 || in.Dimensions[1] != 3 || in.Dimensions[2] <= 0 || in.Dimensions[2] != in.Dimensions[3] {
		return nil, fmt.Errorf("features: ONNX model %s input %q has shape %v, want N×3×S×S with a static S", path, names[0], in.Dimensions)
	}
	e := &ONNX{
		label: opts.Label, node: node, tensor: tensor, input: names[0],
		hash: hash, opts: opts, size: in.Dimensions[2],
		store: model.NewStore(), nativeWhy: nativeWhy,
	}
	if err := e.load(m); err != nil {
		return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
	}
	if opts.Open != nil {
		e.backend = opts.Open
	} else {
		b, err := compute.Open(compute.Resolve(opts.Backend), nil)
		if err != nil {
			return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
		}
		e.backend = b
	}
	// On the pure-Go backend convolutions run as im2col + matrix product
	// (im2colBackend) unless that graph fails to build (onnx-gomlx evaluates
	// some constant sub-expressions, such as Range bounds, on tensors that the
	// wrapper cannot share), in which case the backend runs on its own.
	var out []float32
	var shape []int
	e.probing = true
	if strings.HasPrefix(e.backend.Spec, "go") && !opts.DirectConv {
		out, shape, err = e.compile(m, &im2colBackend{Backend: e.backend.Backend, polyLogistic: simdBuild || opts.polyLogistic})
		e.im2col = err == nil
		if err != nil {
			e.store = model.NewStore() // the failed attempt may have bound the weights to the wrapper
			if err := e.load(m); err != nil {
				return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
			}
		}
	}
	if e.exec == nil {
		out, shape, err = e.compile(m, e.backend.Backend)
		if err != nil {
			return nil, fmt.Errorf("features: ONNX model %s: %w", path, err)
		}
	}
	e.probing = false
	e.dim = len(out)
	e.outShape = shape[1:]
	e.chooseBatch()
	return e, nil
}

// newNativeONNX is NewONNX with the native engine, for the graph g, tensor
// the selected value and hash the file's short SHA-256.
func newNativeONNX(g *onnxGraph, tensor, node, hash string, opts ONNXOptions) (*ONNX, error) {
	if len(g.inputs) != 1 {
		return nil, fmt.Errorf("%d inputs %q, want one image input", len(g.inputs), g.inputs)
	}
	in := g.inputShapes[g.inputs[0]]
	if len(in) != 4 || in[1] != 3 || in[2] <= 0 || in[2] != in[3] {
		return nil, fmt.Errorf("input %q has shape %v, want N×3×S×S with a static S", g.inputs[0], in)
	}
	net, err := newNativeNet(g, g.inputs[0], tensor)
	if err != nil {
		return nil, err
	}
	e := &ONNX{
		label: opts.Label, node: node, tensor: tensor, input: g.inputs[0],
		hash: hash, opts: opts, size: int(in[2]),
		native: net, nativeBatch1: in[0] == 1,
	}
	// One run on a one-image batch of zeros gives the output size and the
	// activation bytes per image.
	if opts.nativeMaxValues > 0 {
		net.maxValues = opts.nativeMaxValues
	}
	y, bytes, maxBatch, err := net.probe([]int{1, 3, e.size, e.size})
	if err == nil {
		y, err = e.nativeOutput(y, 1)
	}
	if err != nil {
		return nil, fmt.Errorf("probe run of %q: %w", tensor, err)
	}
	e.perImage, e.nativeMaxBatch = bytes, maxBatch
	e.dim = len(y.data)
	e.outShape = []int{e.dim}
	e.chooseBatch()
	return e, nil
}

// Engine says what runs the model: "native (OpenBLAS SkylakeX)", "native
// (pure-Go BLAS)", or "onnx-gomlx on BACKEND" with the reason the native
// engine was not used.
func (e *ONNX) Engine() string {
	if e.native != nil {
		if openblas.Enabled {
			return "native (OpenBLAS " + openblas.CoreName() + ")"
		}
		return "native (pure-Go BLAS)"
	}
	conv := ""
	if e.im2col {
		conv = ", im2col convolutions"
	}
	return fmt.Sprintf("onnx-gomlx on %s%s (not native: %s)", e.backend.Spec, conv, e.nativeWhy)
}

// chooseBatch sets the batch size from the available memory and the
// activation bytes per image, unless an option fixed it.
func (e *ONNX) chooseBatch() {
	e.batchFrom = "option"
	if e.opts.BatchSize <= 0 {
		avail, source, err := AvailableMemory()
		if err != nil {
			avail, source = 0, "unknown memory: "+err.Error()
		}
		e.opts.BatchSize = BatchForMemory(avail, e.perImage, MaxAutoBatch)
		e.batchFrom = fmt.Sprintf("%s: %d MB free, %.1f MB per image", source, avail>>20, float64(e.perImage)/(1<<20))
	}
}

// BatchSize returns the number of images run at once and how it was
// chosen ("option", or the memory bound and per-image size it came from).
func (e *ONNX) BatchSize() (int, string) { return e.opts.BatchSize, e.batchFrom }

// PerImageBytes returns the activation memory of one image: the sum of the
// sizes of every value the one-image graph computes (parameters and
// constants excluded), plus twice the im2col matrix of each convolution. The
// backend frees values once used, so the real peak is lower: this is a
// safe bound for choosing a batch size.
func (e *ONNX) PerImageBytes() int64 { return e.perImage }

// activationBytes is PerImageBytes for the graph g built on a batch of one.
func activationBytes(g *Graph) int64 {
	var sum int64
	for _, n := range g.Nodes() {
		switch n.Type() {
		case NodeTypeParameter, NodeTypeConstant:
			continue
		case NodeTypeConvGeneral:
			// im2colBackend's column matrix: (output positions) × (Cin·kernel
			// area), i.e. out.Size()/Cout × kernel.Size()/Cout with the
			// kernel in ONNX's O×I×kH×kW layout; twice, as it is built as
			// float64 pairs and copied back to float32.
			if in := n.Inputs(); len(in) == 2 && in[1].Shape().Rank() > 0 {
				if cout := in[1].Shape().Dimensions[0]; cout > 0 {
					sum += 2 * int64(n.Shape().Size()/cout) * int64(in[1].Shape().Size()/cout) * int64(n.DType().Size())
				}
			}
		}
		sum += int64(n.Shape().ByteSize())
	}
	return sum
}

// compile builds the graph on b and runs it once on a one-image batch of
// zeros; on failure e.exec is left nil.
func (e *ONNX) compile(m onnx.Model, b gcompute.Backend) ([]float32, []int, error) {
	exec, err := model.NewExec(b, e.store, func(scope *model.Scope, x *Node) *Node {
		out := m.CallGraph(scope, x.Graph(), map[string]*Node{e.input: x}, e.tensor)[0]
		if e.opts.Pool == "mean" && out.Rank() > 2 {
			axes := make([]int, out.Rank()-2)
			for i := range axes {
				axes[i] = i + 2
			}
			out = ReduceMean(out, axes...)
		}
		out = Reshape(out, out.Shape().Dimensions[0], -1)
		if e.probing && x.Shape().Dimensions[0] == 1 {
			e.perImage = activationBytes(x.Graph())
		}
		return out
	})
	if err != nil {
		return nil, nil, fmt.Errorf("build graph: %w", err)
	}
	e.exec = exec
	out, shape, err := e.run(make([]float32, 3*e.size*e.size), 1)
	if err != nil {
		exec.Finalize()
		e.exec = nil
		return nil, nil, fmt.Errorf("probe run of %q: %w", e.tensor, err)
	}
	return out, shape, nil
}

// parseModel parses an ONNX model, turning onnx-gomlx's panics into errors.
func parseModel(data []byte) (m onnx.Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-gomlx: %v", r)
		}
	}()
	return parser.Parse(data)
}

// load copies the model's weights into the store.
func (e *ONNX) load(m onnx.Model) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("load weights: %v", r)
		}
	}()
	if err := m.VariablesToScope(e.store.RootScope()); err != nil {
		return fmt.Errorf("load weights: %w", err)
	}
	return nil
}

// ID names the model label, the first 12 hex digits of the model file's
// SHA-256, the selected node (characters other than letters, digits, '.',
// '_' and '-' replaced by '_'; "out" for the model's output), the pooling,
// the preprocessing and the input size, e.g.
// "onnx-v1-alexnet-3fa2c1d09b7e-features.2-flatten-imagenet224".
//
// Node selection (NewONNX's node argument) tries, in order: a tensor name
// (any node output), a node name (its first output), then a PyTorch module
// path as torch.onnx.export scopes node names ("features.2", "ln_post"): the
// last node whose name contains "/<path>/", i.e. the module's output.
func (e *ONNX) ID() string {
	node := "out"
	if e.node != "" {
		node = strings.Trim(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
				return r
			}
			return '_'
		}, e.node), "_")
	}
	return fmt.Sprintf("onnx-v1-%s-%s-%s-%s-%s%d", e.label, e.hash, node, e.opts.Pool, e.opts.Preprocess, e.size)
}

// Dim returns the number of features per image.
func (e *ONNX) Dim() int { return e.dim }

// InputSize returns the model's input side S (images are S×S).
func (e *ONNX) InputSize() int { return e.size }

// OutputShape returns the selected node's output shape for one image (the
// batch axis removed), after pooling.
func (e *ONNX) OutputShape() []int { return append([]int(nil), e.outShape...) }

// Run runs the model on n preprocessed images x (n×3×S×S, row-major) and
// returns n×Dim features. It bypasses Extract's image preprocessing.
func (e *ONNX) Run(ctx context.Context, x []float32, n int) ([]float32, error) {
	per := 3 * e.size * e.size
	if len(x) != n*per {
		return nil, fmt.Errorf("features: ONNX Run: %d values for %d images of 3×%d×%d", len(x), n, e.size, e.size)
	}
	out := make([]float32, 0, n*e.dim)
	for i := 0; i < n; i += e.opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := min(e.opts.BatchSize, n-i)
		y, _, err := e.run(x[i*per:(i+b)*per], b)
		if err != nil {
			return nil, fmt.Errorf("features: %s: images %d..%d: %w", e.label, i, i+b-1, err)
		}
		out = append(out, y...)
	}
	return out, nil
}

// run executes one batch of b images.
func (e *ONNX) run(x []float32, b int) (out []float32, shape []int, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.native != nil {
		return e.runNative(x, b)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-gomlx: %v", r)
		}
	}()
	t := tensors.FromFlatDataAndDimensions(x, b, 3, e.size, e.size)
	defer t.FinalizeAll()
	y, err := e.exec.Call1(t)
	if err != nil {
		return nil, nil, err
	}
	defer y.FinalizeAll()
	s := y.Shape()
	if s.DType.String() != "Float32" {
		return nil, nil, fmt.Errorf("output %q has dtype %s, want Float32", e.tensor, s.DType)
	}
	out, err = tensors.CopyFlatData[float32](y)
	return out, s.Dimensions, err
}

// runNative is run on the native engine: the whole batch at once, or one
// image at a time for a model whose input has a static batch of 1; then the
// pooling of ONNXOptions.Pool.
func (e *ONNX) runNative(x []float32, b int) ([]float32, []int, error) {
	per := 3 * e.size * e.size
	// A batch larger than the engine's value-size limit allows runs in
	// parts; the batch size option is about memory, this about one value.
	step := min(b, e.nativeMaxBatch)
	if e.nativeBatch1 {
		step = 1
	}
	var out []float32
	var shape []int
	for i := 0; i < b; i += step {
		k := min(step, b-i)
		y, err := e.native.run(x[i*per:(i+k)*per], []int{k, 3, e.size, e.size})
		if err == nil {
			y, err = e.nativeOutput(y, k)
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, y.data...)
		shape = []int{b, len(y.data) / k}
	}
	return out, shape, nil
}

// nativeOutput checks that the selected value y has the batch of n images
// on its first axis and pools it per ONNXOptions.Pool.
func (e *ONNX) nativeOutput(y ntensor, n int) (ntensor, error) {
	if y.isInt || len(y.shape) == 0 || y.shape[0] != n {
		return ntensor{}, fmt.Errorf("output %q has shape %s: not float32 with the batch of %d on its first axis", e.tensor, shapeString(y.shape), n)
	}
	if e.opts.Pool == "mean" && len(y.shape) > 2 {
		inner := shapeSize(y.shape[2:])
		pooled := make([]float32, len(y.data)/max(inner, 1))
		for j := range pooled {
			var sum float64
			for _, v := range y.data[j*inner : (j+1)*inner] {
				sum += float64(v)
			}
			pooled[j] = float32(sum / float64(inner))
		}
		y = ntensor{data: pooled, shape: y.shape[:2]}
	}
	return y, nil
}

// Extract preprocesses imgs (in parallel, one batch at a time) and runs the
// model on them.
func (e *ONNX) Extract(ctx context.Context, imgs []image.Image) ([]float32, error) {
	norm := imageio.ImageNetNorm()
	switch e.opts.Preprocess {
	case "clip":
		norm = imageio.CLIPNorm()
	case "caffe":
		norm = imageio.CaffeNorm()
	}
	per := 3 * e.size * e.size
	out := make([]float32, 0, len(imgs)*e.dim)
	for i := 0; i < len(imgs); i += e.opts.BatchSize {
		b := min(e.opts.BatchSize, len(imgs)-i)
		x := make([]float32, b*per)
		if err := preprocessBatch(ctx, imgs[i:i+b], e.size, norm, x); err != nil {
			return nil, fmt.Errorf("features: %s: %w", e.label, err)
		}
		y, err := e.Run(ctx, x, b)
		if err != nil {
			return nil, err
		}
		out = append(out, y...)
	}
	return out, nil
}

// preprocessBatch writes imgs, resized and centre-cropped to size and
// normalised, into x as N×3×size×size.
func preprocessBatch(ctx context.Context, imgs []image.Image, size int, norm imageio.Norm, x []float32) error {
	per := 3 * size * size
	var wg sync.WaitGroup
	errs := make([]error, len(imgs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for j, img := range imgs {
		if err := ctx.Err(); err != nil {
			wg.Wait()
			return err
		}
		if img == nil || img.Bounds().Empty() {
			errs[j] = fmt.Errorf("image %d has no pixels", j)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			imageio.ResizeCenterCrop(img, size).CHW(norm, x[j*per:(j+1)*per])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close frees the compiled graph and the weights held by the backend.
func (e *ONNX) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.native = nil
	if e.exec != nil {
		e.exec.Finalize()
		e.exec = nil
	}
}
