package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

// seedStream is the PCG stream constant mixed with Config.Seed.
const seedStream = 0x9e3779b97f4a7c15

// gatherRows copies the rows idx of the n×w matrix src into a len(idx)×w matrix.
func gatherRows(dst, src []float32, w int, idx []int) []float32 {
	dst = dst[:0]
	for _, r := range idx {
		dst = append(dst, src[r*w:(r+1)*w]...)
	}
	return dst
}

// permuteColumns returns the n×v matrix y with its columns in the order of groups concatenated.
func permuteColumns(y []float32, n, v int, groups [][]int) []float32 {
	out := make([]float32, 0, n*v)
	for r := 0; r < n; r++ {
		row := y[r*v : (r+1)*v]
		for _, g := range groups {
			for _, c := range g {
				out = append(out, row[c])
			}
		}
	}
	return out
}

// Data is a training set: row-major n×p features and n×v responses, with what some
// architectures need beside them.
type Data struct {
	X    []float32
	N, P int
	Y    []float32
	V    int
	// ROILabels gives each vertex's ROI (0 for none); needed with ROI heads (length V).
	ROILabels []int32
	// Coords gives each vertex's 3-D position (V×3, row-major); needed by the pos kind.
	Coords []float32
	// XVal (NVal×P) and YVal (NVal×V), when NVal > 0, are the validation set: every row of X
	// trains and Config.ValFraction is not used.
	XVal, YVal []float32
	NVal       int
}

// Options are the optional parts of a training run.
type Options struct {
	// Progress, when set, is called after every epoch with the 1-based epoch and its mean
	// training and validation losses (NaN without a validation split).
	Progress func(epoch int, trainLoss, valLoss float64)
	// CheckpointDir, when set, receives the whole training state after every epoch; a run
	// finding a checkpoint of the same configuration and data shape there resumes from it (see
	// TrainCheckpointed).
	CheckpointDir string
}

// Train fits the model cfg describes to the n×p features x and n×v responses y (row-major) on
// backend. roiLabels (length v; needed with ROI heads only) gives each vertex's ROI, 0 for none.
// progress, when set, is called after every epoch with the 1-based epoch and its mean training
// and validation losses (NaN without a validation split). Train stops early when ctx is done, with
// ctx's error.
func Train(ctx context.Context, backend compute.Backend, cfg Config, x []float32, n, p int, y []float32, v int,
	roiLabels []int32, progress func(epoch int, trainLoss, valLoss float64)) (*Model, error) {
	return Fit(ctx, backend, cfg, Data{X: x, N: n, P: p, Y: y, V: v, ROILabels: roiLabels}, Options{Progress: progress})
}

// TrainCheckpointed is Train with a checkpoint directory: after every epoch the whole training
// state (weights, optimiser moments, the kept best weights, the random generator, the batch
// order, the loss history) is written there atomically, and when the directory already holds a
// checkpoint of the same configuration (Epochs may differ) and data shape, training resumes from
// it. A resumed run ends with exactly the model an uninterrupted one would have. dir "" means no
// checkpoints.
func TrainCheckpointed(ctx context.Context, backend compute.Backend, cfg Config, x []float32, n, p int, y []float32, v int,
	roiLabels []int32, progress func(epoch int, trainLoss, valLoss float64), dir string) (*Model, error) {
	return Fit(ctx, backend, cfg, Data{X: x, N: n, P: p, Y: y, V: v, ROILabels: roiLabels}, Options{Progress: progress, CheckpointDir: dir})
}

// Fit is Train and TrainCheckpointed on a Data, for every kind (pos needs Data.Coords).
func Fit(ctx context.Context, backend compute.Backend, cfg Config, d Data, opt Options) (*Model, error) {
	x, n, p, y, v := d.X, d.N, d.P, d.Y, d.V
	roiLabels, coords, progress, dir := d.ROILabels, d.Coords, opt.Progress, opt.CheckpointDir
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Joint {
		return nil, errors.New("nn: a joint configuration trains several subjects: use FitJoint")
	}
	if err := checkData(x, n, p, y, v); err != nil {
		return nil, err
	}
	pcg := rand.NewPCG(uint64(cfg.Seed), seedStream)
	rng := rand.New(pcg)
	m, err := newModel(cfg, p, v, roiLabels, coords, rng)
	if err != nil {
		return nil, err
	}
	sp, err := splitRows(cfg, m, d, rng)
	if err != nil {
		return nil, err
	}
	y, xVal, yVal, nVal, trainRows := sp.y, sp.xVal, sp.yVal, sp.nVal, sp.trainRows

	st := newState(m, trainRows)
	if dir != "" {
		resumed, err := st.load(dir, n)
		if err != nil {
			return nil, err
		}
		if resumed {
			if err := pcg.UnmarshalBinary(st.rngState); err != nil {
				return nil, fmt.Errorf("nn: checkpoint %s: random state: %w", dir, err)
			}
		}
	}
	if err := m.build(backend); err != nil {
		return nil, err
	}
	var xb, yb []float32
	for epoch := st.epoch; epoch < cfg.Epochs; epoch++ {
		if cfg.Patience > 0 && st.stale >= cfg.Patience {
			break // early stop (also when resuming a run that had stopped)
		}
		lr := cfg.LR
		if cfg.StepEvery > 0 {
			lr *= math.Pow(cfg.StepGamma, float64(epoch/cfg.StepEvery))
		}
		trainIdx := st.trainIdx
		rng.Shuffle(len(trainIdx), func(i, j int) { trainIdx[i], trainIdx[j] = trainIdx[j], trainIdx[i] })
		var sum float64
		dev := m.upload(st.m1, st.m2)
		for start := 0; start < len(trainIdx); start += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				finalizeTensors(dev)
				return nil, fmt.Errorf("nn: training stopped at epoch %d: %w", epoch+1, err)
			}
			idx := trainIdx[start:min(start+cfg.BatchSize, len(trainIdx))]
			xb = gatherRows(xb, x, p, idx)
			yb = gatherRows(yb, y, v, idx)
			st.step++
			loss, err := m.step(dev, xb, yb, len(idx), lr, st.step, rng)
			if err != nil {
				finalizeTensors(dev)
				return nil, fmt.Errorf("nn: epoch %d step %d: %w", epoch+1, st.step, err)
			}
			sum += loss * float64(len(idx))
		}
		if err := m.download(dev, st.m1, st.m2); err != nil {
			finalizeTensors(dev)
			return nil, err
		}
		trainLoss := sum / float64(len(trainIdx))
		m.TrainLoss = append(m.TrainLoss, trainLoss)
		valLoss := math.NaN()
		improved := true
		if nVal > 0 {
			pred, err := m.predictGrouped(xVal, nVal)
			if err != nil {
				return nil, fmt.Errorf("nn: epoch %d validation: %w", epoch+1, err)
			}
			valLoss = meanSquared(pred, yVal, 0, v, v)
			m.ValLoss = append(m.ValLoss, valLoss)
			improved = false
			if m.perHeadBest() {
				off := 0
				for g, idx := range m.Groups {
					hl := meanSquared(pred, yVal, off, off+len(idx), v)
					if hl < st.headBest[g] {
						st.headBest[g] = hl
						improved = true
						for _, k := range []int{m.headStart + 2*g, m.headStart + 2*g + 1} {
							copy(st.best.Params[k].Data, m.Params[k].Data)
						}
					}
					off += len(idx)
				}
			} else if valLoss < st.bestLoss {
				st.bestLoss = valLoss
				improved = true
				st.best = snapshot(m)
			}
		} else {
			st.best = snapshot(m)
		}
		if improved {
			m.BestEpoch = epoch + 1
			st.stale = 0
		} else {
			st.stale++
		}
		st.epoch = epoch + 1
		if dir != "" {
			if st.rngState, err = pcg.MarshalBinary(); err != nil {
				return nil, fmt.Errorf("nn: checkpoint: random state: %w", err)
			}
			if err := st.save(dir, n); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(epoch+1, trainLoss, valLoss)
		}
	}
	m.Params, m.Stats = st.best.Params, st.best.Stats
	return m, nil
}

// split is a training set divided for training: the responses in the model's column order, the
// validation rows and the training rows' indices.
type split struct {
	y, xVal, yVal []float32
	nVal          int
	trainRows     []int
}

// splitRows holds out the validation rows: d's own validation set when it has one, else the last
// ValFraction of a permutation drawn from rng (drawn in both cases, so the random stream does
// not depend on it).
func splitRows(cfg Config, m *Model, d Data, rng *rand.Rand) (split, error) {
	x, n, p, y, v := d.X, d.N, d.P, d.Y, d.V
	if m.Groups != nil {
		y = permuteColumns(y, n, v, m.Groups)
	}
	perm := rng.Perm(n)
	nVal := int(math.Round(cfg.ValFraction * float64(n)))
	if cfg.ValFraction > 0 && nVal == 0 {
		nVal = 1
	}
	if d.NVal > 0 {
		nVal = 0 // every row trains; the given rows validate
	}
	if n-nVal == 0 {
		return split{}, fmt.Errorf("%w: n=%d, val_fraction %g", errEmpty, n, cfg.ValFraction)
	}
	sp := split{y: y, xVal: gatherRows(nil, x, p, perm[n-nVal:]), yVal: gatherRows(nil, y, v, perm[n-nVal:]),
		nVal: nVal, trainRows: perm[:n-nVal]}
	if d.NVal > 0 {
		if len(d.XVal) != d.NVal*p || len(d.YVal) != d.NVal*v {
			return split{}, fmt.Errorf("nn: validation set: %d and %d values for %d rows, want %d×%d and %d×%d",
				len(d.XVal), len(d.YVal), d.NVal, d.NVal, p, d.NVal, v)
		}
		sp.xVal, sp.yVal, sp.nVal = d.XVal, d.YVal, d.NVal
		if m.Groups != nil {
			sp.yVal = permuteColumns(sp.yVal, d.NVal, v, m.Groups)
		}
	}
	return sp, nil
}

// perHeadBest reports whether each ROI head keeps its own best epoch: only without a trunk, where
// the heads are independent.
func (m *Model) perHeadBest() bool { return m.Groups != nil && m.headStart == 0 }

// snapshot is a deep copy of a model's arrays.
type snap struct{ Params, Stats []*param }

func snapshot(m *Model) snap {
	s := snap{Params: make([]*param, len(m.Params)), Stats: make([]*param, len(m.Stats))}
	for i, q := range m.Params {
		s.Params[i] = q.clone()
	}
	for i, q := range m.Stats {
		s.Stats[i] = q.clone()
	}
	return s
}

// meanSquared is the mean squared difference of columns [c0, c1) of two row-major matrices of
// width w.
func meanSquared(a, b []float32, c0, c1, w int) float64 {
	var s float64
	rows := len(a) / w
	for r := 0; r < rows; r++ {
		for c := c0; c < c1; c++ {
			d := float64(a[r*w+c]) - float64(b[r*w+c])
			s += d * d
		}
	}
	return s / float64(rows*(c1-c0))
}

// upload copies the model's arrays and the optimiser moments to backend tensors, in the order
// the training step takes and returns them: params, first moments, second moments, statistics.
func (m *Model) upload(m1, m2 []*param) []*tensors.Tensor {
	var dev []*tensors.Tensor
	for _, group := range [][]*param{m.Params, m1, m2, m.Stats} {
		for _, q := range group {
			dev = append(dev, tensorOf(q))
		}
	}
	return dev
}

// download copies the tensors of upload back into the Go arrays and frees them.
func (m *Model) download(dev []*tensors.Tensor, m1, m2 []*param) error {
	k := 0
	for _, group := range [][]*param{m.Params, m1, m2, m.Stats} {
		for _, q := range group {
			if err := readInto(q.Data, dev[k]); err != nil {
				return fmt.Errorf("nn: read %s: %w", q.Name, err)
			}
			k++
		}
	}
	return nil
}

// step runs one AdamW step on a batch of rows, replacing the tensors in dev (as made by upload)
// with their updated values, and returns the batch loss before the update. The state stays on
// the backend between steps.
func (m *Model) step(dev []*tensors.Tensor, xb, yb []float32, rows int, lr float64, t int, rng *rand.Rand) (float64, error) {
	args := make([]any, 0, 5+m.numMasks()+len(dev))
	args = append(args,
		tensorOf(&param{Shape: []int{rows, m.P}, Data: xb}),
		tensorOf(&param{Shape: []int{rows, m.V}, Data: yb}),
		scalar(lr/(1-math.Pow(adamBeta1, float64(t)))),
		scalar(lr*m.Config.WeightDecay),
		scalar(1/(1-math.Pow(adamBeta2, float64(t)))))
	if k := m.numMasks(); k > 0 {
		keep := 1 - m.Config.Dropout
		for i := 0; i < k; i++ {
			width := m.P
			if i > 0 {
				width = m.Config.Hidden
			}
			mask := make([]float32, rows*width)
			for j := range mask {
				if rng.Float64() < keep {
					mask[j] = float32(1 / keep)
				}
			}
			args = append(args, tensorOf(&param{Shape: []int{rows, width}, Data: mask}))
		}
	}
	inputs := len(args)
	for _, d := range dev {
		args = append(args, d)
	}
	out, err := m.exec.train.Call(args...)
	finalizeArgs(args[:inputs])
	if err != nil {
		return 0, err
	}
	for i, d := range dev {
		d.FinalizeAll()
		dev[i] = out[1+i]
	}
	loss, err := readScalar(out[0])
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, fmt.Errorf("loss is %g", loss)
	}
	return loss, nil
}

// predictGrouped runs the evaluation-mode network on n rows; for roi its columns are in group
// order.
func (m *Model) predictGrouped(x []float32, n int) ([]float32, error) {
	if m.exec == nil {
		return nil, fmt.Errorf("nn: model has no backend: call Attach first")
	}
	out := make([]float32, 0, n*m.V)
	chunk := predictRows
	if m.Config.Kind == KindPos {
		chunk = max(1, min(predictRows, predictValues/(m.V*m.Config.Hidden)))
	}
	for start := 0; start < n; start += chunk {
		rows := min(chunk, n-start)
		// Rows padded with zeros to a power of two: the graph is compiled once per input shape,
		// so callers predicting any number of rows (a server's micro-batches) reuse a few. The
		// evaluation-mode network treats rows independently, so the padding changes nothing.
		padded := 1
		for padded < rows {
			padded *= 2
		}
		padded = min(padded, chunk)
		xs := x[start*m.P : (start+rows)*m.P]
		if padded > rows {
			xs = append(make([]float32, 0, padded*m.P), xs...)
			xs = xs[:padded*m.P]
		}
		args := []any{tensorOf(&param{Shape: []int{padded, m.P}, Data: xs})}
		for _, group := range [][]*param{m.Params, m.Stats} {
			for _, q := range group {
				args = append(args, tensorOf(q))
			}
		}
		res, err := m.exec.predict.Call(args...)
		finalizeArgs(args)
		if err != nil {
			return nil, fmt.Errorf("nn: predict rows %d–%d: %w", start, start+rows, err)
		}
		part := make([]float32, padded*m.V)
		if err := readInto(part, res[0]); err != nil {
			return nil, err
		}
		out = append(out, part[:rows*m.V]...)
	}
	return out, nil
}

// Predict returns the model's n×v predictions for the n×p features x (row-major), vertices in
// their original order.
func (m *Model) Predict(x []float32, n int) ([]float32, error) {
	if n < 0 || len(x) != n*m.P {
		return nil, fmt.Errorf("nn: Predict: x has %d values, want n×p = %d×%d", len(x), n, m.P)
	}
	pred, err := m.predictGrouped(x, n)
	if err != nil || m.Groups == nil {
		return pred, err
	}
	out := make([]float32, len(pred))
	for r := 0; r < n; r++ {
		src := pred[r*m.V : (r+1)*m.V]
		dst := out[r*m.V : (r+1)*m.V]
		k := 0
		for _, g := range m.Groups {
			for _, c := range g {
				dst[c] = src[k]
				k++
			}
		}
	}
	return out, nil
}

// Attach compiles the model's graphs on backend, for a model loaded from disk.
func (m *Model) Attach(backend compute.Backend) error { return m.build(backend) }

// Close frees the compiled graphs.
func (m *Model) Close() {
	if m.exec != nil {
		m.exec.finalize()
		m.exec = nil
	}
}
