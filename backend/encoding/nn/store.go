package nn

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute"

	"cortexcast/backend/encoding"
)

// SubjectModel is a stored neural model of one subject: a network per hemisphere (index 0 "lh",
// 1 "rh"; nil when that hemisphere was not trained) and the store's manifest.
type SubjectModel struct {
	Manifest encoding.Manifest
	Hemis    [2]*Model
}

var hemiNames = [2]string{"lh", "rh"}

// SaveSubject writes the hemispheres' networks into the model-store directory dir (one
// sub-directory per hemisphere, as Model.Save writes it) with the manifest, atomically (see
// encoding.SaveFiles). It fills the manifest's FeatureDim, Hemis and Loss from the networks;
// manifest.Kind must be one of encoding.NNKinds().
func SaveSubject(dir string, manifest encoding.Manifest, hemis [2]*Model) error {
	mf := manifest
	mf.Hemis, mf.Loss, mf.FeatureDim = nil, nil, 0
	for h, m := range hemis {
		if m == nil {
			continue
		}
		if mf.FeatureDim != 0 && m.P != mf.FeatureDim {
			return fmt.Errorf("nn: saving %s: the %s network has %d features, the other %d", dir, hemiNames[h], m.P, mf.FeatureDim)
		}
		mf.FeatureDim = m.P
		mf.Hemis = append(mf.Hemis, encoding.HemiInfo{Hemi: hemiNames[h], Vertices: m.V})
		mf.Loss = append(mf.Loss, encoding.LossCurve{Hemi: hemiNames[h], Split: "train", Values: m.TrainLoss})
		if len(m.ValLoss) > 0 {
			mf.Loss = append(mf.Loss, encoding.LossCurve{Hemi: hemiNames[h], Split: "val", Values: m.ValLoss})
		}
	}
	if len(mf.Hemis) == 0 {
		return fmt.Errorf("nn: saving %s: no hemisphere", dir)
	}
	return encoding.SaveFiles(dir, mf, func(tmp string) error {
		for h, m := range hemis {
			if m != nil {
				if err := m.Save(filepath.Join(tmp, hemiNames[h])); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// LoadSubject reads a model written by SaveSubject and, when backend is not nil, compiles its
// networks there (Attach), ready for Predict.
func LoadSubject(dir string, backend compute.Backend) (*SubjectModel, error) {
	mf, err := encoding.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if !encoding.IsNN(mf.Kind) {
		return nil, fmt.Errorf("nn: %s holds a %s model, not a neural one", dir, mf.Kind)
	}
	sm := &SubjectModel{Manifest: *mf}
	for _, hi := range mf.Hemis {
		h := slices.Index(hemiNames[:], hi.Hemi)
		m, err := Load(filepath.Join(dir, hi.Hemi))
		if err != nil {
			sm.Close()
			return nil, err
		}
		if m.P != mf.FeatureDim || m.V != hi.Vertices {
			sm.Close()
			return nil, fmt.Errorf("nn: %s: the %s network maps %d features to %d vertices, the manifest says %d to %d",
				dir, hi.Hemi, m.P, m.V, mf.FeatureDim, hi.Vertices)
		}
		sm.Hemis[h] = m
		if backend != nil {
			if err := m.Attach(backend); err != nil {
				sm.Close()
				return nil, fmt.Errorf("nn: %s: %s: %w", dir, hi.Hemi, err)
			}
		}
	}
	return sm, nil
}

// Predict returns hemisphere h's n×V predictions for the n×P features x (row-major).
func (s *SubjectModel) Predict(h int, x []float32, n int) ([]float32, error) {
	if h < 0 || h > 1 || s.Hemis[h] == nil {
		return nil, errors.New("nn: the model has no such hemisphere")
	}
	return s.Hemis[h].Predict(x, n)
}

// Close frees the compiled networks.
func (s *SubjectModel) Close() {
	for _, m := range s.Hemis {
		if m != nil {
			m.Close()
		}
	}
}
