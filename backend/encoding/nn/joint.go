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

// FitJoint trains one model per subject of ds across all of them at once (the thesis's "All"
// models): the trunk's arrays (for pos, the whole network's) are one set shared by every
// subject's model, each model keeps its own head. Every subject needs the same features (P); the
// vertices may differ. An epoch runs every subject's batches, in a seeded random order; the
// validation loss is the mean squared error over every subject's validation values, and early
// stopping keeps every model at the best epoch. cfg.Joint must be set; opt.CheckpointDir is not
// supported. The returned models are independent (each has its own copy of the trunk).
func FitJoint(ctx context.Context, backend compute.Backend, cfg Config, ds []Data, opt Options) ([]*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case !cfg.Joint:
		return nil, errors.New("nn: FitJoint needs a configuration with joint set")
	case opt.CheckpointDir != "":
		return nil, errors.New("nn: FitJoint does not write checkpoints")
	case len(ds) == 0:
		return nil, errors.New("nn: FitJoint: no subject")
	}
	for i, d := range ds {
		if err := checkData(d.X, d.N, d.P, d.Y, d.V); err != nil {
			return nil, fmt.Errorf("subject %d: %w", i, err)
		}
		if d.P != ds[0].P {
			return nil, fmt.Errorf("nn: FitJoint: subject %d has %d features, subject 0 %d", i, d.P, ds[0].P)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), seedStream))
	ms := make([]*Model, len(ds))
	sts := make([]*state, len(ds))
	sps := make([]split, len(ds))
	for i, d := range ds {
		m, err := newModel(cfg, d.P, d.V, d.ROILabels, d.Coords, rng)
		if err != nil {
			return nil, fmt.Errorf("subject %d: %w", i, err)
		}
		if i > 0 {
			// One trunk: the arrays of the first model, shared.
			copy(m.Params[:m.headStart], ms[0].Params[:m.headStart])
			copy(m.Stats, ms[0].Stats)
		}
		if sps[i], err = splitRows(cfg, m, d, rng); err != nil {
			return nil, fmt.Errorf("subject %d: %w", i, err)
		}
		ms[i] = m
		sts[i] = newState(m, sps[i].trainRows)
		if i > 0 {
			copy(sts[i].m1[:m.headStart], sts[0].m1[:m.headStart])
			copy(sts[i].m2[:m.headStart], sts[0].m2[:m.headStart])
		}
		if err := m.build(backend); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	nt := ms[0].headStart
	type batch struct{ s, start int }
	var (
		best     = make([]snap, len(ms))
		bestLoss = math.MaxFloat64
		stale    int
		step     int
		bestEp   int
		trainL   []float64
		valL     []float64
		xb, yb   []float32
	)
	for i, m := range ms {
		best[i] = snapshot(m)
	}
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		if cfg.Patience > 0 && stale >= cfg.Patience {
			break
		}
		lr := cfg.LR
		if cfg.StepEvery > 0 {
			lr *= math.Pow(cfg.StepGamma, float64(epoch/cfg.StepEvery))
		}
		var order []batch
		for s, st := range sts {
			idx := st.trainIdx
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			for start := 0; start < len(idx); start += cfg.BatchSize {
				order = append(order, batch{s, start})
			}
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

		// The trunk's tensors (params, moments, statistics) are shared; each step's outputs
		// replace them for the next subject's step.
		devs := make([][]*tensors.Tensor, len(ms))
		for s, m := range ms {
			devs[s] = m.upload(sts[s].m1, sts[s].m2)
		}
		free := func() {
			seen := map[*tensors.Tensor]bool{}
			for _, dev := range devs {
				for _, t := range dev {
					if !seen[t] {
						seen[t] = true
						t.FinalizeAll()
					}
				}
			}
		}
		// Only the first subject's trunk tensors are used; the others' copies are dropped.
		for s := 1; s < len(ms); s++ {
			shareTrunk(devs[s], devs[0], ms[s], ms[0], nt, true)
		}
		var sum float64
		var rows int
		for _, b := range order {
			if err := ctx.Err(); err != nil {
				free()
				return nil, fmt.Errorf("nn: training stopped at epoch %d: %w", epoch+1, err)
			}
			m, st, d, sp := ms[b.s], sts[b.s], ds[b.s], sps[b.s]
			idx := st.trainIdx[b.start:min(b.start+cfg.BatchSize, len(st.trainIdx))]
			xb = gatherRows(xb, d.X, d.P, idx)
			yb = gatherRows(yb, sp.y, d.V, idx)
			step++
			loss, err := m.step(devs[b.s], xb, yb, len(idx), lr, step, rng)
			if err != nil {
				free()
				return nil, fmt.Errorf("nn: epoch %d step %d (subject %d): %w", epoch+1, step, b.s, err)
			}
			for s := range ms {
				if s != b.s {
					shareTrunk(devs[s], devs[b.s], ms[s], m, nt, false)
				}
			}
			sum += loss * float64(len(idx))
			rows += len(idx)
		}
		for s, m := range ms {
			if err := m.downloadTo(devs[s], sts[s].m1, sts[s].m2, s == 0); err != nil {
				free()
				return nil, err
			}
		}
		free()
		trainLoss := sum / float64(rows)
		trainL = append(trainL, trainLoss)
		var sq, count float64
		for s, m := range ms {
			sp := sps[s]
			pred, err := m.predictGrouped(sp.xVal, sp.nVal)
			if err != nil {
				return nil, fmt.Errorf("nn: epoch %d validation of subject %d: %w", epoch+1, s, err)
			}
			k := float64(sp.nVal * m.V)
			sq += meanSquared(pred, sp.yVal, 0, m.V, m.V) * k
			count += k
		}
		valLoss := sq / count
		valL = append(valL, valLoss)
		if valLoss < bestLoss {
			bestLoss, bestEp, stale = valLoss, epoch+1, 0
			for i, m := range ms {
				best[i] = snapshot(m)
			}
		} else {
			stale++
		}
		if opt.Progress != nil {
			opt.Progress(epoch+1, trainLoss, valLoss)
		}
	}
	for i, m := range ms {
		m.Params, m.Stats = best[i].Params, best[i].Stats
		m.TrainLoss, m.ValLoss, m.BestEpoch = trainL, valL, bestEp
	}
	out := ms
	ms = nil // the caller gets them compiled, ready to predict
	return out, nil
}

// shareTrunk points the trunk entries of dst (a device state as upload lays it out for model a)
// at those of src (laid out for model b). With drop, dst's own trunk tensors are freed first.
func shareTrunk(dst, src []*tensors.Tensor, a, b *Model, nt int, drop bool) {
	npA, npB := len(a.Params), len(b.Params)
	for _, k := range [][2]int{{0, 0}, {npA, npB}, {2 * npA, 2 * npB}} {
		for i := 0; i < nt; i++ {
			if drop {
				dst[k[0]+i].FinalizeAll()
			}
			dst[k[0]+i] = src[k[1]+i]
		}
	}
	for i := range a.Stats {
		if drop {
			dst[3*npA+i].FinalizeAll()
		}
		dst[3*npA+i] = src[3*npB+i]
	}
}

// downloadTo is download for a model of a joint run: the trunk's values are read only for the
// model that owns them (trunk), the others read their heads.
func (m *Model) downloadTo(dev []*tensors.Tensor, m1, m2 []*param, trunk bool) error {
	np := len(m.Params)
	groups := [][]*param{m.Params, m1, m2}
	for g, arr := range groups {
		for i, q := range arr {
			if i < m.headStart && !trunk {
				continue
			}
			if err := copyOut(q.Data, dev[g*np+i]); err != nil {
				return fmt.Errorf("nn: read %s: %w", q.Name, err)
			}
		}
	}
	if trunk {
		for i, q := range m.Stats {
			if err := copyOut(q.Data, dev[3*np+i]); err != nil {
				return fmt.Errorf("nn: read %s: %w", q.Name, err)
			}
		}
	}
	return nil
}

// copyOut copies t's values into dst without freeing t.
func copyOut(dst []float32, t *tensors.Tensor) error {
	d, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return err
	}
	if len(d) != len(dst) {
		return fmt.Errorf("nn: graph output has %d values, want %d", len(d), len(dst))
	}
	copy(dst, d)
	return nil
}
