package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/npy"
	"cortexcast/meshes"
)

// tinyConfig is the fast configuration the tests generate.
func tinyConfig(root string) Config {
	return Config{Root: root, Subjects: 1, Train: 30, Test: 10, Seed: 7}
}

// tmpDir holds the datasets shared by the tests of one test binary;
// TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "simulate-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// generated writes one tiny synthetic dataset per test binary.
var generated = sync.OnceValues(func() (string, error) {
	root := filepath.Join(tmpDir, "ds")
	return root, Generate(context.Background(), tinyConfig(root))
})

func tinyDataset(t *testing.T) string {
	t.Helper()
	root, err := generated()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// sharedData returns ../shared/data beside the module root, or skips.
func sharedData(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the test directory")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "data")
	if _, err := os.Stat(filepath.Join(data, "algonauts2023", "roi_masks")); err != nil {
		t.Skipf("real masks not found at %s: %v", data, err)
	}
	return data
}

func readF32(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	v, s, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	return v, s
}

func readI64(t *testing.T, path string) ([]int64, []int) {
	t.Helper()
	v, s, err := npy.ReadInt64(path)
	if err != nil {
		t.Fatal(err)
	}
	return v, s
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func median(a []float64) float64 {
	s := append([]float64(nil), a...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Root: "x", Subjects: 1, Train: 2, Test: 2}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no root", func(c *Config) { c.Root = "" }, "Root"},
		{"no subjects", func(c *Config) { c.Subjects = 0 }, "Subjects"},
		{"too many subjects", func(c *Config) { c.Subjects = 100 }, "Subjects"},
		{"one train", func(c *Config) { c.Train = 1 }, "Train"},
		{"too many images", func(c *Config) { c.Train = 72000; c.Test = 1001 }, "73000"},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		err := c.validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: validate() = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestTruthDir(t *testing.T) {
	for in, want := range map[string]string{"/a/ds": "/a/ds.truth", "/a/ds/": "/a/ds.truth", "ds": "ds.truth"} {
		if got := TruthDir(in); got != want {
			t.Errorf("TruthDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLayoutFiles checks the files of the tiny synthetic dataset: names,
// image sizes, shapes and vertex counts against the masks.
func TestLayoutFiles(t *testing.T) {
	root := tinyDataset(t)
	cfg := tinyConfig(root)
	m, err := ReadMarker(root)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Simulated || m.Seed != 7 || m.Train != 30 || m.Test != 10 || m.Masks.Real {
		t.Errorf("marker %+v", m)
	}
	if _, err := os.Stat(filepath.Join(root, "SIMULATED.md")); err != nil {
		t.Error(err)
	}
	for split, n := range map[string]int{"training_split/training_images": cfg.Train, "test_split/test_images": cfg.Test} {
		files, err := filepath.Glob(filepath.Join(root, "subj01", split, "*.png"))
		if err != nil || len(files) != n {
			t.Fatalf("%s: %d PNGs (%v), want %d", split, len(files), err, n)
		}
		prefix := "train-"
		if strings.HasPrefix(split, "test") {
			prefix = "test-"
		}
		var ids []int
		for i, f := range files {
			var idx, id int
			if _, err := fmt.Sscanf(filepath.Base(f), prefix+"%04d_nsd-%05d.png", &idx, &id); err != nil || idx != i+1 {
				t.Fatalf("file %s: index %d (%v), want %d", f, idx, err, i+1)
			}
			ids = append(ids, id)
		}
		if !sort.IntsAreSorted(ids) {
			t.Errorf("%s: NSD ids not ascending: %v", split, ids)
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != image.Rect(0, 0, 425, 425) {
			t.Errorf("%s: bounds %v", files[0], img.Bounds())
		}
	}
	wantV := syntheticRSC
	for _, n := range syntheticStreams {
		wantV += n
	}
	for _, h := range hemis {
		all, shape := readI64(t, algonauts.AllVerticesMaskPath(root, 1, algonauts.Hemi(h)))
		count := 0
		for _, v := range all {
			count += int(v)
		}
		if len(shape) != 1 || shape[0] != algonauts.FsaverageVertices || count != wantV {
			t.Errorf("%s all-vertices: shape %v, %d ones, want (%d,) and %d", h, shape, count, algonauts.FsaverageVertices, wantV)
		}
		_, s := readF32(t, algonauts.FMRIPath(root, 1, algonauts.Hemi(h)))
		if fmt.Sprint(s) != fmt.Sprint([]int{cfg.Train, wantV}) {
			t.Errorf("%s fMRI shape %v, want [%d %d]", h, s, cfg.Train, wantV)
		}
		for _, class := range roiClasses {
			fsa, _ := readI64(t, algonauts.MaskPath(root, 1, algonauts.Hemi(h), class, "fsaverage"))
			ch, _ := readI64(t, algonauts.MaskPath(root, 1, algonauts.Hemi(h), class, "challenge"))
			if len(fsa) != algonauts.FsaverageVertices || len(ch) != wantV {
				t.Fatalf("%s %s: lengths %d, %d", h, class, len(fsa), len(ch))
			}
			// The challenge mask is the fsaverage mask at the challenge
			// vertices, and nothing is labelled outside them.
			j := 0
			for v, lab := range fsa {
				if all[v] == 0 {
					if lab != 0 {
						t.Fatalf("%s %s: label %d outside the challenge vertices at %d", h, class, lab, v)
					}
					continue
				}
				if ch[j] != lab {
					t.Fatalf("%s %s: challenge[%d] = %d, fsaverage[%d] = %d", h, class, j, ch[j], v, lab)
				}
				j++
			}
		}
		td := filepath.Join(TruthDir(root), "subj01")
		for name, want := range map[string][]int{
			"_train_true.npy": {cfg.Train, wantV}, "_test_true.npy": {cfg.Test, wantV}, "_test_measured.npy": {cfg.Test, wantV},
			"_ncsnr.npy": {wantV}, "_prf.npy": {wantV, 3}, "_weights.npy": {wantV, numFeatures},
		} {
			if _, s := readF32(t, filepath.Join(td, h+name)); fmt.Sprint(s) != fmt.Sprint(want) {
				t.Errorf("%s%s shape %v, want %v", h, name, s, want)
			}
		}
	}
}

// TestFlocBlobs checks every floc ROI of the synthetic layout has its
// documented size and host stream.
func TestFlocBlobs(t *testing.T) {
	for _, h := range hemis {
		l := syntheticLayout(h)
		for _, b := range flocBlobs {
			n := 0
			for v, lab := range l.labels[b.Class] {
				if lab != b.Label {
					continue
				}
				n++
				if s := l.labels["streams"][v]; s != b.Hosts[0] || l.labels["prf-visualrois"][v] != 0 {
					t.Fatalf("%s %s: vertex %d in stream %d, want %d", h, b.Name, v, s, b.Hosts[0])
				}
			}
			if n != b.Size {
				t.Errorf("%s %s: %d vertices, want %d", h, b.Name, n, b.Size)
			}
		}
	}
}

// TestDeterministic generates the same configuration twice and compares
// every file byte for byte; a third run with another seed must differ.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Subjects: 2, Train: 4, Test: 2, Seed: 3}
	for _, name := range []string{"a", "b", "c"} {
		c := cfg
		c.Root = filepath.Join(dir, name, "ds")
		if name == "c" {
			c.Seed = 4
		}
		if err := Generate(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	files := func(root string) map[string][]byte {
		out := map[string][]byte{}
		for _, r := range []string{root, TruthDir(root)} {
			err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				out[rel[1:]] = b // drop the a/b/c prefix
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	a, b, c := files(filepath.Join(dir, "a", "ds")), files(filepath.Join(dir, "b", "ds")), files(filepath.Join(dir, "c", "ds"))
	if len(a) != len(b) || len(a) < 60 {
		t.Fatalf("%d and %d files", len(a), len(b))
	}
	for name, ba := range a {
		if !bytes.Equal(ba, b[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		// With another seed the masks stay (same layout) but images, ids,
		// responses and the truth change.
		if mask := strings.Contains(name, "roi_masks"); mask != bytes.Equal(ba, c[name]) {
			t.Errorf("%s: equal across seeds is %v, want %v", name, !mask, mask)
		}
	}
}

// gaussianRMS is the independent reference for receptive-field contrast:
// the Gaussian-weighted standard deviation of the full-resolution luminance
// around (x, y) degrees with σ degrees.
func gaussianRMS(img image.Image, x, y, sigma float64) float64 {
	ppd := float64(ImageSize) / StimulusDegrees
	cx, cy := float64(ImageSize)/2+x*ppd, float64(ImageSize)/2-y*ppd
	s := sigma * ppd
	var sw, sl, sll float64
	for py := 0; py < ImageSize; py++ {
		dy := float64(py) + 0.5 - cy
		if math.Abs(dy) > 3*s {
			continue
		}
		for px := 0; px < ImageSize; px++ {
			dx := float64(px) + 0.5 - cx
			if math.Abs(dx) > 3*s {
				continue
			}
			w := math.Exp(-(dx*dx + dy*dy) / (2 * s * s))
			r, g, b, _ := img.At(px, py).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 65535
			sw += w
			sl += w * l
			sll += w * l * l
		}
	}
	m := sl / sw
	return math.Sqrt(math.Max(0, sll/sw-m*m))
}

// TestEarlyVisualFollowsContrast: the truth of V1 vertices correlates with
// the RMS contrast that an independent full-resolution computation finds
// in their receptive field, and much less with the contrast at the
// opposite point of the visual field.
func TestEarlyVisualFollowsContrast(t *testing.T) {
	root := tinyDataset(t)
	cfg := tinyConfig(root)
	td := filepath.Join(TruthDir(root), "subj01")
	truth, _ := readF32(t, filepath.Join(td, "lh_train_true.npy"))
	prf, _ := readF32(t, filepath.Join(td, "lh_prf.npy"))
	roi, _ := readI64(t, algonauts.MaskPath(root, 1, algonauts.Hemi("lh"), "prf-visualrois", "challenge"))
	v := len(roi)
	files, _ := filepath.Glob(filepath.Join(root, "subj01", "training_split", "training_images", "*.png"))
	imgs := make([]image.Image, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if imgs[i], err = png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	var rs, opp []float64
	for j := 0; j < v && len(rs) < 24; j += 37 {
		if roi[j] != 1 && roi[j] != 2 { // V1v, V1d
			continue
		}
		x, y, s := float64(prf[3*j]), float64(prf[3*j+1]), float64(prf[3*j+2])
		if x <= 0 {
			t.Fatalf("left-hemisphere V1 vertex %d has pRF x = %g, want the right visual field", j, x)
		}
		if (roi[j] == 1) != (y > 0) {
			t.Fatalf("V1 label %d vertex %d has pRF y = %g: ventral must see the upper field", roi[j], j, y)
		}
		tv, c, o := make([]float64, cfg.Train), make([]float64, cfg.Train), make([]float64, cfg.Train)
		for i := range cfg.Train {
			tv[i] = float64(truth[i*v+j])
			c[i] = gaussianRMS(imgs[i], x, y, s)
			o[i] = gaussianRMS(imgs[i], -x, -y, s)
		}
		rs = append(rs, pearson(tv, c))
		opp = append(opp, pearson(tv, o))
	}
	if len(rs) < 10 {
		t.Fatalf("only %d V1 vertices sampled", len(rs))
	}
	mr, mo := median(rs), median(opp)
	t.Logf("median r(truth, RF contrast) = %.3f, at the opposite point %.3f (%d vertices)", mr, mo, len(rs))
	if mr < 0.8 || mo > mr-0.3 {
		t.Errorf("median r = %.3f (want ≥ 0.8), opposite point %.3f (want ≤ r − 0.3)", mr, mo)
	}
}

func readLabels(t *testing.T, root string) TruthLabels {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(TruthDir(root), "subj01", "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tl TruthLabels
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	return tl
}

// TestCategoryROIs: in every floc class the ROI vertices' truth is higher
// on images with the class's category than on images without it.
func TestCategoryROIs(t *testing.T) {
	root := tinyDataset(t)
	cfg := tinyConfig(root)
	tl := readLabels(t, root)
	if len(tl.Train) != cfg.Train || len(tl.Test) != cfg.Test {
		t.Fatalf("labels: %d train, %d test", len(tl.Train), len(tl.Test))
	}
	truth, _ := readF32(t, filepath.Join(TruthDir(root), "subj01", "rh_train_true.npy"))
	for class, cat := range map[string]string{"floc-faces": "face", "floc-bodies": "body", "floc-places": "place", "floc-words": "word"} {
		roi, _ := readI64(t, algonauts.MaskPath(root, 1, algonauts.Hemi("rh"), class, "challenge"))
		v := len(roi)
		var with, without []float64
		for i, lb := range tl.Train {
			has := false
			for _, p := range lb.Present {
				has = has || p == cat
			}
			var s float64
			n := 0
			for j, lab := range roi {
				if lab != 0 {
					s += float64(truth[i*v+j])
					n++
				}
			}
			if has {
				with = append(with, s/float64(n))
			} else {
				without = append(without, s/float64(n))
			}
		}
		if len(with) < 3 || len(without) < 3 {
			t.Fatalf("%s: %d images with %s, %d without", class, len(with), cat, len(without))
		}
		mw, mo := mean(with), mean(without)
		t.Logf("%s: mean truth %.2f with %s, %.2f without", class, mw, cat, mo)
		if mw-mo < 1 {
			t.Errorf("%s: mean truth %.2f with %s, %.2f without; want a difference ≥ 1", class, mw, cat, mo)
		}
	}
}

func mean(a []float64) float64 {
	var s float64
	for _, x := range a {
		s += x
	}
	return s / float64(len(a))
}

// TestNCSNR: the written ncsnr matches the empirical ratio of the truth's
// SD to the single-trial noise RMS, (measured − truth)·√repeats, over the
// training and test images.
func TestNCSNR(t *testing.T) {
	root := tinyDataset(t)
	cfg := tinyConfig(root)
	n := cfg.Train + cfg.Test
	td := filepath.Join(TruthDir(root), "subj01")
	for _, h := range hemis {
		measTr, _ := readF32(t, algonauts.FMRIPath(root, 1, algonauts.Hemi(h)))
		measTe, _ := readF32(t, filepath.Join(td, h+"_test_measured.npy"))
		truthTr, _ := readF32(t, filepath.Join(td, h+"_train_true.npy"))
		truthTe, _ := readF32(t, filepath.Join(td, h+"_test_true.npy"))
		meas, truth := append(measTr, measTe...), append(truthTr, truthTe...)
		ncsnr, _ := readF32(t, filepath.Join(td, h+"_ncsnr.npy"))
		repTr, _ := readI64(t, filepath.Join(td, "train_repeats.npy"))
		repTe, _ := readI64(t, filepath.Join(td, "test_repeats.npy"))
		rep := append(repTr, repTe...)
		v := len(ncsnr)
		var ratios, est, want []float64
		for j := 0; j < v; j += 7 {
			tv := make([]float64, n)
			var ss float64
			for i := range n {
				tv[i] = float64(truth[i*v+j])
				e := float64(meas[i*v+j]-truth[i*v+j]) * math.Sqrt(float64(rep[i]))
				ss += e * e
			}
			e := sd(tv) / math.Sqrt(ss/float64(n))
			ratios = append(ratios, e/float64(ncsnr[j]))
			est = append(est, e)
			want = append(want, float64(ncsnr[j]))
		}
		m, r := median(ratios), pearson(est, want)
		t.Logf("%s: median empirical/written ncsnr %.3f, r = %.3f", h, m, r)
		if math.Abs(m-1) > 0.03 || r < 0.9 {
			t.Errorf("%s: median empirical/written ncsnr %.3f (want 1 ± 0.03), r = %.3f (want ≥ 0.9)", h, m, r)
		}
	}
}

func sd(a []float64) float64 {
	m := mean(a)
	var s float64
	for _, x := range a {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(a)))
}

// TestRealMasks builds the layout from the real masks: the challenge
// vertices are streams ∪ RSC (18,972 lh / 20,443 rh, counted with nibabel
// and numpy from the same files) and the visual ROIs keep their label
// counts (roi_masks/SOURCE.md).
func TestRealMasks(t *testing.T) {
	data := sharedData(t)
	masks := filepath.Join(data, "algonauts2023", "roi_masks")
	ls, src, err := loadLayouts(masks, findSphereDir("", masks))
	if err != nil {
		t.Fatal(err)
	}
	if !src.Real || src.RSC != "mgz" || src.Floc != "sphere" {
		t.Errorf("source %+v", src)
	}
	want := map[string]struct {
		n   int
		prf []int
		rsc int
	}{
		"lh": {18972, []int{710, 828, 632, 692, 567, 669, 531}, 543},
		"rh": {20443, []int{444, 991, 887, 725, 682, 535, 765}, 1021},
	}
	for _, l := range ls {
		w := want[l.hemi]
		if len(l.challenge) != w.n {
			t.Errorf("%s: %d challenge vertices, want %d", l.hemi, len(l.challenge), w.n)
		}
		counts := make([]int, 8)
		for _, lab := range l.challengeMask("prf-visualrois") {
			counts[lab]++
		}
		if fmt.Sprint(counts[1:]) != fmt.Sprint(w.prf) {
			t.Errorf("%s: prf-visualrois counts %v, want %v", l.hemi, counts[1:], w.prf)
		}
		rsc := 0
		for _, lab := range l.labels["floc-places"] {
			if lab == rscLabel {
				rsc++
			}
		}
		if rsc != w.rsc {
			t.Errorf("%s: %d RSC vertices, want %d", l.hemi, rsc, w.rsc)
		}
	}
}

// TestGenerateRealMasks writes a tiny dataset over the real masks.
func TestGenerateRealMasks(t *testing.T) {
	data := sharedData(t)
	root := filepath.Join(t.TempDir(), "ds")
	cfg := Config{Root: root, Subjects: 1, Train: 3, Test: 2, Seed: 1, MasksDir: filepath.Join(data, "algonauts2023", "roi_masks")}
	if err := Generate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for h, n := range map[string]int{"lh": 18972, "rh": 20443} {
		if _, s := readF32(t, algonauts.FMRIPath(root, 1, algonauts.Hemi(h))); fmt.Sprint(s) != fmt.Sprint([]int{3, n}) {
			t.Errorf("%s fMRI shape %v, want [3 %d]", h, s, n)
		}
		streams, _ := readI64(t, algonauts.MaskPath(root, 1, algonauts.Hemi(h), "streams", "fsaverage"))
		real, _ := readI64(t, filepath.Join(cfg.MasksDir, h+".streams_fsaverage_space.npy"))
		if !equalInt64(streams, real) {
			t.Errorf("%s: streams mask differs from the real one", h)
		}
	}
}

func equalInt64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := filepath.Join(t.TempDir(), "ds")
	err := Generate(ctx, Config{Root: root, Subjects: 1, Train: 50, Test: 5, Seed: 1})
	if err == nil {
		t.Fatal("Generate with a cancelled context succeeded")
	}
	if _, err := ReadMarker(root); err == nil {
		t.Error("a cancelled run left a marker")
	}
}

// TestLoadsWithAlgonauts opens the tiny dataset with the algonauts package
// and checks what it reads against the generator's own layout.
func TestLoadsWithAlgonauts(t *testing.T) {
	root := tinyDataset(t)
	cfg := tinyConfig(root)
	ds, err := algonauts.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Subjects(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("subjects %v", got)
	}
	s, err := ds.Subject(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Train) != cfg.Train || len(s.Test) != cfg.Test {
		t.Fatalf("%d train, %d test images", len(s.Train), len(s.Test))
	}
	tl := readLabels(t, root)
	for i, im := range s.Train {
		if im.NSDID != tl.Train[i].NSDID || tl.Train[i].Index != i+1 {
			t.Fatalf("train image %d: NSD id %d, labels say %d", i+1, im.NSDID, tl.Train[i].NSDID)
		}
	}
	if !slices.Equal(roiClasses[:], algonauts.ROIClasses()) {
		t.Errorf("ROI classes %v, algonauts has %v", roiClasses, algonauts.ROIClasses())
	}
	for hi, h := range algonauts.Hemis() {
		l := syntheticLayout(hemis[hi])
		_, rows, cols, err := s.FMRI(h)
		if err != nil {
			t.Fatal(err)
		}
		if rows != cfg.Train || cols != len(l.challenge) {
			t.Errorf("%s fMRI %d×%d, want %d×%d", h, rows, cols, cfg.Train, len(l.challenge))
		}
		cv, err := s.ChallengeVertices(h)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range cv {
			if int(v) != l.challenge[j] {
				t.Fatalf("%s challenge vertex %d is %d, want %d", h, j, v, l.challenge[j])
			}
		}
		faces, err := s.ROIMask(h, "floc-faces", algonauts.SpaceChallenge)
		if err != nil {
			t.Fatal(err)
		}
		for j, lab := range l.challengeMask("floc-faces") {
			if int64(faces[j]) != lab {
				t.Fatalf("%s floc-faces[%d] = %d, want %d", h, j, faces[j], lab)
			}
		}
	}
	for _, class := range algonauts.ROIClasses() {
		m, err := s.Mapping(class)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := algonauts.DefaultMapping(class)
		if fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("mapping %s = %v, want %v", class, m, want)
		}
	}
}

// TestSphereBlobsCompact: with the fsaverage sphere each floc ROI has its
// documented size in its host stream and is compact: its RMS distance from
// its centroid is under 10 (the sphere's radius is 100; a disc of 100–600
// fsaverage vertices has an RMS radius of about 3–8, index neighbourhoods
// spread over 14–32).
func TestSphereBlobsCompact(t *testing.T) {
	data := sharedData(t)
	masks := filepath.Join(data, "algonauts2023", "roi_masks")
	sd := findSphereDir("", masks)
	if sd == "" {
		t.Skip("fsaverage spheres not found beside the masks")
	}
	ls, _, err := loadLayouts(masks, sd)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		surf, err := meshes.ReadSurface(filepath.Join(sd, sphereNames[i]))
		if err != nil {
			t.Fatal(err)
		}
		p := surf.Positions
		for _, b := range flocBlobs {
			var vs []int
			var c [3]float64
			for v, lab := range l.labels[b.Class] {
				if lab == b.Label {
					vs = append(vs, v)
					for k := range 3 {
						c[k] += float64(p[3*v+k])
					}
					if s := l.labels["streams"][v]; s != b.Hosts[0] {
						t.Fatalf("%s %s: vertex %d in stream %d, want %d", l.hemi, b.Name, v, s, b.Hosts[0])
					}
				}
			}
			if len(vs) != b.Size {
				t.Errorf("%s %s: %d vertices, want %d", l.hemi, b.Name, len(vs), b.Size)
				continue
			}
			var ss float64
			for _, v := range vs {
				for k := range 3 {
					d := float64(p[3*v+k]) - c[k]/float64(len(vs))
					ss += d * d
				}
			}
			if r := math.Sqrt(ss / float64(len(vs))); r > 10 {
				t.Errorf("%s %s: RMS radius %.1f, want < 10", l.hemi, b.Name, r)
			}
		}
	}
}
