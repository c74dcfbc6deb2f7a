package encoding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"cortexcast/backend/npy"
)

// hemiName returns the name of hemisphere h in the order of SubjectModel.Hemis: "lh", "rh".
func hemiName(h int) string { return [2]string{"lh", "rh"}[h] }

// hemiIndex returns the index of a hemisphere name, or -1.
func hemiIndex(name string) int {
	switch name {
	case "lh":
		return 0
	case "rh":
		return 1
	}
	return -1
}

// SubjectModel is one subject's encoding model: a ridge per hemisphere (index 0 "lh", 1 "rh"; nil
// when that hemisphere was not fitted) from the features of the extractor named Features.
type SubjectModel struct {
	Subject  int
	Features string // the features.Extractor ID the model was trained on
	Hemis    [2]*Ridge
	Meta     map[string]string
}

// StoreFormat is the version of the on-disk layout that Save writes and Load reads.
const StoreFormat = 1

// Model kinds recorded in a manifest. The ridge kinds are stored as the same linear map (a *Ridge
// per hemisphere, written by Save); the kind says how it was fitted.
const (
	KindRidge      = "ridge"       // FitRidge, alphas by leave-one-out
	KindRidgeKFold = "ridge-kfold" // FitRidge with RidgeOptions.Folds ≥ 2
	KindBaseline   = "baseline"    // FitPCABaseline: incremental PCA, then least squares
)

// NNKindPrefix starts the kind of every neural model of the thesis zoo (package encoding/nn). Such
// a model is written by SaveFiles: its arrays are the nn package's, not a *Ridge.
const NNKindPrefix = "nn-"

// RidgeKinds returns the kinds stored as a *Ridge per hemisphere, in a fixed order.
func RidgeKinds() []string { return []string{KindRidge, KindRidgeKFold, KindBaseline} }

// NNKinds returns the kinds of the neural models: "nn-" and the name of one of the nn package's
// presets, or "nn-custom" for a model trained from a configuration file.
func NNKinds() []string {
	return []string{"nn-simple", "nn-dnn", "nn-dropout", "nn-residual", "nn-roi", "nn-conv1d", "nn-pos", "nn-comb", "nn-all", "nn-custom"}
}

// Kinds returns every model kind the store knows, the ridge kinds first.
func Kinds() []string { return append(RidgeKinds(), NNKinds()...) }

// IsNN reports whether kind is a neural model's.
func IsNN(kind string) bool { return strings.HasPrefix(kind, NNKindPrefix) }

// manifestFile is the name of the manifest inside a model directory.
const manifestFile = "manifest.json"

// tmpMarker is part of the name of every directory Save creates on the way (the model being written,
// a replaced model being deleted); List ignores such directories.
const tmpMarker = ".tmp-"

// Manifest describes a stored model; it is the manifest.json of the model directory.
type Manifest struct {
	Format     int        `json:"format"`      // StoreFormat
	Name       string     `json:"name"`        // the model directory's base name
	Subject    int        `json:"subject"`     // 1-based NSD subject
	Features   string     `json:"features"`    // feature extractor ID
	FeatureDim int        `json:"feature_dim"` // features per image, the rows of W
	Kind       string     `json:"kind"`        // one of Kinds(); Save writes "ridge" when empty
	Alphas     []float64  `json:"alphas"`      // the grid the alphas were chosen from
	Hemis      []HemiInfo `json:"hemis"`       // the stored hemispheres, "lh" before "rh"
	// Metrics holds evaluation results by name (say "lh_median_r", "challenge_score"). JSON has no
	// NaN or infinity, so Save leaves out non-finite values.
	Metrics         map[string]float64 `json:"metrics,omitempty"`
	DataFingerprint string             `json:"data_fingerprint,omitempty"` // identifies the training data
	CodeVersion     string             `json:"code_version,omitempty"`
	Created         time.Time          `json:"created"`
	Meta            map[string]string  `json:"meta,omitempty"`
	// Loss holds the loss per epoch of a model trained by gradient descent (nn kinds): one curve
	// per hemisphere and split.
	Loss []LossCurve `json:"loss,omitempty"`
}

// LossCurve is the mean squared error after each epoch of one hemisphere's training.
type LossCurve struct {
	Hemi   string    `json:"hemi"`  // "lh" or "rh"
	Split  string    `json:"split"` // "train" or "val"
	Values []float64 `json:"values"`
}

// HemiInfo describes one stored hemisphere.
type HemiInfo struct {
	Hemi     string `json:"hemi"`     // "lh" or "rh"
	Vertices int    `json:"vertices"` // targets, the columns of W
}

// Weight files of a hemisphere h inside a model directory: h_xmean.npy (P), h_ymean.npy (V),
// h_w.npy (P×V) and h_alpha.npy (V), all float32.
func weightFiles(h string) (xmean, ymean, w, alpha string) {
	return h + "_xmean.npy", h + "_ymean.npy", h + "_w.npy", h + "_alpha.npy"
}

// check reports an inconsistent ridge.
func (r *Ridge) check() error {
	switch {
	case r.P < 1 || r.V < 1:
		return fmt.Errorf("dimensions P=%d, V=%d, want both positive", r.P, r.V)
	case len(r.XMean) != r.P:
		return fmt.Errorf("len(XMean)=%d, want P=%d", len(r.XMean), r.P)
	case len(r.YMean) != r.V:
		return fmt.Errorf("len(YMean)=%d, want V=%d", len(r.YMean), r.V)
	case len(r.W) != r.P*r.V:
		return fmt.Errorf("len(W)=%d, want P×V=%d×%d", len(r.W), r.P, r.V)
	case len(r.Alpha) != r.V:
		return fmt.Errorf("len(Alpha)=%d, want V=%d", len(r.Alpha), r.V)
	}
	return nil
}

// Save writes m with its manifest into the model directory dir, replacing any model there. It fills
// manifest's Format, Name, Subject, Features, FeatureDim and Hemis from m, Kind with KindRidge when
// empty (any other value must be one of Kinds()), and Meta from m when
// manifest has none, Created when zero). Everything is written into a sibling "<dir>.tmp-*"
// directory, synced, and renamed into place; an existing model is first renamed aside and deleted
// after, so a crash leaves either the old or the new model under dir, never half of one.
func Save(dir string, m *SubjectModel, manifest Manifest) (err error) {
	if m == nil {
		return errors.New("encoding: saving a nil model")
	}
	dir = filepath.Clean(dir)
	mf := manifest
	mf.Format, mf.Name = StoreFormat, filepath.Base(dir)
	if mf.Kind == "" {
		mf.Kind = KindRidge
	}
	if !slices.Contains(RidgeKinds(), mf.Kind) {
		return fmt.Errorf("encoding: saving %s: model kind %q, want one of %q (neural models are written by SaveFiles)", dir, mf.Kind, RidgeKinds())
	}
	mf.Subject, mf.Features = m.Subject, m.Features
	mf.Hemis = nil
	mf.FeatureDim = 0
	for h, r := range m.Hemis {
		if r == nil {
			continue
		}
		if err := r.check(); err != nil {
			return fmt.Errorf("encoding: saving %s: %s ridge: %w", dir, hemiName(h), err)
		}
		if mf.FeatureDim != 0 && r.P != mf.FeatureDim {
			return fmt.Errorf("encoding: saving %s: the rh ridge has %d features, the lh one %d", dir, r.P, mf.FeatureDim)
		}
		mf.FeatureDim = r.P
		mf.Hemis = append(mf.Hemis, HemiInfo{Hemi: hemiName(h), Vertices: r.V})
	}
	if len(mf.Hemis) == 0 {
		return fmt.Errorf("encoding: saving %s: the model has no hemisphere", dir)
	}
	if mf.Meta == nil && len(m.Meta) > 0 {
		mf.Meta = m.Meta
	}
	if mf.Created.IsZero() {
		mf.Created = time.Now().UTC()
	}
	return saveDir(dir, &mf, func(tmp string) error {
		for h, r := range m.Hemis {
			if r == nil {
				continue
			}
			fx, fy, fw, fa := weightFiles(hemiName(h))
			for _, f := range []struct {
				name  string
				data  []float32
				shape []int
			}{
				{fx, r.XMean, []int{r.P}},
				{fy, r.YMean, []int{r.V}},
				{fw, r.W, []int{r.P, r.V}},
				{fa, r.Alpha, []int{r.V}},
			} {
				if err := npy.WriteFloat32(filepath.Join(tmp, f.name), f.data, f.shape); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// SaveFiles writes a model that is not a *Ridge (a neural one: manifest.Kind must be one of
// NNKinds()) into the model directory dir, as Save does: fill writes the model's files into the
// temporary directory it is given, then the manifest is added and the directory renamed into
// place. The manifest must give Subject, Features, FeatureDim and Hemis.
func SaveFiles(dir string, manifest Manifest, fill func(tmp string) error) error {
	dir = filepath.Clean(dir)
	mf := manifest
	mf.Format, mf.Name = StoreFormat, filepath.Base(dir)
	if !slices.Contains(NNKinds(), mf.Kind) {
		return fmt.Errorf("encoding: saving %s: model kind %q, want one of %q", dir, mf.Kind, NNKinds())
	}
	if err := checkHemis(mf.Hemis); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	if mf.FeatureDim < 1 {
		return fmt.Errorf("encoding: saving %s: feature_dim %d, want positive", dir, mf.FeatureDim)
	}
	if mf.Created.IsZero() {
		mf.Created = time.Now().UTC()
	}
	return saveDir(dir, &mf, fill)
}

// saveDir writes mf and the files fill makes into dir atomically (see Save).
func saveDir(dir string, mf *Manifest, fill func(tmp string) error) (err error) {
	if len(mf.Metrics) > 0 {
		clean := make(map[string]float64, len(mf.Metrics))
		for k, v := range mf.Metrics {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				clean[k] = v
			}
		}
		mf.Metrics = clean
	}
	body, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding: saving %s: encoding the manifest: %w", dir, err)
	}
	return WriteDir(dir, func(tmp string) error {
		if err := fill(tmp); err != nil {
			return err
		}
		return writeSynced(filepath.Join(tmp, manifestFile), append(body, '\n'))
	})
}

// WriteDir writes a directory atomically: fill makes its files in a fresh temporary sibling of
// dir, which is synced and renamed into dir's place; an existing dir is moved aside first (and
// put back if the rename fails) and deleted last, so a crash leaves one complete copy. The
// temporary names contain the store's marker, so List never shows them. The model store and the
// neural models' checkpoints both write through it.
func WriteDir(dir string, fill func(tmp string) error) (err error) {
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, base+tmpMarker)
	if err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	if err := fill(tmp); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}

	// Move an existing directory aside, put the new one in place, then delete the old one.
	old := ""
	if _, statErr := os.Lstat(dir); statErr == nil {
		old = filepath.Join(parent, base+tmpMarker+"old-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("encoding: saving %s: moving the old model aside: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir) // put the old model back
		}
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("encoding: saving %s: %w", dir, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("encoding: saved %s but could not delete the replaced model %s: %w", dir, old, err)
		}
	}
	return nil
}

// writeSynced writes data to a new file at path and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}

// syncDir makes a directory's entries durable; platforms that cannot sync directories are ignored.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// maxManifestBytes bounds the manifest files that are read.
const maxManifestBytes = 1 << 20

// ParseManifest decodes and checks a manifest.json body: the format, the kind, the dimensions and
// the hemisphere list.
func ParseManifest(body []byte) (*Manifest, error) {
	if len(body) > maxManifestBytes {
		return nil, fmt.Errorf("manifest is %d bytes, more than %d", len(body), maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var mf Manifest
	if err := dec.Decode(&mf); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	switch {
	case mf.Format != StoreFormat:
		return nil, fmt.Errorf("manifest format %d, this build reads %d", mf.Format, StoreFormat)
	case !slices.Contains(Kinds(), mf.Kind):
		return nil, fmt.Errorf("manifest kind %q, want one of %q", mf.Kind, Kinds())
	case mf.FeatureDim < 1:
		return nil, fmt.Errorf("manifest feature_dim %d, want positive", mf.FeatureDim)
	}
	if err := checkHemis(mf.Hemis); err != nil {
		return nil, err
	}
	return &mf, nil
}

// checkHemis reports a hemisphere list that is not "lh", "rh" or both in that order, each with
// vertices.
func checkHemis(hemis []HemiInfo) error {
	if len(hemis) == 0 || len(hemis) > 2 {
		return fmt.Errorf("manifest lists %d hemispheres, want 1 or 2", len(hemis))
	}
	for i, h := range hemis {
		idx := hemiIndex(h.Hemi)
		if idx < 0 {
			return fmt.Errorf("manifest hemis[%d] is %q, want \"lh\" or \"rh\"", i, h.Hemi)
		}
		if i == 1 && idx <= hemiIndex(hemis[0].Hemi) {
			return fmt.Errorf("manifest hemis are %q then %q, want lh before rh", hemis[0].Hemi, h.Hemi)
		}
		if h.Vertices < 1 {
			return fmt.Errorf("manifest hemis[%d] (%s) has %d vertices, want positive", i, h.Hemi, h.Vertices)
		}
	}
	return nil
}

// ReadManifest reads and checks the manifest.json of the model directory dir.
func ReadManifest(dir string) (*Manifest, error) { return readManifest(dir) }

// readManifest reads and checks dir/manifest.json.
func readManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, manifestFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("encoding: reading %s: %w", path, err)
	}
	mf, err := ParseManifest(body)
	if err != nil {
		return nil, fmt.Errorf("encoding: %s: %w", path, err)
	}
	mf.Name = filepath.Base(filepath.Clean(dir))
	return mf, nil
}

// Load reads the ridge model (one of RidgeKinds()) in dir, checking every weight file's shape against the manifest.
func Load(dir string) (*SubjectModel, *Manifest, error) {
	mf, err := readManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	if IsNN(mf.Kind) {
		return nil, nil, fmt.Errorf("encoding: %s is a neural model (kind %s), not a ridge: load it with nn.LoadSubject", dir, mf.Kind)
	}
	m := &SubjectModel{Subject: mf.Subject, Features: mf.Features, Meta: mf.Meta}
	for _, h := range mf.Hemis {
		p, v := mf.FeatureDim, h.Vertices
		r := &Ridge{P: p, V: v}
		fx, fy, fw, fa := weightFiles(h.Hemi)
		for _, f := range []struct {
			name  string
			dst   *[]float32
			shape []int
		}{
			{fx, &r.XMean, []int{p}},
			{fy, &r.YMean, []int{v}},
			{fw, &r.W, []int{p, v}},
			{fa, &r.Alpha, []int{v}},
		} {
			path := filepath.Join(dir, f.name)
			data, shape, err := npy.ReadFloat32(path)
			if err != nil {
				return nil, nil, fmt.Errorf("encoding: loading model %s: %w", dir, err)
			}
			if !slices.Equal(shape, f.shape) {
				return nil, nil, fmt.Errorf("encoding: %s has shape %v, the manifest says %v", path, shape, f.shape)
			}
			*f.dst = data
		}
		m.Hemis[hemiIndex(h.Hemi)] = r
	}
	return m, mf, nil
}

// List returns the manifests of the models directly under storeRoot, sorted by name. Directories
// that Save is still writing or deleting ("*.tmp-*"), hidden ones and ones without a manifest.json
// are not models and are skipped. A model whose manifest cannot be read is left out and reported
// in the returned error (all such problems joined); the other models are still returned. A missing
// storeRoot is an empty store.
func List(storeRoot string) ([]Manifest, error) {
	entries, err := os.ReadDir(storeRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("encoding: listing models: %w", err)
	}
	var out []Manifest
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || strings.Contains(name, tmpMarker) {
			continue
		}
		dir := filepath.Join(storeRoot, name)
		if _, err := os.Stat(filepath.Join(dir, manifestFile)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		mf, err := readManifest(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, *mf)
	}
	slices.SortFunc(out, func(a, b Manifest) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

// Remove deletes the model in dir: it is first renamed to a "<dir>.tmp-*" name, so that it leaves
// the listing at once even if the deletion is interrupted.
func Remove(dir string) error {
	dir = filepath.Clean(dir)
	if _, err := os.Stat(filepath.Join(dir, manifestFile)); err != nil {
		return fmt.Errorf("encoding: removing model: %w", err)
	}
	gone := dir + tmpMarker + "rm-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("encoding: removing model %s: %w", dir, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("encoding: removing model %s (renamed to %s): %w", dir, gone, err)
	}
	return nil
}
