package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// syntheticInput is a small report input whose numbers are worked out by hand in the tests.
func syntheticInput() Input {
	nan := float32(math.NaN())
	return Input{
		Title: "test report", Dataset: "data/sim", Simulated: true,
		Models: []Model{
			{
				Name: "subj01_ridge_feat", Subject: 1, Kind: "ridge", Features: "feat",
				Created: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC),
				ValR:    []float32{0.25, 0.5, nan, 0.125, 0.75},
				TruthR:  []float32{0.5, 0.5, 0.25, nan, 1},
				ROIs: []ROI{
					{Hemi: "lh", Class: "all", Name: "all", Vertices: 100, ValR: 0.4, TruthR: 0.6, MeasR: 0.3, CeilingR: 0.5, Fraction: 0.6},
					{Hemi: "lh", Class: "prf-visualrois", Name: "V1v", Vertices: 10, ValR: 0.5, TruthR: 0.8, MeasR: 0.4, CeilingR: 0.5, Fraction: 0.8},
					{Hemi: "rh", Class: "prf-visualrois", Name: "V2d", Vertices: 30, ValR: 0.45, TruthR: 0.7, MeasR: 0.3, CeilingR: 0.6, Fraction: 0.5},
					{Hemi: "rh", Class: "prf-visualrois", Name: "hV4", Vertices: 20, ValR: 0.2, TruthR: 0.3, MeasR: 0.1, CeilingR: 0.9, Fraction: 0.1 / 0.9},
					{Hemi: "rh", Class: "streams", Name: "early", Vertices: 50, ValR: 0.3, TruthR: 0.5, MeasR: 0.2, CeilingR: 0.8, Fraction: 0.25},
				},
				Alphas:      []float64{1, 10, 100},
				AlphaCounts: []HemiCounts{{"lh", []int{1, 2, 0}}, {"rh", []int{0, 1, 1}}},
			},
			{
				Name: "subj01_baseline_feat", Subject: 1, Kind: "baseline", Features: "feat",
				ValR:   []float32{0.5, 0.25},
				TruthR: []float32{0.75, 0.25},
				ROIs:   []ROI{{Hemi: "lh", Class: "all", Name: "all", Vertices: 2, ValR: 0.375, MeasR: 0.2, CeilingR: 0.4, Fraction: 0.5}},
				Loss:   []Curve{{"train", []float64{1, 0.5, 0.25}}, {"val", []float64{1.5, 0.75, 0.625}}},
			},
		},
	}
}

func TestSummariseNumbers(t *testing.T) {
	s, err := Summarise(syntheticInput())
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Models[0], s.Models[1]
	// Finite validation r of model a: 0.25, 0.5, 0.125, 0.75.
	if a.Vertices != 4 || a.ValMeanR != 1.625/4 || a.ValMedianR != 0.375 {
		t.Errorf("model a: vertices %d mean %v median %v, want 4, 0.40625, 0.375", a.Vertices, a.ValMeanR, a.ValMedianR)
	}
	if a.TruthMeanR != 2.25/4 {
		t.Errorf("model a truth mean r %v, want 0.5625", a.TruthMeanR)
	}
	// V1v and V2d only: (10·0.4 + 30·0.3) / (10·0.5 + 30·0.6) = 13/23.
	if math.Abs(a.EarlyFraction-13.0/23) > 1e-15 {
		t.Errorf("model a V1–V3 fraction %v, want 13/23", a.EarlyFraction)
	}
	if b.ValMedianR != 0.375 || b.EarlyFraction != 0 || len(b.Figures) != 3 || len(a.Figures) != 3 {
		t.Errorf("model b: median %v fraction %v, %d figures (a: %d), want 0.375, 0, 3 (3)", b.ValMedianR, b.EarlyFraction, len(b.Figures), len(a.Figures))
	}
}

func TestSummariseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Input)
		want string
	}{
		{"no name", func(in *Input) { in.Models[1].Name = "" }, "models[1] has no name"},
		{"duplicate", func(in *Input) { in.Models[1].Name = in.Models[0].Name }, "appears twice"},
		{"truth length", func(in *Input) { in.Models[0].TruthR = in.Models[0].TruthR[:2] }, "2 truth r values for 5"},
		{"alpha counts", func(in *Input) { in.Models[0].AlphaCounts[1].Counts = []int{1} }, "rh alpha counts has 1 values for 3 alphas"},
		{"loss", func(in *Input) { in.Models[1].Loss[1].Values[2] = math.Inf(1) }, `loss curve "val" has +Inf at epoch 3`},
	} {
		in := syntheticInput()
		tc.edit(&in)
		if _, err := Summarise(in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	in := syntheticInput()
	s, err := Write(dir, in)
	if err != nil {
		t.Fatal(err)
	}

	// Every figure is a PNG of the size announced.
	var figures []string
	for _, m := range s.Models {
		for _, f := range m.Figures {
			figures = append(figures, f.File)
			fh, err := os.Open(filepath.Join(dir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(fh)
			fh.Close()
			if err != nil {
				t.Fatalf("%s: %v", f.File, err)
			}
			if b := img.Bounds(); b.Dx() != f.Width || b.Dy() != f.Height {
				t.Errorf("%s is %d×%d, want %d×%d", f.File, b.Dx(), b.Dy(), f.Width, f.Height)
			}
		}
	}
	if s.Comparison == nil {
		t.Fatal("no comparison figure")
	}
	figures = append(figures, s.Comparison.File)
	fh, err := os.Open(filepath.Join(dir, s.Comparison.File))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(fh)
	fh.Close()
	if err != nil || img.Bounds().Dx() != s.Comparison.Width || img.Bounds().Dy() != s.Comparison.Height {
		t.Errorf("comparison.png: %v, err %v", img.Bounds(), err)
	}
	want := []string{"m01_roi.png", "m01_r_hist.png", "m01_alphas.png", "m02_roi.png", "m02_r_hist.png", "m02_loss.png", "comparison.png"}
	if strings.Join(figures, " ") != strings.Join(want, " ") {
		t.Errorf("figures %v, want %v", figures, want)
	}

	// The page names every model, links every figure, and refers to nothing outside the directory.
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, m := range in.Models {
		if !strings.Contains(html, `<a href="#`+m.Name+`">`+m.Name+`</a>`) {
			t.Errorf("report.html does not list model %s", m.Name)
		}
	}
	for _, f := range figures {
		if !strings.Contains(html, `<img src="`+f+`"`) {
			t.Errorf("report.html does not show %s", f)
		}
	}
	if n := strings.Count(html, "<img "); n != len(figures) {
		t.Errorf("report.html has %d images, want %d", n, len(figures))
	}
	for _, bad := range []string{"http://", "https://", "<script", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("report.html contains %q: it must be self-contained", bad)
		}
	}
	if !strings.Contains(html, "<td>57%</td>") { // 13/23 = 56.5%
		t.Errorf("report.html lacks the V1–V3 fraction 57%%")
	}

	// report.json is the golden file, and it decodes back to the summary.
	got, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantJSON) {
		t.Errorf("report.json differs from %s:\n%s", golden, got)
	}
	var back Summary
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if back.Models[0].EarlyFraction != s.Models[0].EarlyFraction || back.Models[1].Name != "subj01_baseline_feat" {
		t.Errorf("report.json decodes to %+v", back)
	}
}
