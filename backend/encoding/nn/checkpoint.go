package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"cortexcast/backend/encoding"
	"cortexcast/backend/npy"
)

// state is everything a training run carries from one epoch to the next.
type state struct {
	m        *Model
	epoch    int // epochs done
	step     int // optimiser steps done
	m1, m2   []*param
	best     snap
	bestLoss float64   // best validation loss (not roi); math.MaxFloat64 before any
	headBest []float64 // roi: best validation loss of each head
	stale    int       // epochs since the last improvement
	trainIdx []int     // the training rows in their current (cumulatively shuffled) order
	rngState []byte
}

func newState(m *Model, trainIdx []int) *state {
	st := &state{m: m, best: snapshot(m), bestLoss: math.MaxFloat64, trainIdx: slices.Clone(trainIdx)}
	for _, q := range m.Params {
		st.m1 = append(st.m1, &param{Name: q.Name, Shape: q.Shape, Data: make([]float32, len(q.Data))})
		st.m2 = append(st.m2, &param{Name: q.Name, Shape: q.Shape, Data: make([]float32, len(q.Data))})
	}
	if m.perHeadBest() {
		st.headBest = make([]float64, len(m.Groups))
		for i := range st.headBest {
			st.headBest[i] = math.MaxFloat64
		}
	}
	return st
}

// ErrOtherRun is the error of a checkpoint directory holding another configuration's or
// another data shape's training.
var ErrOtherRun = errors.New("nn: the checkpoint is of another run")

// checkpointFile is the JSON part of a checkpoint; the arrays are .npy files beside it.
type checkpointFile struct {
	Config    Config    `json:"config"`
	N         int       `json:"n"`
	P         int       `json:"p"`
	V         int       `json:"v"`
	Epoch     int       `json:"epoch"`
	Step      int       `json:"step"`
	BestLoss  float64   `json:"best_loss"`
	HeadBest  []float64 `json:"head_best,omitempty"`
	Stale     int       `json:"stale"`
	BestEpoch int       `json:"best_epoch"`
	TrainLoss []float64 `json:"train_loss"`
	ValLoss   []float64 `json:"val_loss"`
	RNG       []byte    `json:"rng"`
	Params    []string  `json:"params"`
	Stats     []string  `json:"stats"`
}

const checkpointName = "checkpoint.json"

// arrays lists the checkpoint's arrays with their file names.
func (st *state) arrays() map[string]*param {
	a := map[string]*param{}
	for i := range st.m.Params {
		a[fmt.Sprintf("param%02d.npy", i)] = st.m.Params[i]
		a[fmt.Sprintf("adam_m%02d.npy", i)] = st.m1[i]
		a[fmt.Sprintf("adam_v%02d.npy", i)] = st.m2[i]
		a[fmt.Sprintf("best_param%02d.npy", i)] = st.best.Params[i]
	}
	for i := range st.m.Stats {
		a[fmt.Sprintf("stat%02d.npy", i)] = st.m.Stats[i]
		a[fmt.Sprintf("best_stat%02d.npy", i)] = st.best.Stats[i]
	}
	return a
}

// save writes the state to a fresh sibling directory and swaps it in for dir.
func (st *state) save(dir string, n int) error {
	m := st.m
	cf := checkpointFile{Config: m.Config, N: n, P: m.P, V: m.V, Epoch: st.epoch, Step: st.step,
		BestLoss: st.bestLoss, HeadBest: st.headBest, Stale: st.stale, BestEpoch: m.BestEpoch,
		TrainLoss: m.TrainLoss, ValLoss: m.ValLoss, RNG: st.rngState}
	for _, q := range m.Params {
		cf.Params = append(cf.Params, q.Name)
	}
	for _, q := range m.Stats {
		cf.Stats = append(cf.Stats, q.Name)
	}
	idx := make([]int64, len(st.trainIdx))
	for i, r := range st.trainIdx {
		idx[i] = int64(r)
	}
	return encoding.WriteDir(dir, func(tmp string) error {
		for name, q := range st.arrays() {
			if err := npy.WriteFloat32(filepath.Join(tmp, name), q.Data, q.Shape); err != nil {
				return err
			}
		}
		if err := npy.WriteInt64(filepath.Join(tmp, "train_rows.npy"), idx, []int{len(idx)}); err != nil {
			return err
		}
		return writeJSON(filepath.Join(tmp, checkpointName), cf)
	})
}

// load reads the checkpoint in dir into st when there is one; it reports whether it did. A
// checkpoint of another configuration or data shape is an error, not silently replaced.
func (st *state) load(dir string, n int) (bool, error) {
	body, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nn: read checkpoint: %w", err)
	}
	var cf checkpointFile
	if err := json.Unmarshal(body, &cf); err != nil {
		return false, fmt.Errorf("nn: checkpoint %s: %w", dir, err)
	}
	m := st.m
	want, got := m.Config, cf.Config
	want.Epochs, got.Epochs = 0, 0
	if want != got || cf.N != n || cf.P != m.P || cf.V != m.V {
		return false, fmt.Errorf("%w: %s (config %+v on %d×%d → %d; this run: %+v on %d×%d → %d): remove it or use another directory",
			ErrOtherRun, dir, cf.Config, cf.N, cf.P, cf.V, m.Config, n, m.P, m.V)
	}
	if len(cf.Params) != len(m.Params) || len(cf.Stats) != len(m.Stats) || len(cf.HeadBest) != len(st.headBest) {
		return false, fmt.Errorf("nn: checkpoint %s: %d params, %d stats, %d heads; want %d, %d, %d",
			dir, len(cf.Params), len(cf.Stats), len(cf.HeadBest), len(m.Params), len(m.Stats), len(st.headBest))
	}
	for name, q := range st.arrays() {
		data, shape, err := npy.ReadFloat32(filepath.Join(dir, name))
		if err != nil {
			return false, fmt.Errorf("nn: checkpoint: %w", err)
		}
		if !slices.Equal(shape, q.Shape) {
			return false, fmt.Errorf("nn: checkpoint %s: %s has shape %v, want %v", dir, name, shape, q.Shape)
		}
		copy(q.Data, data)
	}
	idx, shape, err := npy.ReadInt64(filepath.Join(dir, "train_rows.npy"))
	if err != nil {
		return false, fmt.Errorf("nn: checkpoint: %w", err)
	}
	if !slices.Equal(shape, []int{len(st.trainIdx)}) {
		return false, fmt.Errorf("nn: checkpoint %s: train_rows.npy has shape %v, want [%d]", dir, shape, len(st.trainIdx))
	}
	seen := make([]bool, n)
	for _, r := range st.trainIdx {
		seen[r] = true
	}
	for i, r := range idx {
		if r < 0 || r >= int64(n) || !seen[r] {
			return false, fmt.Errorf("nn: checkpoint %s: train_rows.npy[%d] = %d is not a training row", dir, i, r)
		}
		st.trainIdx[i] = int(r)
	}
	st.epoch, st.step, st.bestLoss, st.stale, st.rngState = cf.Epoch, cf.Step, cf.BestLoss, cf.Stale, cf.RNG
	copy(st.headBest, cf.HeadBest)
	m.BestEpoch, m.TrainLoss, m.ValLoss = cf.BestEpoch, cf.TrainLoss, cf.ValLoss
	return true, nil
}

func writeJSON(path string, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("nn: encode %s: %w", path, err)
	}
	return npy.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(append(body, '\n'))
		return err
	})
}

// modelFile is the JSON part of a saved model; the arrays are .npy files beside it.
type modelFile struct {
	Format    string    `json:"format"`
	Config    Config    `json:"config"`
	P         int       `json:"p"`
	V         int       `json:"v"`
	BestEpoch int       `json:"best_epoch"`
	TrainLoss []float64 `json:"train_loss"`
	ValLoss   []float64 `json:"val_loss"`
	Params    []string  `json:"params"` // names, in graph order; files param00.npy…
	Stats     []string  `json:"stats"`  // names; files stat00.npy…
}

const (
	modelName   = "nn.json"
	modelFormat = "cortexcast-nn-1"
	labelsName  = "roi_labels.npy"
	coordsName  = "vertex_coords.npy"
)

// Save writes the model to dir atomically (the directory is built beside it and renamed into
// place): nn.json (configuration, shapes, loss history) and one .npy per array, plus the
// per-vertex ROI labels of a model with ROI heads and the vertex coordinates of a pos model.
func (m *Model) Save(dir string) error {
	mf := modelFile{Format: modelFormat, Config: m.Config, P: m.P, V: m.V, BestEpoch: m.BestEpoch,
		TrainLoss: m.TrainLoss, ValLoss: m.ValLoss}
	for _, q := range m.Params {
		mf.Params = append(mf.Params, q.Name)
	}
	for _, q := range m.Stats {
		mf.Stats = append(mf.Stats, q.Name)
	}
	return encoding.WriteDir(dir, func(tmp string) error {
		for i, q := range m.Params {
			if err := npy.WriteFloat32(filepath.Join(tmp, fmt.Sprintf("param%02d.npy", i)), q.Data, q.Shape); err != nil {
				return err
			}
		}
		for i, q := range m.Stats {
			if err := npy.WriteFloat32(filepath.Join(tmp, fmt.Sprintf("stat%02d.npy", i)), q.Data, q.Shape); err != nil {
				return err
			}
		}
		if m.Config.Kind == KindPos {
			if err := npy.WriteFloat32(filepath.Join(tmp, coordsName), m.Coords, []int{m.V, 3}); err != nil {
				return err
			}
		}
		if m.Groups != nil {
			labels := make([]int64, m.V)
			for g, idx := range m.Groups {
				for _, c := range idx {
					labels[c] = int64(m.GroupLabels[g])
				}
			}
			if err := npy.WriteInt64(filepath.Join(tmp, labelsName), labels, []int{m.V}); err != nil {
				return err
			}
		}
		return writeJSON(filepath.Join(tmp, modelName), mf)
	})
}

// Load reads a model written by Save. Call Attach before Predict.
func Load(dir string) (*Model, error) {
	body, err := os.ReadFile(filepath.Join(dir, modelName))
	if err != nil {
		return nil, fmt.Errorf("nn: load model: %w", err)
	}
	var mf modelFile
	if err := json.Unmarshal(body, &mf); err != nil {
		return nil, fmt.Errorf("nn: load model %s: %w", dir, err)
	}
	if mf.Format != modelFormat {
		return nil, fmt.Errorf("nn: load model %s: format %q, want %q", dir, mf.Format, modelFormat)
	}
	if err := mf.Config.Validate(); err != nil {
		return nil, fmt.Errorf("nn: load model %s: %w", dir, err)
	}
	if mf.P < 1 || mf.V < 1 {
		return nil, fmt.Errorf("nn: load model %s: p=%d, v=%d: each must be ≥ 1", dir, mf.P, mf.V)
	}
	var labels []int32
	var coords []float32
	if mf.Config.Kind == KindPos {
		c, shape, err := npy.ReadFloat32(filepath.Join(dir, coordsName))
		if err != nil {
			return nil, fmt.Errorf("nn: load model: %w", err)
		}
		if !slices.Equal(shape, []int{mf.V, 3}) {
			return nil, fmt.Errorf("nn: load model %s: %s has shape %v, want [%d 3]", dir, coordsName, shape, mf.V)
		}
		coords = c
	}
	if mf.Config.roiHeads() {
		l, shape, err := npy.ReadInt64(filepath.Join(dir, labelsName))
		if err != nil {
			return nil, fmt.Errorf("nn: load model: %w", err)
		}
		if !slices.Equal(shape, []int{mf.V}) {
			return nil, fmt.Errorf("nn: load model %s: %s has shape %v, want [%d]", dir, labelsName, shape, mf.V)
		}
		labels = make([]int32, len(l))
		for i, x := range l {
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, fmt.Errorf("nn: load model %s: %s[%d] = %d outside int32", dir, labelsName, i, x)
			}
			labels[i] = int32(x)
		}
	}
	// Build the architecture (its shapes and names), then fill it from the files.
	m, err := newModel(mf.Config, mf.P, mf.V, labels, coords, nil)
	if err != nil {
		return nil, fmt.Errorf("nn: load model %s: %w", dir, err)
	}
	if len(mf.Params) != len(m.Params) || len(mf.Stats) != len(m.Stats) {
		return nil, fmt.Errorf("nn: load model %s: %d params and %d stats, the configuration has %d and %d",
			dir, len(mf.Params), len(mf.Stats), len(m.Params), len(m.Stats))
	}
	fill := func(name string, q *param) error {
		data, shape, err := npy.ReadFloat32(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("nn: load model: %w", err)
		}
		if !slices.Equal(shape, q.Shape) {
			return fmt.Errorf("nn: load model %s: %s (%s) has shape %v, want %v", dir, name, q.Name, shape, q.Shape)
		}
		q.Data = data
		return nil
	}
	for i, q := range m.Params {
		if err := fill(fmt.Sprintf("param%02d.npy", i), q); err != nil {
			return nil, err
		}
	}
	for i, q := range m.Stats {
		if err := fill(fmt.Sprintf("stat%02d.npy", i), q); err != nil {
			return nil, err
		}
	}
	m.BestEpoch, m.TrainLoss, m.ValLoss = mf.BestEpoch, mf.TrainLoss, mf.ValLoss
	return m, nil
}
