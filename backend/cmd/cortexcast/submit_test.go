package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/imageio"
	"cortexcast/backend/npy"
)

// submitVertices are the challenge vertices of the tiny test dataset.
var submitVertices = [2][]int{{3, 40, 41, 900, algonauts.FsaverageVertices - 1}, {7, 8, 100}}

// writeSubmitDataset writes a dataset with one subject, three small test
// images and no training data (submit needs none), and returns its root
// and the test image paths.
func writeSubmitDataset(t *testing.T) (string, []string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{algonauts.TrainImageDir(root, 1), algonauts.TestImageDir(root, 1), algonauts.ROIMaskDir(root, 1)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for i := range 3 {
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for y := range 48 {
			for x := range 64 {
				v := uint8(128 + 127*math.Sin(float64(x*(i+1))/5+float64(y*i)/3))
				img.Set(x, y, color.RGBA{v, uint8(40 * i), 255 - v, 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		p := algonauts.TestImagePath(root, 1, i+1, 845+i)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for hi, h := range algonauts.Hemis() {
		mask := make([]int64, algonauts.FsaverageVertices)
		for _, v := range submitVertices[hi] {
			mask[v] = 1
		}
		if err := npy.WriteInt64(algonauts.AllVerticesMaskPath(root, 1, h), mask, []int{algonauts.FsaverageVertices}); err != nil {
			t.Fatal(err)
		}
	}
	return root, paths
}

// writeSubmitModel saves a ridge model with deterministic weights for the
// tiny dataset and returns it.
func writeSubmitModel(t *testing.T, models string, ext features.Extractor) *encoding.SubjectModel {
	t.Helper()
	p := ext.Dim()
	m := &encoding.SubjectModel{Subject: 1, Features: ext.ID()}
	for hi := range 2 {
		v := len(submitVertices[hi])
		r := &encoding.Ridge{P: p, V: v, XMean: make([]float32, p), YMean: make([]float32, v), W: make([]float32, p*v), Alpha: make([]float32, v)}
		for j := range r.XMean {
			r.XMean[j] = float32(math.Cos(float64(j))) * 0.1
		}
		for j := range r.W {
			r.W[j] = float32(math.Sin(float64(j*(hi+3)))) / float32(p)
		}
		for j := range r.YMean {
			r.YMean[j] = float32(j) - 2
			r.Alpha[j] = 1
		}
		m.Hemis[hi] = r
	}
	if err := encoding.Save(modelDir(models, 1, ext.ID()), m, encoding.Manifest{}); err != nil {
		t.Fatal(err)
	}
	return m
}

// referencePredictions computes (x − XMean)·W + YMean in float64 from
// features extracted directly from the images.
func referencePredictions(t *testing.T, ext features.Extractor, paths []string, m *encoding.SubjectModel) [2][]float64 {
	t.Helper()
	var imgs []image.Image
	for _, p := range paths {
		img, err := imageio.DecodeFile(p, imageio.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	x, err := ext.Extract(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	var out [2][]float64
	for hi, r := range m.Hemis {
		out[hi] = make([]float64, len(paths)*r.V)
		for i := range paths {
			for v := range r.V {
				s := float64(r.YMean[v])
				for j := range r.P {
					s += (float64(x[i*r.P+j]) - float64(r.XMean[j])) * float64(r.W[j*r.V+v])
				}
				out[hi][i*r.V+v] = s
			}
		}
	}
	return out
}

func TestSubmit(t *testing.T) {
	root, paths := writeSubmitDataset(t)
	work := t.TempDir()
	models, cache := filepath.Join(work, "models"), filepath.Join(work, "features")
	ext, err := features.New("gabor")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, logs bytes.Buffer
	e := &env{stdout: &stdout, stderr: io.Discard, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := context.Background()
	out := filepath.Join(work, "sub", "submission")
	args := []string{"submit", "--data", root, "--cache", cache, "--models", models, "--out", out}

	err = run(ctx, e, args)
	if err == nil || !strings.Contains(err.Error(), "subj01: no trained model (run cortexcast train --subjects 1 first)") {
		t.Fatalf("submit without a model: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed submit left %s (%v)", out, err)
	}

	m := writeSubmitModel(t, models, ext)
	want := referencePredictions(t, ext, paths, m)
	for round := range 2 { // the second run replaces the first submission
		stdout.Reset()
		if err := run(ctx, e, args); err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, logs.String())
		}
		for hi, h := range algonauts.Hemis() {
			got, shape, err := npy.ReadFloat32(algonauts.SubmissionPath(out, 1, h))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, []int{3, len(submitVertices[hi])}) {
				t.Fatalf("%s shape %v", h, shape)
			}
			for k, g := range got {
				if d := math.Abs(float64(g) - want[hi][k]); d > 1e-4*(1+math.Abs(want[hi][k])) {
					t.Fatalf("%s prediction %d: %g, reference %g", h, k, g, want[hi][k])
				}
			}
		}
		if _, err := algonauts.ValidateSubmission(out+".zip", algonauts.ValidateOptions{Expected: map[int]algonauts.SubmissionShape{
			1: {Rows: 3, Cols: [2]int{len(submitVertices[0]), len(submitVertices[1])}}}}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"written to " + out, "valid\n", "upload " + out + ".zip"} {
			if !strings.Contains(stdout.String(), s) {
				t.Errorf("round %d: output lacks %q:\n%s", round, s, stdout.String())
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*"))
		if len(leftovers) > 0 {
			t.Errorf("round %d: temporary files left: %v", round, leftovers)
		}
	}

	// --validate, with and without the dataset.
	for _, extra := range [][]string{nil, {"--data", root}} {
		for _, p := range []string{out, out + ".zip"} {
			stdout.Reset()
			if err := run(ctx, e, append([]string{"submit", "--validate", p}, extra...)); err != nil {
				t.Errorf("validate %s %v: %v\n%s", p, extra, err, stdout.String())
			}
		}
	}
	// A broken file: the report names it and what is wrong, and the command fails.
	bad := algonauts.SubmissionPath(out, 1, algonauts.RH)
	if err := npy.WriteFloat32(bad, []float32{1, 2, float32(math.NaN()), 4}, []int{2, 2}); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	err = run(ctx, e, []string{"submit", "--validate", out, "--data", root})
	if err == nil || !strings.Contains(err.Error(), "is invalid: 2 problem(s)") {
		t.Fatalf("validating a broken submission: %v", err)
	}
	for _, s := range []string{"subj01/rh_pred_test.npy", "shape (2, 2), want (3, 3)", "1 NaN/Inf value(s), the first at row 1, column 0", "INVALID: 2 problem(s)"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, stdout.String())
		}
	}

	// --out that holds something else is not replaced.
	other := filepath.Join(work, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "thesis.tex"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, e, []string{"submit", "--data", root, "--cache", cache, "--models", models, "--out", other})
	if err == nil || !strings.Contains(err.Error(), `refusing to replace`) || !strings.Contains(err.Error(), `"thesis.tex"`) {
		t.Errorf("submit over a non-submission directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "thesis.tex")); err != nil {
		t.Error(err)
	}
}
