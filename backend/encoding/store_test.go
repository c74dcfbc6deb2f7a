package encoding

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func smallRidge(p, v int, seed float32) *Ridge {
	r := &Ridge{P: p, V: v, XMean: make([]float32, p), YMean: make([]float32, v), W: make([]float32, p*v), Alpha: make([]float32, v)}
	for k := range p {
		r.XMean[k] = seed + float32(k)
	}
	for j := range v {
		r.YMean[j] = -seed * float32(j)
		r.Alpha[j] = float32(math.Pow(10, float64(j%5)))
	}
	for i := range r.W {
		r.W[i] = seed * float32(i%13) / 7
	}
	return r
}

func sameRidge(t *testing.T, name string, got, want *Ridge) {
	t.Helper()
	if got.P != want.P || got.V != want.V || !slices.Equal(got.XMean, want.XMean) || !slices.Equal(got.YMean, want.YMean) ||
		!slices.Equal(got.W, want.W) || !slices.Equal(got.Alpha, want.Alpha) {
		t.Errorf("%s: loaded ridge differs from the saved one", name)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	root := t.TempDir()
	m := &SubjectModel{Subject: 3, Features: "gabor-v1", Hemis: [2]*Ridge{smallRidge(4, 6, 1.5), smallRidge(4, 5, -2)},
		Meta: map[string]string{"note": "test"}}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := Manifest{
		Alphas:          []float64{0.1, 1, 10},
		Metrics:         map[string]float64{"lh_median_r": 0.25, "bad": math.NaN()},
		DataFingerprint: "sha256:abc",
		CodeVersion:     "v0.1.0",
		Created:         created,
	}
	dir := filepath.Join(root, "subj03-gabor")
	if err := Save(dir, m, in); err != nil {
		t.Fatal(err)
	}
	got, mf, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != 3 || got.Features != "gabor-v1" || got.Meta["note"] != "test" {
		t.Errorf("loaded model %+v", got)
	}
	sameRidge(t, "lh", got.Hemis[0], m.Hemis[0])
	sameRidge(t, "rh", got.Hemis[1], m.Hemis[1])
	want := Manifest{
		Format: StoreFormat, Name: "subj03-gabor", Subject: 3, Features: "gabor-v1", FeatureDim: 4, Kind: "ridge",
		Alphas: []float64{0.1, 1, 10}, Hemis: []HemiInfo{{"lh", 6}, {"rh", 5}},
		Metrics: map[string]float64{"lh_median_r": 0.25}, DataFingerprint: "sha256:abc", CodeVersion: "v0.1.0",
		Created: created, Meta: map[string]string{"note": "test"},
	}
	if !manifestEqual(*mf, want) {
		t.Errorf("manifest\n got %+v\nwant %+v", *mf, want)
	}

	// Replace the model with a one-hemisphere model; only the new one remains, no leftovers.
	m2 := &SubjectModel{Subject: 3, Features: "gabor-v2", Hemis: [2]*Ridge{nil, smallRidge(2, 3, 7)}}
	if err := Save(dir, m2, Manifest{Alphas: []float64{1}}); err != nil {
		t.Fatal(err)
	}
	got, mf, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Features != "gabor-v2" || got.Hemis[0] != nil || mf.Created.IsZero() || len(mf.Hemis) != 1 || mf.Kind != KindRidge {
		t.Errorf("replaced model: %+v, manifest %+v", got, mf)
	}
	sameRidge(t, "rh after replace", got.Hemis[1], m2.Hemis[1])
	if _, err := os.Stat(filepath.Join(dir, "lh_w.npy")); !os.IsNotExist(err) {
		t.Errorf("lh_w.npy of the replaced model still there (stat: %v)", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("store holds %d entries after replace, want 1", len(entries))
	}
}

func TestSaveKinds(t *testing.T) {
	root := t.TempDir()
	m := &SubjectModel{Subject: 1, Features: "f", Hemis: [2]*Ridge{smallRidge(2, 3, 1), nil}}
	for _, kind := range RidgeKinds() {
		dir := filepath.Join(root, kind)
		if err := Save(dir, m, Manifest{Kind: kind}); err != nil {
			t.Fatalf("kind %s: %v", kind, err)
		}
		_, mf, err := Load(dir)
		if err != nil {
			t.Fatalf("kind %s: %v", kind, err)
		}
		if mf.Kind != kind {
			t.Errorf("saved kind %q, loaded %q", kind, mf.Kind)
		}
	}
	err := Save(filepath.Join(root, "mlp"), m, Manifest{Kind: "mlp"})
	if err == nil || !strings.Contains(err.Error(), `kind "mlp"`) {
		t.Errorf("saving kind mlp: err %v, want one naming the kind", err)
	}
	if _, err := os.Stat(filepath.Join(root, "mlp")); !os.IsNotExist(err) {
		t.Errorf("a refused model left a directory (stat: %v)", err)
	}
}

func manifestEqual(a, b Manifest) bool {
	if len(a.Metrics) != len(b.Metrics) || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range b.Metrics {
		if a.Metrics[k] != v {
			return false
		}
	}
	for k, v := range b.Meta {
		if a.Meta[k] != v {
			return false
		}
	}
	return a.Format == b.Format && a.Name == b.Name && a.Subject == b.Subject && a.Features == b.Features &&
		a.FeatureDim == b.FeatureDim && a.Kind == b.Kind && slices.Equal(a.Alphas, b.Alphas) &&
		slices.Equal(a.Hemis, b.Hemis) && a.DataFingerprint == b.DataFingerprint &&
		a.CodeVersion == b.CodeVersion && a.Created.Equal(b.Created)
}

func TestListSkipsTempAndForeignDirs(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"b-model", "a-model"} {
		m := &SubjectModel{Subject: i + 1, Features: "f", Hemis: [2]*Ridge{smallRidge(2, 2, 1), nil}}
		if err := Save(filepath.Join(root, name), m, Manifest{}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-Save leaves a complete-looking temp dir: it must not be listed.
	m := &SubjectModel{Subject: 9, Features: "f", Hemis: [2]*Ridge{smallRidge(2, 2, 1), nil}}
	if err := Save(filepath.Join(root, "c-model"), m, Manifest{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "c-model"), filepath.Join(root, "c-model.tmp-123")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "not-a-model"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a-model" || list[1].Name != "b-model" || list[0].Subject != 2 {
		t.Errorf("List = %+v, want a-model (subject 2) and b-model", list)
	}

	// A broken manifest is reported by name while the good models are still listed.
	bad := filepath.Join(root, "d-model")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "manifest.json"), []byte(`{"format": 1`), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err = List(root)
	if len(list) != 2 || err == nil || !strings.Contains(err.Error(), filepath.Join("d-model", "manifest.json")) {
		t.Errorf("List with a broken model: %d models, error %v", len(list), err)
	}

	if err := Remove(filepath.Join(root, "a-model")); err != nil {
		t.Fatal(err)
	}
	list, _ = List(root)
	if len(list) != 1 || list[0].Name != "b-model" {
		t.Errorf("after Remove: %+v", list)
	}
	if list, err := List(filepath.Join(root, "missing")); list != nil || err != nil {
		t.Errorf("missing store: %v, %v", list, err)
	}
}

func TestSaveRejectsBadModels(t *testing.T) {
	root := t.TempDir()
	bad := smallRidge(3, 4, 1)
	bad.W = bad.W[:5]
	tests := []struct {
		name string
		m    *SubjectModel
		want string
	}{
		{"nil", nil, "nil model"},
		{"no hemisphere", &SubjectModel{}, "no hemisphere"},
		{"short W", &SubjectModel{Hemis: [2]*Ridge{bad, nil}}, "lh ridge: len(W)=5, want P×V=3×4"},
		{"feature mismatch", &SubjectModel{Hemis: [2]*Ridge{smallRidge(3, 2, 1), smallRidge(4, 2, 1)}}, "rh ridge has 4 features"},
	}
	for _, tc := range tests {
		dir := filepath.Join(root, "m")
		err := Save(dir, tc.m, Manifest{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("%s: failed Save left %d entries", tc.name, len(entries))
		}
	}
}

func TestLoadChecksFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "m")
	m := &SubjectModel{Subject: 1, Features: "f", Hemis: [2]*Ridge{smallRidge(3, 4, 1), smallRidge(3, 2, 1)}}
	if err := Save(dir, m, Manifest{}); err != nil {
		t.Fatal(err)
	}
	// A weight file with the wrong shape: the error names it.
	if err := os.Rename(filepath.Join(dir, "rh_w.npy"), filepath.Join(dir, "keep.npy")); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(dir, "lh_w.npy"), filepath.Join(dir, "rh_w.npy")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "rh_w.npy has shape [3 4], the manifest says [3 2]") {
		t.Errorf("wrong shape: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "rh_w.npy")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "rh_w.npy") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := Load(filepath.Join(root, "none")); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("missing model: %v", err)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func TestParseManifestErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"format":2,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"lh","vertices":2}]}`, "format 2"},
		{`{"format":1,"kind":"mlp","feature_dim":3,"hemis":[{"hemi":"lh","vertices":2}]}`, `kind "mlp"`},
		{`{"format":1,"kind":"ridge","feature_dim":0,"hemis":[{"hemi":"lh","vertices":2}]}`, "feature_dim 0"},
		{`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[]}`, "0 hemispheres"},
		{`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"xh","vertices":2}]}`, `hemis[0] is "xh"`},
		{`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"rh","vertices":2},{"hemi":"lh","vertices":2}]}`, "lh before rh"},
		{`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"lh","vertices":2},{"hemi":"lh","vertices":2}]}`, "lh before rh"},
		{`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"lh","vertices":-1}]}`, "-1 vertices"},
		{`{"format":1,"kind":"ridge","extra":true}`, "unknown field"},
		{`[1,2]`, "decoding manifest"},
	}
	for _, tc := range tests {
		_, err := ParseManifest([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.body, err, tc.want)
		}
	}
	ok := `{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"lh","vertices":2},{"hemi":"rh","vertices":5}]}`
	if mf, err := ParseManifest([]byte(ok)); err != nil || mf.Hemis[1].Vertices != 5 {
		t.Errorf("valid manifest: %+v, %v", mf, err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"kind":"ridge","feature_dim":3,"hemis":[{"hemi":"lh","vertices":2},{"hemi":"rh","vertices":5}],"metrics":{"r":0.5},"created":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		mf, err := ParseManifest(body)
		if err != nil {
			return
		}
		if mf.Format != StoreFormat || !slices.Contains(Kinds(), mf.Kind) || mf.FeatureDim < 1 || len(mf.Hemis) < 1 || len(mf.Hemis) > 2 {
			t.Fatalf("accepted an invalid manifest: %+v", mf)
		}
		for _, h := range mf.Hemis {
			if hemiIndex(h.Hemi) < 0 || h.Vertices < 1 {
				t.Fatalf("accepted hemisphere %+v", h)
			}
		}
	})
}

// TestSaveFiles writes a model that is not a ridge: the files fill makes and the manifest land
// in the directory, List shows it with its loss curves, Load refuses it, and the kinds are kept
// apart (Save refuses nn kinds, SaveFiles ridge ones).
func TestSaveFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "subj01_nn-dnn_f")
	loss := []LossCurve{{Hemi: "lh", Split: "train", Values: []float64{2, 1}}, {Hemi: "lh", Split: "val", Values: []float64{2.5, 1.5}}}
	mf := Manifest{Subject: 1, Features: "f", FeatureDim: 3, Kind: "nn-dnn", Hemis: []HemiInfo{{Hemi: "lh", Vertices: 4}}, Loss: loss}
	if err := SaveFiles(dir, mf, func(tmp string) error { return os.WriteFile(filepath.Join(tmp, "weights.bin"), []byte("w"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "weights.bin")); err != nil || string(b) != "w" {
		t.Fatalf("the filled file: %q, %v", b, err)
	}
	got, err := List(root)
	if err != nil || len(got) != 1 {
		t.Fatalf("List: %d models, %v", len(got), err)
	}
	if got[0].Kind != "nn-dnn" || len(got[0].Loss) != 2 || !slices.Equal(got[0].Loss[1].Values, loss[1].Values) {
		t.Errorf("listed manifest %+v", got[0])
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "neural") {
		t.Errorf("Load of a neural model: err %v", err)
	}
	m := &SubjectModel{Subject: 1, Features: "f", Hemis: [2]*Ridge{smallRidge(2, 3, 1), nil}}
	if err := Save(filepath.Join(root, "r"), m, Manifest{Kind: "nn-dnn"}); err == nil {
		t.Error("Save accepted an nn kind")
	}
	bad := mf
	bad.Kind = KindRidge
	if err := SaveFiles(filepath.Join(root, "s"), bad, func(string) error { return nil }); err == nil {
		t.Error("SaveFiles accepted a ridge kind")
	}
	bad = mf
	bad.Hemis = nil
	if err := SaveFiles(filepath.Join(root, "s"), bad, func(string) error { return nil }); err == nil {
		t.Error("SaveFiles accepted no hemisphere")
	}
	failed := filepath.Join(root, "failed")
	if err := SaveFiles(failed, mf, func(string) error { return errors.New("disk full") }); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("a failing fill: err %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("the store holds %d entries after the refused saves, want the one model", len(entries))
	}
}
