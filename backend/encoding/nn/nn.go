// Package nn trains the neural encoding models of the thesis zoo with gomlx: a configuration
// (Config) names the architecture and the training settings, Train fits it and returns a Model
// that predicts vertex responses from image features.
//
// A model is a trunk, which turns the features into a hidden representation, and a head, which
// maps that to the vertices. The kinds are:
//
//   - "simple": no trunk, one linear layer features → vertices;
//   - "dnn": a trunk of Blocks blocks of Linear + BatchNorm + LeakyReLU (optionally with dropout
//     before each linear layer and residual connections where the widths agree);
//   - "conv1d": a trunk of ConvLayers 1-D convolutions (+ LeakyReLU) over the feature vector read as
//     a sequence of tokens: P tokens of one channel by default (CLIP's 512 features as 512×1), or
//     P/ConvInChannels tokens of ConvInChannels channels (512 as 8 tokens × 64, say); kernel
//     ConvKernel, stride ConvStride, ConvChannels output channels, no padding; the last layer's
//     tokens × channels are flattened. (The features are not a sequence, but the thesis convolved
//     over them this way: neighbouring dimensions share filters.);
//   - "roi": the simple model with ROI heads (below), each head kept at its own best validation
//     epoch — the thesis's best model;
//   - "pos": one small network shared by all vertices: its first layer takes the image features
//     and a sinusoidal positional encoding of the vertex's 3-D coordinate (PosDim values: PosDim/6
//     frequencies per coordinate, log-spaced from 1 to PosFreq, sine and cosine), PosLayers
//     layers of width Hidden in all, one output: that vertex's response. The first layer of an
//     MLP on the concatenation [features, encoding] is the sum of a map of each, so it is computed
//     as images × width plus vertices × width, broadcast to images × vertices × width: the
//     network runs batched over every vertex at once.
//
// Heads "roi" (with simple, dnn or conv1d) gives one linear head per ROI over that ROI's vertices
// (vertices labelled 0 share one "rest" head) instead of one linear head over all of them; the
// thesis's combinations (dnn trunk with residual blocks, dropout and ROI heads, say) are
// configurations, not types: Presets lists the named ones.
//
// Training is written directly as one gomlx graph per step: the MSE loss, its gradient by
// graph.Gradient and the AdamW update (PyTorch's formulation: decoupled weight decay on every
// array, bias-corrected moments) all run on the backend, and the weights and moments stay there
// for a whole epoch; between epochs they are plain []float32, so the same code runs on the pure-Go
// backend and on XLA. The loss is the mean squared error over every vertex (for roi too: under
// Adam the per-head weighting would change nearly nothing; what makes the ROI heads independent is
// that each keeps the weights of its own best validation epoch). The learning rate decays by
// StepGamma every StepEvery epochs; the last ValFraction of a seeded permutation of the rows is
// held out for validation and early stopping keeps the weights of the best validation epoch.
// Everything random (initialisation, the split, the batch order, dropout masks) comes from
// Config.Seed, so two runs with the same inputs give the same model; TrainCheckpointed writes the
// whole state after every epoch and resumes from it exactly.
package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Kinds of model.
const (
	KindSimple = "simple"
	KindDNN    = "dnn"
	KindROI    = "roi"
	KindConv1D = "conv1d"
	KindPos    = "pos"
)

// Kinds returns the model kinds Train knows.
func Kinds() []string { return []string{KindSimple, KindDNN, KindROI, KindConv1D, KindPos} }

// Heads of a model.
const (
	HeadsLinear = "linear" // one linear layer over all vertices (the default)
	HeadsROI    = "roi"    // one linear layer per ROI
)

// Config names a model of the zoo and how to train it.
type Config struct {
	Kind        string  `json:"kind"`         // one of Kinds()
	Heads       string  `json:"heads"`        // "linear" ("" too) or "roi"; kind roi has ROI heads whatever this says
	Hidden      int     `json:"hidden"`       // dnn: width of each block; pos: width of each layer
	Blocks      int     `json:"blocks"`       // dnn: number of Linear+BatchNorm+LeakyReLU blocks
	Dropout     float64 `json:"dropout"`      // dnn: dropout probability before each linear layer (0 = none)
	Residual    bool    `json:"residual"`     // dnn: add each block's input to its output where widths agree
	LR          float64 `json:"lr"`           // AdamW learning rate
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled weight decay
	Epochs      int     `json:"epochs"`       // maximum number of epochs
	BatchSize   int     `json:"batch_size"`   // rows per step
	StepEvery   int     `json:"step_every"`   // multiply the learning rate by StepGamma every StepEvery epochs (0 = never)
	StepGamma   float64 `json:"step_gamma"`
	Seed        int64   `json:"seed"`
	ValFraction float64 `json:"val_fraction"` // fraction of rows held out for validation, in [0, 1)
	Patience    int     `json:"patience"`     // stop after this many epochs without a better validation loss (0 = never)

	ConvInChannels int `json:"conv_in_channels"` // conv1d: the features read as P/this tokens of this many channels (0 = 1)
	ConvLayers     int `json:"conv_layers"`      // conv1d: number of convolutions
	ConvChannels   int `json:"conv_channels"`    // conv1d: output channels of each
	ConvKernel     int `json:"conv_kernel"`      // conv1d: kernel size in tokens
	ConvStride     int `json:"conv_stride"`      // conv1d: stride in tokens

	PosDim    int     `json:"pos_dim"`    // pos: length of the positional encoding, a multiple of 6
	PosFreq   float64 `json:"pos_freq"`   // pos: highest frequency (the lowest is 1), in cycles per half extent of the mesh
	PosLayers int     `json:"pos_layers"` // pos: linear layers in all, ≥ 2

	// Joint trains one model across subjects (FitJoint): the trunk (for pos, the whole network)
	// is shared, each subject has its own head.
	Joint bool `json:"joint"`
}

// DefaultConfig returns the thesis defaults: a simple linear model trained with AdamW (lr 1e-4,
// weight decay 1e-2), the learning rate × 0.75 every 10 epochs, 30 epochs, MSE, a 90/10 split.
// The settings of the other kinds (4 dnn blocks of 1024; 2 convolutions of 8 channels, kernel 8,
// stride 4; a positional encoding of 48 values up to frequency 32 in 6 layers) are filled in for
// when Kind is changed.
func DefaultConfig() Config {
	return Config{
		Kind: KindSimple, Heads: HeadsLinear, Hidden: 1024, Blocks: 4,
		LR: 1e-4, WeightDecay: 1e-2, Epochs: 30, BatchSize: 64,
		StepEvery: 10, StepGamma: 0.75, Seed: 1, ValFraction: 0.1, Patience: 5,
		ConvLayers: 2, ConvChannels: 8, ConvKernel: 8, ConvStride: 4,
		PosDim: 48, PosFreq: 32, PosLayers: 6,
	}
}

// Presets returns the named configurations of the thesis zoo, on the thesis's training defaults.
// The model store records a model trained from one as kind "nn-" + its name.
func Presets() map[string]Config {
	d := DefaultConfig()
	with := func(edit func(c *Config)) Config {
		c := d
		edit(&c)
		return c
	}
	return map[string]Config{
		"simple":   d,
		"dnn":      with(func(c *Config) { c.Kind = KindDNN }),
		"dropout":  with(func(c *Config) { c.Kind, c.Dropout = KindDNN, 0.2 }),
		"residual": with(func(c *Config) { c.Kind, c.Residual = KindDNN, true }),
		"roi":      with(func(c *Config) { c.Kind, c.Heads = KindROI, HeadsROI }),
		"conv1d":   with(func(c *Config) { c.Kind = KindConv1D }),
		// The pos network runs once per image and vertex: a narrower width and smaller batches.
		"pos": with(func(c *Config) { c.Kind, c.Hidden, c.BatchSize = KindPos, 64, 16 }),
		// A combination: the residual dnn trunk with dropout, under ROI heads.
		"comb": with(func(c *Config) { c.Kind, c.Residual, c.Dropout, c.Heads = KindDNN, true, 0.1, HeadsROI }),
		// Every subject at once: the dnn trunk shared, a linear head per subject.
		"all": with(func(c *Config) { c.Kind, c.Joint = KindDNN, true }),
	}
}

// Limits on the dnn architecture, far above any useful model, that keep a corrupt configuration
// from allocating without bound.
const (
	maxHidden = 1 << 16
	maxBlocks = 64
)

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch c.Kind {
	case KindSimple, KindROI:
	case KindDNN:
		if c.Hidden < 1 || c.Blocks < 1 || c.Hidden > maxHidden || c.Blocks > maxBlocks {
			return fmt.Errorf("nn: config: dnn needs hidden in [1, %d] and blocks in [1, %d], got hidden %d, blocks %d",
				maxHidden, maxBlocks, c.Hidden, c.Blocks)
		}
	case KindConv1D:
		if c.ConvInChannels < 0 || c.ConvInChannels > maxHidden {
			return fmt.Errorf("nn: config: conv_in_channels %d outside [0, %d]", c.ConvInChannels, maxHidden)
		}
		if c.ConvLayers < 1 || c.ConvLayers > maxBlocks || c.ConvChannels < 1 || c.ConvChannels > maxHidden ||
			c.ConvKernel < 1 || c.ConvKernel > maxHidden || c.ConvStride < 1 || c.ConvStride > maxHidden {
			return fmt.Errorf("nn: config: conv1d needs conv_layers in [1, %d] and conv_channels, conv_kernel, conv_stride in [1, %d], got %d, %d, %d, %d",
				maxBlocks, maxHidden, c.ConvLayers, c.ConvChannels, c.ConvKernel, c.ConvStride)
		}
	case KindPos:
		if c.Hidden < 1 || c.Hidden > maxHidden || c.PosLayers < 2 || c.PosLayers > maxBlocks ||
			c.PosDim < 6 || c.PosDim%6 != 0 || c.PosDim > maxHidden || !(c.PosFreq >= 1) || math.IsInf(c.PosFreq, 0) {
			return fmt.Errorf("nn: config: pos needs hidden in [1, %d], pos_layers in [2, %d], pos_dim a positive multiple of 6 up to %d and pos_freq ≥ 1, got %d, %d, %d, %g",
				maxHidden, maxBlocks, maxHidden, c.Hidden, c.PosLayers, c.PosDim, c.PosFreq)
		}
	default:
		return fmt.Errorf("nn: config: unknown kind %q (want one of %v)", c.Kind, Kinds())
	}
	switch c.Heads {
	case "", HeadsLinear:
	case HeadsROI:
		if c.Kind == KindPos {
			return errors.New("nn: config: the pos kind has one output per vertex, not heads: want heads \"linear\"")
		}
	default:
		return fmt.Errorf("nn: config: heads %q, want %q or %q", c.Heads, HeadsLinear, HeadsROI)
	}
	switch {
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("nn: config: dropout %g outside [0, 1)", c.Dropout)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("nn: config: lr %g must be positive and finite", c.LR)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("nn: config: weight_decay %g must be ≥ 0 and finite", c.WeightDecay)
	case c.Epochs < 1:
		return fmt.Errorf("nn: config: epochs %d < 1", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("nn: config: batch_size %d < 1", c.BatchSize)
	case c.StepEvery < 0 || (c.StepEvery > 0 && !(c.StepGamma > 0 && c.StepGamma <= 1)):
		return fmt.Errorf("nn: config: step_every %d, step_gamma %g: want step_every ≥ 0 and gamma in (0, 1]", c.StepEvery, c.StepGamma)
	case !(c.ValFraction >= 0 && c.ValFraction < 1):
		return fmt.Errorf("nn: config: val_fraction %g outside [0, 1)", c.ValFraction)
	case c.Patience < 0:
		return fmt.Errorf("nn: config: patience %d < 0", c.Patience)
	}
	return nil
}

// roiHeads reports whether the model has one head per ROI.
func (c Config) roiHeads() bool { return c.Kind == KindROI || c.Heads == HeadsROI }

// param is one named array of the model: trainable weights or batch-norm running statistics.
type param struct {
	Name  string
	Shape []int
	Data  []float32
}

func (p *param) clone() *param {
	return &param{Name: p.Name, Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Data)}
}

// Model is a trained network. Its arrays are plain Go slices; Predict runs it on a backend.
type Model struct {
	Config Config
	P, V   int // features, vertices

	// Params holds the trainable arrays, in the order the graph uses them; Stats holds the
	// batch-norm running means and variances (dnn only).
	Params []*param
	Stats  []*param

	// Groups lists, for the roi kind, the vertices of each head in ascending order; the heads'
	// outputs concatenated in this order are permuted back to vertex order by Predict.
	Groups [][]int
	// GroupLabels is the ROI label of each head (0 for the rest).
	GroupLabels []int32
	// Coords holds, for the pos kind, each vertex's 3-D coordinate (V×3, row-major).
	Coords []float32

	headStart int       // index in Params of the head's first array
	posEnc    []float32 // pos: the positional encoding of every vertex, V×PosDim

	// TrainLoss and ValLoss are the mean squared errors per epoch run (ValLoss is empty without a
	// validation split); BestEpoch is the 1-based epoch whose weights were kept (for roi, the last
	// epoch at which any head improved).
	TrainLoss, ValLoss []float64
	BestEpoch          int

	exec *executor
}

// roiGroups splits the vertices by label: one group per distinct non-zero label in ascending
// order, then the label-0 "rest" group when it is not empty.
func roiGroups(labels []int32) ([][]int, []int32) {
	byLabel := map[int32][]int{}
	for i, l := range labels {
		byLabel[l] = append(byLabel[l], i)
	}
	keys := make([]int32, 0, len(byLabel))
	for k := range byLabel {
		if k != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, ok := byLabel[0]; ok {
		keys = append(keys, 0)
	}
	groups := make([][]int, len(keys))
	for i, k := range keys {
		groups[i] = byLabel[k]
	}
	return groups, keys
}

// linear adds a PyTorch-initialised linear layer (weights and bias uniform in ±1/√in); with a nil
// rng only the names and shapes (for Load, which reads the arrays).
func linear(name string, in, out int, rng *rand.Rand) []*param {
	if rng == nil {
		return []*param{{Name: name + "_w", Shape: []int{in, out}}, {Name: name + "_b", Shape: []int{out}}}
	}
	bound := 1 / math.Sqrt(float64(in))
	w := make([]float32, in*out)
	for i := range w {
		w[i] = float32((2*rng.Float64() - 1) * bound)
	}
	b := make([]float32, out)
	for i := range b {
		b[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return []*param{{Name: name + "_w", Shape: []int{in, out}, Data: w}, {Name: name + "_b", Shape: []int{out}, Data: b}}
}

func filled(name string, n int, v float32, rng *rand.Rand) *param {
	if rng == nil {
		return &param{Name: name, Shape: []int{n}}
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = v
	}
	return &param{Name: name, Shape: []int{n}, Data: d}
}

// newModel initialises the arrays of cfg's architecture (with a nil rng: names and shapes only).
// labels (length v) are needed for ROI heads, coords (v×3) by the pos kind.
func newModel(cfg Config, p, v int, labels []int32, coords []float32, rng *rand.Rand) (*Model, error) {
	m := &Model{Config: cfg, P: p, V: v}
	in := p // width of the trunk's output
	switch cfg.Kind {
	case KindDNN:
		for b := 0; b < cfg.Blocks; b++ {
			name := fmt.Sprintf("block%d", b)
			m.Params = append(m.Params, linear(name, in, cfg.Hidden, rng)...)
			m.Params = append(m.Params, filled(name+"_gamma", cfg.Hidden, 1, rng), filled(name+"_beta", cfg.Hidden, 0, rng))
			m.Stats = append(m.Stats, filled(name+"_mean", cfg.Hidden, 0, rng), filled(name+"_var", cfg.Hidden, 1, rng))
			in = cfg.Hidden
		}
	case KindConv1D:
		channels := max(cfg.ConvInChannels, 1)
		if p%channels != 0 {
			return nil, fmt.Errorf("nn: conv1d: %d features do not split into tokens of %d channels", p, channels)
		}
		tokens := p / channels
		for l := 0; l < cfg.ConvLayers; l++ {
			out := convTokens(tokens, cfg.ConvKernel, cfg.ConvStride)
			if out < 1 {
				return nil, fmt.Errorf("nn: conv1d: layer %d gets %d tokens, fewer than the kernel %d: use fewer layers or a smaller kernel",
					l+1, tokens, cfg.ConvKernel)
			}
			// The kernel as a (kernel·in channels)×out channels matrix: the im2col form.
			m.Params = append(m.Params, linear(fmt.Sprintf("conv%d", l), cfg.ConvKernel*channels, cfg.ConvChannels, rng)...)
			tokens, channels = out, cfg.ConvChannels
		}
		in = tokens * channels
	case KindPos:
		if len(coords) != 3*v {
			return nil, fmt.Errorf("nn: pos model: %d coordinates for %d vertices, want 3 per vertex", len(coords), v)
		}
		m.Coords = coords
		m.posEnc = positionalEncoding(coords, cfg.PosDim, cfg.PosFreq)
		h := cfg.Hidden
		// The first layer on [features, encoding]: its features part with the bias, its encoding part without.
		m.Params = append(m.Params, linear("pos_in", p, h, rng)...)
		m.Params = append(m.Params, linear("pos_enc", cfg.PosDim, h, rng)[0])
		for l := 1; l < cfg.PosLayers-1; l++ {
			m.Params = append(m.Params, linear(fmt.Sprintf("pos_hidden%d", l), h, h, rng)...)
		}
		m.Params = append(m.Params, linear("pos_out", h, 1, rng)...)
		m.headStart = len(m.Params)
		return m, nil
	}
	m.headStart = len(m.Params)
	if !cfg.roiHeads() {
		m.Params = append(m.Params, linear("out", in, v, rng)...)
		return m, nil
	}
	if len(labels) != v {
		return nil, fmt.Errorf("nn: ROI heads: %d ROI labels for %d vertices", len(labels), v)
	}
	m.Groups, m.GroupLabels = roiGroups(labels)
	for g, idx := range m.Groups {
		m.Params = append(m.Params, linear(fmt.Sprintf("roi%d", m.GroupLabels[g]), in, len(idx), rng)...)
	}
	return m, nil
}

// convTokens is the number of outputs of a convolution without padding.
func convTokens(tokens, kernel, stride int) int {
	if tokens < kernel {
		return 0
	}
	return (tokens-kernel)/stride + 1
}

// positionalEncoding returns the v×dim sinusoidal encoding of v 3-D points (row-major v×3): the
// points are centred on their bounding box and scaled so that the longest half extent is 1, then
// each coordinate c gives sin(π f c) and cos(π f c) for dim/6 frequencies f log-spaced from 1 to
// maxFreq.
func positionalEncoding(coords []float32, dim int, maxFreq float64) []float32 {
	v := len(coords) / 3
	var lo, hi [3]float64
	for a := range 3 {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for i := 0; i < v; i++ {
		for a := range 3 {
			c := float64(coords[3*i+a])
			lo[a], hi[a] = min(lo[a], c), max(hi[a], c)
		}
	}
	half := 0.0
	for a := range 3 {
		half = max(half, (hi[a]-lo[a])/2)
	}
	if half == 0 {
		half = 1
	}
	nf := dim / 6
	freqs := make([]float64, nf)
	for k := range freqs {
		freqs[k] = 1
		if nf > 1 {
			freqs[k] = math.Pow(maxFreq, float64(k)/float64(nf-1))
		}
	}
	out := make([]float32, v*dim)
	for i := 0; i < v; i++ {
		row := out[i*dim : (i+1)*dim]
		j := 0
		for a := range 3 {
			c := (float64(coords[3*i+a]) - (lo[a]+hi[a])/2) / half
			for _, f := range freqs {
				s, co := math.Sincos(math.Pi * f * c)
				row[j], row[j+1] = float32(s), float32(co)
				j += 2
			}
		}
	}
	return out
}

// checkData validates the shapes of a training set.
func checkData(x []float32, n, p int, y []float32, v int) error {
	switch {
	case n < 1 || p < 1 || v < 1:
		return fmt.Errorf("nn: data shape n=%d, p=%d, v=%d: each must be ≥ 1", n, p, v)
	case len(x) != n*p:
		return fmt.Errorf("nn: x has %d values, want n×p = %d×%d", len(x), n, p)
	case len(y) != n*v:
		return fmt.Errorf("nn: y has %d values, want n×v = %d×%d", len(y), n, v)
	}
	return nil
}

var errEmpty = errors.New("nn: no training rows left after the validation split")
