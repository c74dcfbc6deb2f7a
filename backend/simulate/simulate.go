// Package simulate writes a simulated Natural Scenes Dataset in the exact
// Algonauts 2023 layout, with the ground truth of its generative model in a
// sibling directory (TruthDir) that models never read.
//
// Images are procedural scenes of the NSD kinds (faces, bodies, places,
// words, objects, textures) with known content. Each challenge vertex
// responds to a known mixture of the RMS contrast in its population
// receptive field (early visual cortex) and the presence of content
// categories (face, body, place and word ROIs, and the higher streams);
// measured responses add Gaussian noise whose level, with the number of
// repeats of each image, gives every vertex a known ncsnr and noise ceiling.
// The model is described in full in the SIMULATED.md file that Generate
// writes into the dataset.
package simulate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/npy"
	"cortexcast/meshes"
)

// Config says what Generate writes.
type Config struct {
	// Root is the dataset directory to write (subjNN/... inside).
	Root string
	// Subjects is the number of subjects, subj01 onwards.
	Subjects int
	// Train and Test are the numbers of images per subject.
	Train, Test int
	// Seed makes the dataset: the same Config writes the same bytes.
	Seed int64
	// MasksDir holds the real fsaverage-space masks
	// {lh,rh}.prf-visualrois_fsaverage_space.npy and
	// {lh,rh}.streams_fsaverage_space.npy, with {lh,rh}.nsdgeneralRSC.mgz
	// in it or its parent. Empty, or a directory without the masks, selects
	// the synthetic layout (consecutive fsaverage index ranges with the
	// real label counts).
	MasksDir string
	// FsaverageDir holds the full fsaverage spheres sphere_left.gii.gz and
	// sphere_right.gii.gz, used with the real masks to place the floc ROIs
	// as compact blobs. Empty means MasksDir/../../fsaverage (the layout of
	// shared/data); without the spheres the floc ROIs are fsaverage-index
	// neighbourhoods.
	FsaverageDir string
	// Progress, when not nil, is called (from one goroutine at a time) as
	// work advances.
	Progress func(stage string, done, total int)
}

// Limits on a Config.
const (
	MaxSubjects = 99
	// MaxImages bounds Train+Test: NSD has 73,000 distinct images.
	MaxImages = 73000
)

// DefaultConfig returns the demo dataset's configuration: 2 subjects, 1000
// training and 100 test images each, seed 1, no masks directory (the caller
// points MasksDir at the real masks when it has them).
func DefaultConfig() Config {
	return Config{Subjects: 2, Train: 1000, Test: 100, Seed: 1}
}

// FindMasks returns the directory of the real Algonauts fsaverage-space masks
// (algonauts2023/roi_masks) beside wherever meshes.FindFsaverageDir finds the
// meshes, or "" when there are none (Generate then uses synthetic masks).
func FindMasks() string {
	dir, err := meshes.FindFsaverageDir("")
	if err != nil {
		return ""
	}
	m := filepath.Join(dir, "algonauts2023", "roi_masks")
	if _, err := os.Stat(filepath.Join(m, "lh.streams_fsaverage_space.npy")); err != nil {
		return ""
	}
	return m
}

// TruthDir returns where Generate writes the ground truth for the dataset
// at root: the sibling directory root + ".truth".
func TruthDir(root string) string {
	return filepath.Clean(root) + ".truth"
}

// MarkerFile is the file in the dataset root that says the data are
// simulated (JSON, see Marker).
const MarkerFile = "simulation.json"

// Marker is the content of MarkerFile.
type Marker struct {
	Simulated  bool       `json:"simulated"`
	Generator  string     `json:"generator"`
	Version    int        `json:"version"`
	Seed       int64      `json:"seed"`
	Subjects   int        `json:"subjects"`
	Train      int        `json:"train"`
	Test       int        `json:"test"`
	Masks      MaskSource `json:"masks"`
	Vertices   [2]int     `json:"vertices"` // challenge vertices, lh and rh
	Truth      string     `json:"truth"`    // the truth directory's base name
	Categories []string   `json:"categories"`
}

// modelVersion changes whenever the generative model changes output.
const modelVersion = 2

// ReadMarker reads root's MarkerFile; a dataset without one is not
// simulated (the error wraps fs.ErrNotExist).
func ReadMarker(root string) (*Marker, error) {
	b, err := os.ReadFile(filepath.Join(root, MarkerFile))
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("simulate: %s: %w", filepath.Join(root, MarkerFile), err)
	}
	return &m, nil
}

func (cfg Config) validate() error {
	switch {
	case cfg.Root == "":
		return errors.New("simulate: Config.Root is empty")
	case cfg.Subjects < 1 || cfg.Subjects > MaxSubjects:
		return fmt.Errorf("simulate: Config.Subjects is %d, want 1..%d", cfg.Subjects, MaxSubjects)
	case cfg.Train < 2 || cfg.Test < 2:
		return fmt.Errorf("simulate: Config.Train %d and Test %d must be at least 2", cfg.Train, cfg.Test)
	case cfg.Train+cfg.Test > MaxImages:
		return fmt.Errorf("simulate: Config.Train+Test is %d, over the %d NSD images", cfg.Train+cfg.Test, MaxImages)
	}
	return nil
}

// Generate writes the dataset described by cfg into cfg.Root and its
// ground truth into TruthDir(cfg.Root). The marker file is written last, so
// its presence means a complete dataset.
func Generate(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	layouts, src, err := loadLayouts(cfg.MasksDir, findSphereDir(cfg.FsaverageDir, cfg.MasksDir))
	if err != nil {
		return err
	}
	// A stale marker must not vouch for a half-rewritten dataset.
	if err := os.Remove(filepath.Join(cfg.Root, MarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("simulate: %w", err)
	}
	for s := 1; s <= cfg.Subjects; s++ {
		if err := generateSubject(ctx, cfg, s, layouts); err != nil {
			return err
		}
	}
	m := Marker{Simulated: true, Generator: "cortexcast simulate", Version: modelVersion, Seed: cfg.Seed,
		Subjects: cfg.Subjects, Train: cfg.Train, Test: cfg.Test, Masks: src,
		Vertices: [2]int{len(layouts[0].challenge), len(layouts[1].challenge)},
		Truth:    filepath.Base(TruthDir(cfg.Root)), Categories: Categories()}
	if err := writeFile(filepath.Join(cfg.Root, "SIMULATED.md"), []byte(readme(m))); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("simulate: marker: %w", err)
	}
	err = npy.WriteFile(filepath.Join(cfg.Root, MarkerFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("simulate: marker: %w", err)
	}
	return nil
}

// rngFor returns a random source determined by the seed and the parts
// (subject, purpose, index, ...).
func rngFor(seed int64, parts ...string) *rand.Rand {
	h := fnv.New128a()
	_ = binary.Write(h, binary.LittleEndian, seed)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:])))
}

// subjectData is one subject's per-image results.
type subjectData struct {
	n       int
	labels  []Labels
	repeats []int64
	// contrast[h] is row-major images × challenge vertices of hemisphere
	// h: the receptive-field contrast, then (in place) the truth.
	contrast [2][]float32
	signal   []float64 // images × numCategories
}

func generateSubject(ctx context.Context, cfg Config, subj int, layouts [2]*hemiLayout) error {
	sj := fmt.Sprintf("subj%02d", subj)
	n := cfg.Train + cfg.Test
	r := rngFor(cfg.Seed, sj, "ids")
	ids := make([]int, MaxImages)
	for i := range ids {
		ids[i] = i
	}
	for i := range n { // partial Fisher–Yates
		j := i + r.IntN(MaxImages-i)
		ids[i], ids[j] = ids[j], ids[i]
	}
	ids = ids[:n]
	slices.Sort(ids[:cfg.Train])
	slices.Sort(ids[cfg.Train:])

	var models [2]*vertexModel
	for h, l := range layouts {
		models[h] = newVertexModel(l, rngFor(cfg.Seed, sj, l.hemi, "model"))
	}
	d := &subjectData{n: n, labels: make([]Labels, n), repeats: make([]int64, n), signal: make([]float64, n*numCategories)}
	r = rngFor(cfg.Seed, sj, "repeats")
	for i := range d.repeats {
		// Most NSD images were shown three times; some fewer within the
		// released sessions.
		switch u := r.Float64(); {
		case u < 0.1:
			d.repeats[i] = 1
		case u < 0.25:
			d.repeats[i] = 2
		default:
			d.repeats[i] = 3
		}
	}
	for h := range layouts {
		d.contrast[h] = make([]float32, n*models[h].n)
	}
	for _, dir := range []string{filepath.Dir(algonauts.TrainImagePath(cfg.Root, subj, 1, 0)), filepath.Dir(algonauts.TestImagePath(cfg.Root, subj, 1, 0)),
		filepath.Dir(algonauts.FMRIPath(cfg.Root, subj, algonauts.LH)), filepath.Dir(algonauts.MaskPath(cfg.Root, subj, algonauts.LH, "streams", algonauts.SpaceFsaverage)),
		filepath.Join(TruthDir(cfg.Root), sj)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	if err := renderImages(ctx, cfg, subj, ids, models, d); err != nil {
		return err
	}
	for h, l := range layouts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeResponses(cfg, subj, l, models[h], d, d.contrast[h]); err != nil {
			return err
		}
		d.contrast[h] = nil
		if cfg.Progress != nil {
			cfg.Progress(sj+" responses", h+1, 2)
		}
	}
	if err := writeMasks(cfg.Root, subj, layouts); err != nil {
		return err
	}
	return writeSubjectTruth(cfg, subj, d)
}

// renderImages draws, encodes and writes every image of the subject in
// parallel and records its labels and receptive-field contrasts.
func renderImages(ctx context.Context, cfg Config, subj int, ids []int, models [2]*vertexModel, d *subjectData) error {
	sj := fmt.Sprintf("subj%02d", subj)
	workers := max(1, runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	done := make(chan error, workers)
	pool := &bufferPool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{enc: png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: pool}, canvas: newCanvas(ImageSize, ImageSize)}
			for i := range jobs {
				done <- w.render(cfg, subj, i, ids[i], models, d)
			}
		}()
	}
	var firstErr error
	go func() {
		defer close(jobs)
		for i := range d.n {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	received := 0
	sent := d.n
	for received < sent {
		select {
		case err := <-done:
			received++
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
			if cfg.Progress != nil && firstErr == nil {
				cfg.Progress(sj+" images", received, d.n)
			}
		case <-ctx.Done():
			// Drain what the workers still finish, then stop.
			go func() { wg.Wait(); close(done) }()
			for err := range done {
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}
			if firstErr == nil {
				firstErr = ctx.Err()
			}
			return firstErr
		}
	}
	wg.Wait()
	return firstErr
}

// worker holds one rendering goroutine's reusable state.
type worker struct {
	enc    png.Encoder
	buf    bytes.Buffer
	canvas *canvas
	em     energyMaps
}

// render draws image i of the subject, writes it, and records its labels
// and receptive-field contrasts in d.
func (w *worker) render(cfg Config, subj, i, nsdID int, models [2]*vertexModel, d *subjectData) error {
	sj := fmt.Sprintf("subj%02d", subj)
	img, lb := scene(w.canvas, rngFor(cfg.Seed, sj, "image", fmt.Sprint(i)))
	var path string
	if i < cfg.Train {
		lb.Split, lb.Index = "train", i+1
		path = algonauts.TrainImagePath(cfg.Root, subj, i+1, nsdID)
	} else {
		lb.Split, lb.Index = "test", i-cfg.Train+1
		path = algonauts.TestImagePath(cfg.Root, subj, i-cfg.Train+1, nsdID)
	}
	lb.NSDID = nsdID
	w.buf.Reset()
	if err := w.enc.Encode(&w.buf, img); err != nil {
		return fmt.Errorf("simulate: encode %s: %w", path, err)
	}
	if err := writeFile(path, w.buf.Bytes()); err != nil {
		return err
	}
	w.em.compute(img)
	for h, m := range models {
		row := d.contrast[h][i*m.n : (i+1)*m.n]
		for j := range row {
			row[j] = w.em.contrast(m.samp[j])
		}
	}
	d.labels[i] = lb
	copy(d.signal[i*numCategories:], lb.Signal)
	return nil
}

// bufferPool is a png.EncoderBufferPool shared by one Generate's workers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}

func (b *bufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

// writeResponses turns the receptive-field contrasts in c (images ×
// vertices, overwritten) into true and measured responses and writes the
// training fMRI and the hemisphere's truth files.
func writeResponses(cfg Config, subj int, l *hemiLayout, m *vertexModel, d *subjectData, c []float32) error {
	sj := fmt.Sprintf("subj%02d", subj)
	n, v := d.n, m.n
	// Standardised category signals.
	sig := slices.Clone(d.signal)
	standardiseColumns(sig, n, numCategories)
	// Column statistics of the contrasts.
	cm, cs := columnStats(c, n, v)
	for i := range n {
		row := c[i*v : (i+1)*v]
		s := sig[i*numCategories : (i+1)*numCategories]
		for j := range row {
			w := m.w[j*numFeatures : (j+1)*numFeatures]
			x := 0.0
			if cs[j] > 1e-12 {
				x = float64(w[0]) * (float64(row[j]) - cm[j]) / cs[j]
			}
			for k, sk := range s {
				x += float64(w[1+k]) * sk
			}
			row[j] = float32(x)
		}
	}
	// Standardise the truth per vertex and scale it by the amplitude.
	tm, ts := columnStats(c, n, v)
	for i := range n {
		row := c[i*v : (i+1)*v]
		for j := range row {
			if ts[j] > 1e-12 {
				row[j] = float32(float64(m.amp[j]) * (float64(row[j]) - tm[j]) / ts[j])
			} else {
				row[j] = 0
			}
		}
	}
	// Measured = truth + noise/√repeats, one random stream per image.
	meas := make([]float32, n*v)
	for i := range n {
		r := rngFor(cfg.Seed, sj, l.hemi, "noise", fmt.Sprint(i))
		f := 1 / math.Sqrt(float64(d.repeats[i]))
		row, out := c[i*v:(i+1)*v], meas[i*v:(i+1)*v]
		for j := range out {
			out[j] = row[j] + float32(float64(m.noise[j])*f*r.NormFloat64())
		}
	}
	tr, te := cfg.Train*v, n*v
	td := filepath.Join(TruthDir(cfg.Root), sj)
	h := l.hemi
	writes := []struct {
		path  string
		data  []float32
		shape []int
	}{
		{algonauts.FMRIPath(cfg.Root, subj, algonauts.Hemi(h)), meas[:tr], []int{cfg.Train, v}},
		{filepath.Join(td, h+"_train_true.npy"), c[:tr], []int{cfg.Train, v}},
		{filepath.Join(td, h+"_test_true.npy"), c[tr:te], []int{cfg.Test, v}},
		{filepath.Join(td, h+"_test_measured.npy"), meas[tr:te], []int{cfg.Test, v}},
		{filepath.Join(td, h+"_ncsnr.npy"), m.ncsnr, []int{v}},
		{filepath.Join(td, h+"_amplitude.npy"), m.amp, []int{v}},
		{filepath.Join(td, h+"_noise_sd.npy"), m.noise, []int{v}},
		{filepath.Join(td, h+"_prf.npy"), m.prf, []int{v, 3}},
		{filepath.Join(td, h+"_weights.npy"), m.w, []int{v, numFeatures}},
	}
	for _, w := range writes {
		if err := npy.WriteFloat32(w.path, w.data, w.shape); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	return nil
}

// columnStats returns the mean and SD of each column of the row-major
// rows×cols matrix a.
func columnStats(a []float32, rows, cols int) (mean, sd []float64) {
	mean, sd = make([]float64, cols), make([]float64, cols)
	for i := range rows {
		for j, x := range a[i*cols : (i+1)*cols] {
			mean[j] += float64(x)
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	for i := range rows {
		for j, x := range a[i*cols : (i+1)*cols] {
			d := float64(x) - mean[j]
			sd[j] += d * d
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(rows))
	}
	return mean, sd
}

// writeMasks writes the subject's ROI masks, the all-vertices mask and the
// label mappings.
func writeMasks(root string, subj int, layouts [2]*hemiLayout) error {
	for _, l := range layouts {
		h := algonauts.Hemi(l.hemi)
		all := make([]int64, algonauts.FsaverageVertices)
		for _, v := range l.challenge {
			all[v] = 1
		}
		if err := npy.WriteInt64(algonauts.AllVerticesMaskPath(root, subj, h), all, []int{algonauts.FsaverageVertices}); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		for _, class := range roiClasses {
			if err := npy.WriteInt64(algonauts.MaskPath(root, subj, h, class, algonauts.SpaceFsaverage), l.labels[class], []int{algonauts.FsaverageVertices}); err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			cm := l.challengeMask(class)
			if err := npy.WriteInt64(algonauts.MaskPath(root, subj, h, class, algonauts.SpaceChallenge), cm, []int{len(cm)}); err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
		}
	}
	for _, class := range roiClasses {
		m := map[int]string{}
		for i, name := range roiNames[class] {
			m[i] = name
		}
		if err := algonauts.WriteMapping(algonauts.MappingPath(root, subj, class), m); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	return nil
}

// TruthLabels is the content of labels.json in a subject's truth directory.
type TruthLabels struct {
	Categories []string `json:"categories"`
	Train      []Labels `json:"train"`
	Test       []Labels `json:"test"`
}

func writeSubjectTruth(cfg Config, subj int, d *subjectData) error {
	td := filepath.Join(TruthDir(cfg.Root), fmt.Sprintf("subj%02d", subj))
	for _, w := range []struct {
		name string
		data []int64
	}{{"train_repeats.npy", d.repeats[:cfg.Train]}, {"test_repeats.npy", d.repeats[cfg.Train:]}} {
		if err := npy.WriteInt64(filepath.Join(td, w.name), w.data, []int{len(w.data)}); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	b, err := json.Marshal(TruthLabels{Categories: Categories(), Train: d.labels[:cfg.Train], Test: d.labels[cfg.Train:]})
	if err != nil {
		return fmt.Errorf("simulate: labels: %w", err)
	}
	return writeFile(filepath.Join(td, "labels.json"), b)
}

// writeFile writes b to a hidden temporary file beside path and renames it
// into place, so that readers never see a partial file (and the image
// listing skips leftovers of an interrupted run). Images are not synced one
// by one (thousands of fsyncs would dominate the run); the marker file,
// written last, is.
func writeFile(path string, b []byte) error {
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("simulate: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("simulate: write %s: %w", path, err)
	}
	return nil
}
