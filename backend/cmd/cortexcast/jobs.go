package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/api"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/imageio"
	"cortexcast/backend/metrics"
	"cortexcast/backend/server"
)

// servedModels holds the models being served and their validation correlation maps; a
// training job replaces them.
type servedModels struct {
	mu     sync.RWMutex
	models map[int]*encoding.SubjectModel
	corr   map[int][2][]float32
}

func (m *servedModels) get(subject int) (*encoding.SubjectModel, [2][]float32, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	sm, ok := m.models[subject]
	return sm, m.corr[subject], ok
}

func (m *servedModels) set(subject int, sm *encoding.SubjectModel, corr [2][]float32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.models[subject] = sm
	m.corr[subject] = corr
}

// dataSource is the server.Source of a dataset on disk: the image lists, the images, the fMRI
// matrices (read on first use per subject and hemisphere, then kept), the ROI masks and the
// served models' correlation maps.
type dataSource struct {
	subs   map[int]*algonauts.Subject
	models *servedModels
	limits imageio.Limits

	mu   sync.Mutex
	fmri map[string]*fmriMatrix
	rois map[int][]server.ROIClass
}

type fmriMatrix struct {
	once       sync.Once
	data       []float32
	rows, cols int
	err        error
}

func newDataSource(subs map[int]*algonauts.Subject, models *servedModels) *dataSource {
	return &dataSource{subs: subs, models: models, limits: imageio.DefaultLimits(),
		fmri: map[string]*fmriMatrix{}, rois: map[int][]server.ROIClass{}}
}

func (d *dataSource) subject(n int) (*algonauts.Subject, error) {
	sub, ok := d.subs[n]
	if !ok {
		return nil, fmt.Errorf("subject %d is not served: %w", n, server.ErrNotFound)
	}
	return sub, nil
}

// matrix returns a subject's fMRI matrix of one hemisphere, reading it once.
func (d *dataSource) matrix(sub *algonauts.Subject, h algonauts.Hemi) (*fmriMatrix, error) {
	key := fmt.Sprintf("%d/%s", sub.ID, h)
	d.mu.Lock()
	m, ok := d.fmri[key]
	if !ok {
		m = &fmriMatrix{}
		d.fmri[key] = m
	}
	d.mu.Unlock()
	m.once.Do(func() { m.data, m.rows, m.cols, m.err = sub.FMRI(h) })
	return m, m.err
}

func (d *dataSource) Images(subject int) ([]server.DatasetImage, error) {
	sub, err := d.subject(subject)
	if err != nil {
		return nil, err
	}
	out := make([]server.DatasetImage, 0, len(sub.Train)+len(sub.Test))
	for _, im := range sub.Train {
		out = append(out, server.DatasetImage{Split: "train", Index: im.Index, NSDID: im.NSDID})
	}
	for _, im := range sub.Test {
		out = append(out, server.DatasetImage{Split: "test", Index: im.Index, NSDID: im.NSDID})
	}
	return out, nil
}

func (d *dataSource) find(subject int, split string, index int) (algonauts.Image, error) {
	sub, err := d.subject(subject)
	if err != nil {
		return algonauts.Image{}, err
	}
	list := sub.Train
	if split == "test" {
		list = sub.Test
	}
	if index >= 1 && index <= len(list) && list[index-1].Index == index {
		return list[index-1], nil
	}
	for _, im := range list {
		if im.Index == index {
			return im, nil
		}
	}
	return algonauts.Image{}, fmt.Errorf("subject %d has no %s image %d (%d images): %w", subject, split, index, len(list), server.ErrNotFound)
}

func (d *dataSource) LoadImage(_ context.Context, subject int, split string, index int) (image.Image, error) {
	im, err := d.find(subject, split, index)
	if err != nil {
		return nil, err
	}
	return imageio.DecodeFile(im.Path, d.limits)
}

func (d *dataSource) Measured(subject, index int) ([2][]float32, error) {
	var out [2][]float32
	sub, err := d.subject(subject)
	if err != nil {
		return out, err
	}
	for hi, h := range algonauts.Hemis() {
		m, err := d.matrix(sub, h)
		if err != nil {
			return out, err
		}
		if index < 1 || index > m.rows {
			return out, fmt.Errorf("subject %d has %d training images, not %d: %w", subject, m.rows, index, server.ErrNotFound)
		}
		out[hi] = m.data[(index-1)*m.cols : index*m.cols]
	}
	return out, nil
}

func (d *dataSource) Correlation(subject int) ([2][]float32, error) {
	_, corr, ok := d.models.get(subject)
	if !ok || corr[0] == nil {
		return corr, fmt.Errorf("no correlation map for subject %d: %w", subject, server.ErrNotFound)
	}
	return corr, nil
}

// roiClasses are the ROI classes roi_summary reports on.
func roiClasses() []string { return []string{"prf-visualrois", "streams"} }

func (d *dataSource) ROIs(subject int) ([]server.ROIClass, error) {
	sub, err := d.subject(subject)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	cached, ok := d.rois[subject]
	d.mu.Unlock()
	if ok {
		return cached, nil
	}
	var out []server.ROIClass
	for _, class := range roiClasses() {
		rc := server.ROIClass{Name: class}
		missing := false
		for hi, h := range algonauts.Hemis() {
			rc.Labels[hi], err = sub.ROIMask(h, class, algonauts.SpaceChallenge)
			if errors.Is(err, fs.ErrNotExist) {
				missing = true
				break
			}
			if err != nil {
				return nil, err
			}
		}
		if missing {
			continue
		}
		if rc.Names, err = sub.Mapping(class); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append(out, rc)
	}
	d.mu.Lock()
	d.rois[subject] = out
	d.mu.Unlock()
	return out, nil
}

// validationCorrelation is the model's per-vertex r on the held-out validation images (the
// devkit split of the training images), per hemisphere.
func validationCorrelation(ctx context.Context, e *env, ext features.Extractor, cache string, d *dataSource, sub *algonauts.Subject, m *encoding.SubjectModel) ([2][]float32, error) {
	return validationCorrelationOf(ctx, e, ext, cache, d, sub, ridgeHemis(m))
}

// hemiPredict predicts hemisphere hi's n×V responses to the n×P features x.
type hemiPredict func(hi int, x []float32, n, p int) ([]float32, error)

// ridgeHemis predicts with a ridge per hemisphere, refusing features of another width.
func ridgeHemis(m *encoding.SubjectModel) hemiPredict {
	return func(hi int, x []float32, n, p int) ([]float32, error) {
		r := m.Hemis[hi]
		if r == nil || r.P != p {
			return nil, fmt.Errorf("the model's %s does not take %d features", algonauts.Hemis()[hi], p)
		}
		return r.Predict(x, n), nil
	}
}

// validationCorrelationOf is validationCorrelation for a model of any kind.
func validationCorrelationOf(ctx context.Context, e *env, ext features.Extractor, cache string, d *dataSource, sub *algonauts.Subject, predict hemiPredict) ([2][]float32, error) {
	var out [2][]float32
	x, p, err := cachedFeatures(ctx, e, ext, cache, sub, "train")
	if err != nil {
		return out, err
	}
	_, valIdx := algonauts.DevkitSplit(len(sub.Train), splitSeed)
	xv := rows(x, p, valIdx)
	for hi, h := range algonauts.Hemis() {
		y, err := d.matrix(sub, h)
		if err != nil {
			return out, err
		}
		pred, err := predict(hi, xv, len(valIdx), p)
		if err == nil && len(pred) != len(valIdx)*y.cols {
			err = fmt.Errorf("%d predictions, want %d images × %d vertices", len(pred), len(valIdx), y.cols)
		}
		if err != nil {
			return out, fmt.Errorf("subj%02d %s: the model does not fit the data: %w", sub.ID, h, err)
		}
		out[hi] = metrics.PearsonColumns(pred, rows(y.data, y.cols, valIdx), len(valIdx), y.cols)
	}
	return out, nil
}

// batchPredictor extracts the features of a micro-batch in one call and applies each image's
// subject's served model.
func batchPredictor(ext features.Extractor, models *servedModels) server.BatchPredictor {
	mp := modelPredictor(ext, &modelCache{served: models})
	return func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		return mp(ctx, "", subjects, imgs)
	}
}

// modelPredictor is the server's ModelPredictor: it extracts the features of a micro-batch in
// one call and applies, per subject, the model that models.load gives for the name.
func modelPredictor(ext features.Extractor, models *modelCache) server.ModelPredictor {
	return func(ctx context.Context, model string, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		groups := map[int][]int{}
		for i, s := range subjects {
			groups[s] = append(groups[s], i)
		}
		// Load (and check) the models first: a bad name fails before the costly extraction.
		ms := map[int]*cachedModel{}
		defer func() {
			for _, m := range ms {
				models.release(m)
			}
		}()
		for s := range groups {
			m, err := models.load(s, model)
			if err != nil {
				return nil, err
			}
			ms[s] = m
		}
		x, err := ext.Extract(ctx, imgs)
		if err != nil {
			return nil, err
		}
		p := ext.Dim()
		out := make([][2][]float32, len(imgs))
		for s, idx := range groups {
			xs := rows(x, p, idx)
			for hi := range 2 {
				pred, err := ms[s].predict(hi, xs, len(idx), p)
				if err != nil {
					return nil, fmt.Errorf("subj%02d model %q: %w", s, model, err)
				}
				v := len(pred) / len(idx)
				for k, i := range idx {
					out[i][hi] = pred[k*v : (k+1)*v : (k+1)*v]
				}
			}
		}
		return out, nil
	}
}

// modelCache is where the server gets the model for a (subject, model name) request: the
// subject's served model for "" (or the served model's own name), else the stored model of
// that name, of any kind, loaded with loadModel on first use (neural models compiled on the
// backend, opened on the first one) and kept among the keep most recently used (a ridge model
// on real data is some 200 MB). An entry is reloaded when its manifest's creation time
// changes (the model was retrained).
type modelCache struct {
	root        string
	extractorID string
	served      *servedModels
	vertices    map[int][2]int // challenge vertices per subject and hemisphere
	keep        int            // at least 1
	// backend gives the compute backend neural models run on; nil: they cannot be served.
	backend func() (*compute.Backend, error)

	mu     sync.Mutex
	loaded []*cachedModel // least recently used first
}

// cachedModel is one loaded model; corr, its validation correlation map, is computed on the
// first correlation request.
type cachedModel struct {
	name    string
	created time.Time
	once    sync.Once
	served  *encoding.SubjectModel // the served model, or nil
	stored  *loadedModel           // a stored model, or nil
	err     error

	// users counts the predictions holding the model; an evicted model is closed (its compiled
	// networks freed) when the last one releases it. Both under modelCache.mu.
	users   int
	evicted bool
	// predMu serialises the predictions of a neural model: its compiled graphs are not known
	// to be safe for concurrent use.
	predMu sync.Mutex

	corrOnce sync.Once
	corr     [2][]float32
	corrErr  error
}

// predict returns hemisphere hi's n×V predictions for the n×P features x.
func (m *cachedModel) predict(hi int, x []float32, n, p int) ([]float32, error) {
	if m.served != nil {
		return ridgeHemis(m.served)(hi, x, n, p)
	}
	if m.stored.net != nil {
		m.predMu.Lock()
		defer m.predMu.Unlock()
	}
	if p != m.stored.Manifest.FeatureDim {
		return nil, fmt.Errorf("the model takes %d features, the extractor gives %d", m.stored.Manifest.FeatureDim, p)
	}
	return m.stored.Predict(hi, x, n)
}

// load returns the model that predicts subject's responses under name ("" = the served one),
// checking that it is the subject's model, on the served features, predicting the dataset's
// challenge vertices. Errors for a name the store does not hold (or holds for another subject)
// wrap server.ErrNotFound. The caller releases the model when done with it.
func (c *modelCache) load(subject int, name string) (*cachedModel, error) {
	if name == "" {
		m, corr, ok := c.served.get(subject)
		if !ok {
			return nil, fmt.Errorf("no model is served for subject %d: %w", subject, server.ErrNotFound)
		}
		cm := &cachedModel{served: m, corr: corr}
		cm.corrOnce.Do(func() {}) // the served model's map was computed when it was loaded
		return cm, nil
	}
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%q is not a model name: %w", name, server.ErrNotFound)
	}
	dir := filepath.Join(c.root, name)
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the model store %s holds no model %q: %w", c.root, name, server.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	mf, err := encoding.ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	switch {
	case mf.Subject != subject:
		return nil, fmt.Errorf("model %q is subject %d's, not subject %d's: %w", name, mf.Subject, subject, server.ErrNotFound)
	case encoding.IsNN(mf.Kind) && c.backend == nil:
		return nil, fmt.Errorf("model %q is a neural model (%s): this server has no compute backend for it", name, mf.Kind)
	case mf.Features != c.extractorID:
		return nil, fmt.Errorf("model %q was trained on %s features; this server extracts %s", name, mf.Features, c.extractorID)
	case name == filepath.Base(modelDir(c.root, subject, c.extractorID)):
		return c.load(subject, "") // the served model: no second copy in memory
	}
	keep := max(c.keep, 1)
	c.mu.Lock()
	var cm *cachedModel
	for i, e := range c.loaded {
		if e.name == name && e.created.Equal(mf.Created) {
			cm = e
			c.loaded = append(slices.Delete(c.loaded, i, i+1), e)
			break
		}
	}
	if cm == nil {
		cm = &cachedModel{name: name, created: mf.Created}
		for _, e := range c.loaded {
			if e.name == name {
				c.evictLocked(e)
			}
		}
		c.loaded = slices.DeleteFunc(c.loaded, func(e *cachedModel) bool { return e.name == name })
		c.loaded = append(c.loaded, cm)
		for len(c.loaded) > keep {
			c.evictLocked(c.loaded[0])
			c.loaded = c.loaded[1:]
		}
	}
	cm.users++
	c.mu.Unlock()
	cm.once.Do(func() { cm.stored, cm.err = c.open(dir, name, mf.Kind, subject) })
	if cm.err != nil {
		c.mu.Lock()
		c.loaded = slices.DeleteFunc(c.loaded, func(e *cachedModel) bool { return e == cm })
		c.mu.Unlock()
		c.release(cm)
		return nil, cm.err
	}
	return cm, nil
}

// open loads the stored model in dir and checks it against the dataset's challenge vertices.
func (c *modelCache) open(dir, name, kind string, subject int) (*loadedModel, error) {
	var be *compute.Backend
	if encoding.IsNN(kind) {
		var err error
		if be, err = c.backend(); err != nil {
			return nil, fmt.Errorf("model %q: open the compute backend: %w", name, err)
		}
	}
	m, err := loadModel(dir, be) // ridge kinds predict on the CPU, as the served model does
	if err != nil {
		return nil, fmt.Errorf("load model %q: %w", name, err)
	}
	for hi, hemi := range algonauts.Hemis() {
		if m.Hemi(hi) == nil || m.Vertices(hi) != c.vertices[subject][hi] {
			m.Close()
			return nil, fmt.Errorf("model %q: %s does not predict the dataset's %d challenge vertices", name, hemi, c.vertices[subject][hi])
		}
		if r := m.Ridge(hi); r != nil {
			r.Predict(r.XMean, 1) // warm up, as for the served model
		}
	}
	return m, nil
}

// evictLocked drops cm from the cache, closing it now when no prediction holds it. The
// caller holds c.mu.
func (c *modelCache) evictLocked(cm *cachedModel) {
	cm.evicted = true
	if cm.users == 0 && cm.stored != nil {
		cm.stored.Close()
	}
}

// release ends a use of a model that load returned.
func (c *modelCache) release(cm *cachedModel) {
	if cm.served != nil || cm.name == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cm.users--
	if cm.users == 0 && cm.evicted && cm.stored != nil {
		cm.stored.Close()
	}
}

// cached lists the names of the loaded stored models, least recently used first.
func (c *modelCache) cached() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.loaded))
	for i, e := range c.loaded {
		out[i] = e.name
	}
	return out
}

// modelSource is the server's Source, with the validation correlation map of any stored model.
type modelSource struct {
	*dataSource
	models *modelCache
	corr   func(ctx context.Context, sub *algonauts.Subject, predict hemiPredict) ([2][]float32, error)
}

func (s *modelSource) ModelCorrelation(ctx context.Context, subject int, model string) ([2][]float32, error) {
	sub, err := s.subject(subject)
	if err != nil {
		return [2][]float32{}, err
	}
	cm, err := s.models.load(subject, model)
	if err != nil {
		return [2][]float32{}, err
	}
	defer s.models.release(cm)
	// Computed once for every viewer: a viewer that leaves does not cancel it for the others.
	cm.corrOnce.Do(func() { cm.corr, cm.corrErr = s.corr(context.WithoutCancel(ctx), sub, cm.predict) })
	if cm.corrErr == nil && cm.corr[0] == nil {
		return cm.corr, fmt.Errorf("no correlation map for model %q: %w", model, server.ErrNotFound)
	}
	return cm.corr, cm.corrErr
}

// loadServed loads a subject's model from the store, checks it against the dataset's
// challenge vertices, and computes its validation correlation map.
func loadServed(ctx context.Context, e *env, o trainOptions, ext features.Extractor, d *dataSource, sub *algonauts.Subject) (*encoding.SubjectModel, [2][]float32, error) {
	var corr [2][]float32
	dir := modelDir(o.Models, sub.ID, ext.ID())
	m, _, err := encoding.Load(dir)
	if err != nil {
		return nil, corr, fmt.Errorf("no trained model for subj%02d with %s features (%w): run `cortexcast train`", sub.ID, ext.ID(), err)
	}
	for hi, hemi := range algonauts.Hemis() {
		verts, err := sub.ChallengeVertices(hemi)
		if err != nil {
			return nil, corr, err
		}
		if m.Hemis[hi] == nil || m.Hemis[hi].V != len(verts) {
			return nil, corr, fmt.Errorf("model %s: %s does not predict the dataset's %d challenge vertices: retrain", dir, hemi, len(verts))
		}
	}
	for _, r := range m.Hemis {
		r.Predict(r.XMean, 1) // warm up: the first prediction prepares the model's intercepts
	}
	corr, err = validationCorrelation(ctx, e, ext, o.Cache, d, sub, m)
	if err != nil {
		return nil, corr, fmt.Errorf("subj%02d validation correlation: %w", sub.ID, err)
	}
	return m, corr, nil
}

// trainJob is the server's JobRunner: it runs what `cortexcast train` runs for each subject,
// then loads the new models for serving. Subjects the server does not serve are refused.
func trainJob(e *env, o trainOptions, ext features.Extractor, d *dataSource, models *servedModels) server.JobRunner {
	return func(ctx context.Context, subjects []int, progress func(string, int, int)) error {
		for _, s := range subjects {
			if _, err := d.subject(s); err != nil {
				return err
			}
		}
		// The served extractor is the one training uses: no second load of a network.
		quiet := &env{stdout: io.Discard, stderr: io.Discard, log: e.log, extractors: map[string]features.Extractor{o.Extractor: ext}}
		total := len(subjects) + 1
		for i, s := range subjects {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress(fmt.Sprintf("training subj%02d", s), i, total)
			so := o
			so.Subjects = strconv.Itoa(s)
			if _, err := trainAll(ctx, quiet, so); err != nil {
				return fmt.Errorf("train subj%02d: %w", s, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		progress("loading the new models", len(subjects), total)
		for _, s := range subjects {
			m, corr, err := loadServed(ctx, quiet, o, ext, d, d.subs[s])
			if err != nil {
				return err
			}
			models.set(s, m, corr)
		}
		progress("serving the new models", total, total)
		return nil
	}
}

// modelStore is the server's ModelStore over the model store directory: the served model of a
// subject is its ridge model on the served extractor's features (where serve loads it from).
type modelStore struct {
	root        string
	extractorID string
	models      *servedModels
	log         *slog.Logger
}

// served reports whether the model named name is the one loaded for its subject. The caller
// holds models.mu.
func (s *modelStore) served(mf encoding.Manifest) bool {
	_, ok := s.models.models[mf.Subject]
	return ok && mf.Name == filepath.Base(modelDir(s.root, mf.Subject, s.extractorID))
}

// Models lists the store; models whose manifest cannot be read are logged and left out.
func (s *modelStore) Models() ([]api.ModelInfo, error) {
	mfs, err := encoding.List(s.root)
	if err != nil {
		if len(mfs) == 0 {
			return nil, err
		}
		s.log.Warn("some stored models could not be read", "store", s.root, "err", err)
	}
	s.models.mu.RLock()
	defer s.models.mu.RUnlock()
	out := make([]api.ModelInfo, len(mfs))
	for i, mf := range mfs {
		out[i] = api.ModelInfo{Name: mf.Name, Subject: mf.Subject, Kind: mf.Kind, Features: mf.Features,
			Created: mf.Created, Served: s.served(mf)}
		lh, okL := mf.Metrics["lh_val_mean_r"]
		rh, okR := mf.Metrics["rh_val_mean_r"]
		if okL && okR {
			r := (lh + rh) / 2
			out[i].MeanR = &r
		}
	}
	return out, nil
}

// DeleteModel removes the model name from the store unless it is served. The served models
// cannot change while it runs.
func (s *modelStore) DeleteModel(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%q is not a model name: %w", name, server.ErrNotFound)
	}
	mfs, _ := encoding.List(s.root)
	i := slices.IndexFunc(mfs, func(mf encoding.Manifest) bool { return mf.Name == name })
	if i < 0 {
		return fmt.Errorf("no model %q in %s: %w", name, s.root, server.ErrNotFound)
	}
	s.models.mu.RLock()
	defer s.models.mu.RUnlock()
	if s.served(mfs[i]) {
		return fmt.Errorf("model %q is served for subject %d: %w", name, mfs[i].Subject, server.ErrInUse)
	}
	return encoding.Remove(filepath.Join(s.root, name))
}
