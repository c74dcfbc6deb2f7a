package main

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/imageio"
	"cortexcast/backend/npy"
	"cortexcast/backend/server"
	"cortexcast/meshes"
)

// saveFlat stores a copy of the served model of subject 1 under kind with all weights zero:
// it predicts its intercepts (YMean) for every image, a closed-form reference.
func saveFlat(t *testing.T, f *jobsFixture, kind string) string {
	t.Helper()
	m, _, _ := f.models.get(1)
	flat := &encoding.SubjectModel{Subject: 1, Features: m.Features}
	for hi, r := range m.Hemis {
		flat.Hemis[hi] = &encoding.Ridge{P: r.P, V: r.V, XMean: r.XMean, YMean: r.YMean, W: make([]float32, len(r.W)), Alpha: r.Alpha}
	}
	dir := kindDir(f.o.Models, 1, kind, f.ext.ID())
	if err := encoding.Save(dir, flat, encoding.Manifest{Kind: kind, Metrics: map[string]float64{"lh_val_mean_r": 0.25, "rh_val_mean_r": 0.75}}); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(dir)
}

// TestModelCache checks the one place the server gets a model for (subject, name): the served
// model, stored models of other kinds (loaded once, few kept), neural models on the compute
// backend, and clear errors for what it cannot serve.
func TestModelCache(t *testing.T) {
	f := newJobsFixture(t)
	ctx := context.Background()
	baseline := saveFlat(t, f, encoding.KindBaseline)
	kfold := saveFlat(t, f, encoding.KindRidgeKFold)
	served := filepath.Base(modelDir(f.o.Models, 1, f.ext.ID()))
	counts := [2]int{}
	for hi, h := range algonauts.Hemis() {
		v, err := f.sub.ChallengeVertices(h)
		if err != nil {
			t.Fatal(err)
		}
		counts[hi] = len(v)
	}
	cache := &modelCache{root: f.o.Models, extractorID: f.ext.ID(), served: f.models, vertices: map[int][2]int{1: counts}, keep: 1}
	predict := modelPredictor(f.ext, cache)

	img, err := imageio.DecodeFile(f.sub.Test[0].Path, imageio.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	imgs := []image.Image{img}
	x, err := f.ext.Extract(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := f.models.get(1)
	for _, name := range []string{"", served} {
		out, err := predict(ctx, name, []int{1}, imgs)
		if err != nil {
			t.Fatalf("model %q: %v", name, err)
		}
		for hi := range 2 {
			if want := m.Hemis[hi].Predict(x, 1); !closeTo(out[0][hi], want, 1e-5) {
				t.Errorf("model %q hemi %d differs from the served model's prediction", name, hi)
			}
		}
	}
	if got := cache.cached(); len(got) != 0 {
		t.Errorf("the served model was loaded a second time: cache holds %v", got)
	}
	out, err := predict(ctx, baseline, []int{1}, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for hi := range 2 {
		if !closeTo(out[0][hi], m.Hemis[hi].YMean, 1e-5) {
			t.Errorf("the zero-weight %s model does not predict its intercepts (hemi %d)", baseline, hi)
		}
	}
	first, _ := cache.load(1, baseline)
	again, _ := cache.load(1, baseline)
	if first != again {
		t.Error("a cached model was loaded again")
	}
	cache.release(first)
	cache.release(again)
	if _, err := predict(ctx, kfold, []int{1}, imgs); err != nil {
		t.Fatal(err)
	}
	if got := cache.cached(); !slices.Equal(got, []string{kfold}) {
		t.Errorf("cache keeps %v, want only the most recent %s (keep 1)", got, kfold)
	}

	// The correlation of a stored model: the flat model's predictions are constant, so r is NaN.
	src := &modelSource{dataSource: f.src, models: cache, corr: func(ctx context.Context, sub *algonauts.Subject, predict hemiPredict) ([2][]float32, error) {
		return validationCorrelationOf(ctx, quietEnv(), f.ext, f.o.Cache, f.src, sub, predict)
	}}
	corr, err := src.ModelCorrelation(ctx, 1, kfold)
	if err != nil {
		t.Fatal(err)
	}
	if len(corr[0]) != counts[0] || !isNaN32(corr[0][0]) {
		t.Errorf("correlation of the flat model: %d values, first %g; want %d NaN", len(corr[0]), corr[0][0], counts[0])
	}
	servedCorr, err := src.ModelCorrelation(ctx, 1, "")
	if _, want, _ := f.models.get(1); err != nil || !closeTo(servedCorr[0], want[0], 0) {
		t.Errorf("correlation of the served model differs from the one computed at load (%v)", err)
	}

	// What cannot be served.
	nnDir := kindDir(f.o.Models, 1, "nn-dnn", f.ext.ID())
	if err := os.CopyFS(nnDir, os.DirFS(filepath.Join(f.o.Models, baseline))); err != nil {
		t.Fatal(err)
	}
	mfPath := filepath.Join(nnDir, "manifest.json")
	b, _ := os.ReadFile(mfPath)
	os.WriteFile(mfPath, []byte(strings.Replace(string(b), `"kind": "baseline"`, `"kind": "nn-dnn"`, 1)), 0o644)
	futureDir := kindDir(f.o.Models, 1, "gp", f.ext.ID())
	if err := os.CopyFS(futureDir, os.DirFS(filepath.Join(f.o.Models, baseline))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(futureDir, "manifest.json"), []byte(strings.Replace(string(b), `"kind": "baseline"`, `"kind": "gp"`, 1)), 0o644)
	for _, c := range []struct {
		subject       int
		name, want    string
		wantsNotFound bool
	}{
		{1, "subj01_missing", "holds no model", true},
		{1, filepath.Base(futureDir), `manifest kind "gp", want one of`, false},
		{1, "../models", "not a model name", true},
		{2, baseline, "subject 1's, not subject 2's", true},
		{1, filepath.Base(nnDir), `neural model (nn-dnn): this server has no compute backend`, false},
	} {
		_, err := predict(ctx, c.name, []int{c.subject}, imgs)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, server.ErrNotFound) != c.wantsNotFound {
			t.Errorf("model %q for subject %d: error %v, want %q (not found: %v)", c.name, c.subject, err, c.want, c.wantsNotFound)
		}
	}
	if !strings.Contains(string(b), `"kind": "baseline"`) {
		t.Fatalf("manifest layout changed: %s", b)
	}

	// Models lists the mean validation r of each model.
	list, err := (&modelStore{root: f.o.Models, extractorID: f.ext.ID(), models: f.models, log: quietEnv().log}).Models()
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range list {
		if mi.Name == baseline && (mi.MeanR == nil || *mi.MeanR != 0.5) {
			t.Errorf("%s mean r %v, want 0.5", mi.Name, mi.MeanR)
		}
	}
	checkNNModel(t, f)
}

func isNaN32(x float32) bool { return x != x }

func quietEnv() *env {
	return &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
}

// checkNNModel serves a neural model: trained for one epoch, picked by name, compiled on the
// backend opened on first use, it predicts x·W + b from its stored arrays (nn-simple is
// linear), and its correlation map comes from the same predictions.
func checkNNModel(t *testing.T, f *jobsFixture) {
	if raceEnabled {
		t.Log("neural model not checked: gomlx's Go backend trips the race detector's pointer checks")
		return
	}
	ctx := context.Background()
	o := f.o
	o.Model = "nn-simple"
	o.NN = nnOptions{Epochs: 1, BatchSize: 32, LR: 1e-3}
	start := time.Now()
	if _, err := trainAll(ctx, quietEnv(), o); err != nil {
		t.Fatal(err)
	}
	t.Logf("nn-simple trained in %v", time.Since(start).Round(time.Millisecond))
	dir := kindDir(o.Models, 1, "nn-simple", f.ext.ID())
	var opened int
	cache := &modelCache{root: o.Models, extractorID: f.ext.ID(), served: f.models, keep: 1,
		vertices: map[int][2]int{1: {f.models.models[1].Hemis[0].V, f.models.models[1].Hemis[1].V}},
		backend:  func() (*compute.Backend, error) { opened++; return compute.Open("go", nil) }}
	img, err := imageio.DecodeFile(f.sub.Test[0].Path, imageio.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.ext.Extract(ctx, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	out, err := modelPredictor(f.ext, cache)(ctx, filepath.Base(dir), []int{1}, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	for hi, h := range algonauts.Hemis() {
		w, ws, err := npy.ReadFloat32(filepath.Join(dir, string(h), "param00.npy"))
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := npy.ReadFloat32(filepath.Join(dir, string(h), "param01.npy"))
		if err != nil {
			t.Fatal(err)
		}
		p, v := ws[0], ws[1]
		if len(out[0][hi]) != v || len(x) != p {
			t.Fatalf("%s: %d predictions for %d vertices, %d features for %d", h, len(out[0][hi]), v, len(x), p)
		}
		for c := 0; c < v; c += 101 {
			want := float64(b[c])
			for k := range p {
				want += float64(x[k]) * float64(w[k*v+c])
			}
			if d := math.Abs(float64(out[0][hi][c]) - want); d > 1e-3*(1+math.Abs(want)) {
				t.Fatalf("%s vertex %d: served %v, x·W+b %v", h, c, out[0][hi][c], want)
			}
		}
	}
	src := &modelSource{dataSource: f.src, models: cache, corr: func(ctx context.Context, sub *algonauts.Subject, predict hemiPredict) ([2][]float32, error) {
		return validationCorrelationOf(ctx, quietEnv(), f.ext, o.Cache, f.src, sub, predict)
	}}
	corr, err := src.ModelCorrelation(ctx, 1, filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	finite := 0
	for _, r := range corr[0] {
		if !isNaN32(r) {
			finite++
			if r < -1.0001 || r > 1.0001 {
				t.Fatalf("correlation %v outside [-1, 1]", r)
			}
		}
	}
	if len(corr[0]) != cache.vertices[1][0] || finite == 0 {
		t.Errorf("correlation map: %d values, %d finite", len(corr[0]), finite)
	}
	if opened != 1 {
		t.Errorf("backend opened %d times, want once", opened)
	}
}

// TestServedMeshes checks that serve offers every resolution in the shared data, fsaverage5
// first and built at once, the others built on demand.
func TestServedMeshes(t *testing.T) {
	dir, err := meshes.FindFsaverageDir("")
	if err != nil {
		t.Skipf("no fsaverage meshes: %v", err)
	}
	list, err := servedMeshes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 || list[0].Name != "fsaverage5" || list[0].Vertices != 10242 {
		t.Fatalf("meshes %+v: fsaverage5 is not first", list)
	}
	raw, err := list[0].Bundle()
	if err != nil {
		t.Fatal(err)
	}
	b, err := meshes.UnmarshalBundle(raw)
	if err != nil || b.Hemis[0].NumVertices != 10242 {
		t.Fatalf("fsaverage5 bundle: %v", err)
	}
	for _, m := range list[1:] {
		if !meshes.HasResolution(dir, m.Name) {
			t.Errorf("%s offered without sources", m.Name)
		}
		if m.Name == "fsaverage" && m.Vertices != meshes.FsaverageVertices {
			t.Errorf("fsaverage offered with %d vertices", m.Vertices)
		}
	}
}
