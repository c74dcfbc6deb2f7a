// Package nn trains the neural encoding models of the thesis zoo with gomlx: a configuration
// (Config) names the architecture and the training settings, Train fits it and returns a Model
// that predicts vertex responses from image features.
//
// The kinds are:
//
//   - "simple": one linear layer, features → vertices;
//   - "dnn": Blocks blocks of Linear + BatchNorm + LeakyReLU (optionally with dropout before each
//     linear layer and residual connections where the widths agree) then a linear head;
//   - "roi": one linear head per ROI over that ROI's vertices (vertices labelled 0 share one "rest"
//     head), each head kept at its own best validation epoch.
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
)

// Kinds returns the model kinds Train knows.
func Kinds() []string { return []string{KindSimple, KindDNN, KindROI} }

// Config names a model of the zoo and how to train it.
type Config struct {
	Kind        string  `json:"kind"`         // "simple", "dnn" or "roi"
	Hidden      int     `json:"hidden"`       // dnn: width of each block
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
}

// DefaultConfig returns the thesis defaults: a simple linear model trained with AdamW (lr 1e-4,
// weight decay 1e-2), the learning rate × 0.75 every 10 epochs, 30 epochs, MSE, a 90/10 split.
// DNN settings (4 blocks of 1024) are filled in for when Kind is changed to "dnn".
func DefaultConfig() Config {
	return Config{
		Kind: KindSimple, Hidden: 1024, Blocks: 4,
		LR: 1e-4, WeightDecay: 1e-2, Epochs: 30, BatchSize: 64,
		StepEvery: 10, StepGamma: 0.75, Seed: 1, ValFraction: 0.1, Patience: 5,
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
	default:
		return fmt.Errorf("nn: config: unknown kind %q (want one of %v)", c.Kind, Kinds())
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
func newModel(cfg Config, p, v int, labels []int32, rng *rand.Rand) (*Model, error) {
	m := &Model{Config: cfg, P: p, V: v}
	switch cfg.Kind {
	case KindSimple:
		m.Params = linear("out", p, v, rng)
	case KindDNN:
		in := p
		for b := 0; b < cfg.Blocks; b++ {
			name := fmt.Sprintf("block%d", b)
			m.Params = append(m.Params, linear(name, in, cfg.Hidden, rng)...)
			m.Params = append(m.Params, filled(name+"_gamma", cfg.Hidden, 1, rng), filled(name+"_beta", cfg.Hidden, 0, rng))
			m.Stats = append(m.Stats, filled(name+"_mean", cfg.Hidden, 0, rng), filled(name+"_var", cfg.Hidden, 1, rng))
			in = cfg.Hidden
		}
		m.Params = append(m.Params, linear("out", in, v, rng)...)
	case KindROI:
		if len(labels) != v {
			return nil, fmt.Errorf("nn: roi model: %d ROI labels for %d vertices", len(labels), v)
		}
		m.Groups, m.GroupLabels = roiGroups(labels)
		for g, idx := range m.Groups {
			m.Params = append(m.Params, linear(fmt.Sprintf("roi%d", m.GroupLabels[g]), p, len(idx), rng)...)
		}
	}
	return m, nil
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
