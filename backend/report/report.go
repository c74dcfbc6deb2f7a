// Package report turns the evaluation of encoding models into a static report: PNG figures drawn with
// gonum/plot (per-ROI bars of mean r with the noise ceiling as a marker, histograms of per-vertex r,
// histograms of the chosen ridge alphas), a self-contained report.html (html/template, no external
// assets, images by relative path) with a side-by-side table of the models, and report.json with the
// numbers. Its input is plain data: it knows nothing of the model store or of the CLI.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"cortexcast/backend/npy"
)

// Input is what a report is made from.
type Input struct {
	Title     string // the page title
	Dataset   string // the dataset the models were evaluated on
	Simulated bool   // the dataset is simulated: test scores are against the known truth
	Models    []Model
}

// Model is the evaluation of one stored model.
type Model struct {
	Name     string // the model's name in the store; unique within an Input
	Subject  int    // 1-based subject
	Kind     string // "ridge", "ridge-kfold", "baseline", …
	Features string // the feature extractor ID
	Created  time.Time
	// ROIs holds the per-ROI summaries, in the order they are shown.
	ROIs []ROI
	// ValR is the validation r of every vertex (both hemispheres); NaN for vertices without one.
	ValR []float32
	// TruthR is the test r against the noise-free truth of every vertex, on simulated data; nil otherwise.
	TruthR []float32
	// Alphas is the ridge grid the alphas were chosen from (nil for models without one) and
	// AlphaCounts the number of vertices that chose each, per hemisphere.
	Alphas      []float64
	AlphaCounts []HemiCounts
	// Loss holds training curves (say "train" and "val" loss per epoch) of models trained by
	// gradient descent; nil for closed-form fits.
	Loss []Curve
}

// Curve is one loss curve: Values[i] is the value after epoch i+1.
type Curve struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
}

// HemiCounts is a histogram of chosen alphas for one hemisphere; Counts[i] counts Alphas[i].
type HemiCounts struct {
	Hemi   string `json:"hemi"`
	Counts []int  `json:"counts"`
}

// ROI is one region's summary. The test scores are on simulated data only (zero otherwise).
type ROI struct {
	Hemi     string  `json:"hemi"`
	Class    string  `json:"class"` // "all", "prf-visualrois", "streams", …
	Name     string  `json:"name"`
	Vertices int     `json:"vertices"`
	ValR     float64 `json:"val_mean_r"`                       // mean validation r
	TruthR   float64 `json:"test_r_truth,omitempty"`           // mean test r with the truth
	MeasR    float64 `json:"test_r_measured,omitempty"`        // mean test r with the measurement
	CeilingR float64 `json:"test_ceiling_r,omitempty"`         // mean r of the truth with the measurement
	Fraction float64 `json:"noise_ceiling_fraction,omitempty"` // MeasR / CeilingR
}

// Summary is report.json.
type Summary struct {
	Title     string `json:"title"`
	Dataset   string `json:"dataset"`
	Simulated bool   `json:"simulated"`
	// Comparison is the figure of all models side by side (nil without models).
	Comparison *Figure        `json:"comparison,omitempty"`
	Models     []ModelSummary `json:"models"`
}

// ModelSummary is one model's numbers and the figures drawn for it (file names inside the report
// directory).
type ModelSummary struct {
	Name       string  `json:"name"`
	Subject    int     `json:"subject"`
	Kind       string  `json:"kind"`
	Features   string  `json:"features"`
	Created    string  `json:"created,omitempty"`
	Vertices   int     `json:"vertices"`     // vertices with a validation r
	ValMeanR   float64 `json:"val_mean_r"`   // mean over those vertices
	ValMedianR float64 `json:"val_median_r"` // median over those vertices
	// TruthMeanR is the mean test r with the truth (simulated data), EarlyFraction the fraction of
	// the noise ceiling reached in V1–V3 (the prf-visualrois ROIs V1v … V3d of both hemispheres):
	// the vertex-weighted mean of MeasR over the vertex-weighted mean of CeilingR.
	TruthMeanR    float64      `json:"test_mean_r_truth,omitempty"`
	EarlyFraction float64      `json:"v1_v3_noise_ceiling_fraction,omitempty"`
	ROIs          []ROI        `json:"rois"`
	Alphas        []float64    `json:"alphas,omitempty"`
	AlphaCounts   []HemiCounts `json:"alpha_counts,omitempty"`
	Loss          []Curve      `json:"loss,omitempty"`
	Figures       []Figure     `json:"figures"`
}

// Figure is one PNG of the report.
type Figure struct {
	File    string `json:"file"`    // the name inside the report directory
	Caption string `json:"caption"` // what it shows
	Width   int    `json:"width"`   // pixels
	Height  int    `json:"height"`  // pixels
}

// File names of the report directory.
const (
	HTMLFile = "report.html"
	JSONFile = "report.json"
)

// Summarise computes the numbers of the report without drawing anything; Write uses it. Figure file
// names are filled in as Write would name them.
func Summarise(in Input) (*Summary, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	s := &Summary{Title: in.Title, Dataset: in.Dataset, Simulated: in.Simulated}
	if len(in.Models) > 0 {
		caption := "Mean validation r of every model (all vertices)"
		if in.Simulated {
			caption = "Fraction of the noise ceiling reached in V1–V3 by every model (test images)"
		}
		s.Comparison = &Figure{File: "comparison.png", Caption: caption, Width: histWidthPx, Height: figHeightPx}
	}
	for i, m := range in.Models {
		ms := ModelSummary{Name: m.Name, Subject: m.Subject, Kind: m.Kind, Features: m.Features,
			ROIs: slices.Clone(m.ROIs), Alphas: m.Alphas, AlphaCounts: m.AlphaCounts, Loss: m.Loss}
		if !m.Created.IsZero() {
			ms.Created = m.Created.UTC().Format(time.RFC3339)
		}
		ms.ValMeanR, ms.ValMedianR, ms.Vertices = meanMedian(m.ValR)
		if m.TruthR != nil {
			ms.TruthMeanR, _, _ = meanMedian(m.TruthR)
		}
		ms.EarlyFraction = earlyFraction(m.ROIs)
		prefix := fmt.Sprintf("m%02d", i+1)
		ms.Figures = append(ms.Figures,
			Figure{File: prefix + "_roi.png", Caption: roiCaption(in.Simulated), Width: roiWidthPx, Height: figHeightPx},
			Figure{File: prefix + "_r_hist.png", Caption: "Histogram of the per-vertex validation r (held-out training images)", Width: histWidthPx, Height: figHeightPx})
		if len(m.Alphas) > 0 && len(m.AlphaCounts) > 0 {
			ms.Figures = append(ms.Figures, Figure{File: prefix + "_alphas.png",
				Caption: "Chosen regularisation strength: vertices per alpha of the grid, per hemisphere", Width: histWidthPx, Height: figHeightPx})
		}
		if len(m.Loss) > 0 {
			ms.Figures = append(ms.Figures, Figure{File: prefix + "_loss.png", Caption: "Loss per epoch", Width: histWidthPx, Height: figHeightPx})
		}
		s.Models = append(s.Models, ms)
	}
	return s, nil
}

func roiCaption(simulated bool) string {
	if simulated {
		return "Mean r per ROI on the test images (prediction vs measurement); the marker is the noise ceiling (the truth's r with the measurement)"
	}
	return "Mean validation r per ROI (prediction vs measurement on the held-out training images)"
}

// check reports an input the report cannot be made from.
func (in Input) check() error {
	seen := map[string]bool{}
	for i, m := range in.Models {
		switch {
		case m.Name == "":
			return fmt.Errorf("report: models[%d] has no name", i)
		case seen[m.Name]:
			return fmt.Errorf("report: models[%d]: the name %q appears twice", i, m.Name)
		case m.TruthR != nil && len(m.TruthR) != len(m.ValR):
			return fmt.Errorf("report: model %s: %d truth r values for %d validation r values", m.Name, len(m.TruthR), len(m.ValR))
		}
		seen[m.Name] = true
		for _, c := range m.Loss {
			for j, v := range c.Values {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("report: model %s: loss curve %q has %v at epoch %d", m.Name, c.Name, v, j+1)
				}
			}
		}
		for _, hc := range m.AlphaCounts {
			if len(hc.Counts) != len(m.Alphas) {
				return fmt.Errorf("report: model %s: %s alpha counts has %d values for %d alphas", m.Name, hc.Hemi, len(hc.Counts), len(m.Alphas))
			}
		}
	}
	return nil
}

// meanMedian returns the mean and the median of the finite values of r and their count; zeros
// when there is none. The median of an even count is the mean of the two middle values.
func meanMedian(r []float32) (mean, median float64, n int) {
	v := make([]float64, 0, len(r))
	for _, x := range r {
		if f := float64(x); !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
			mean += f
		}
	}
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	n = len(v)
	mean /= float64(n)
	if n%2 == 1 {
		median = v[n/2]
	} else {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	return mean, median, n
}

// IsEarlyVisual reports whether an ROI is one of V1–V3 (V1v, V1d, V2v, V2d, V3v, V3d of the
// prf-visualrois class).
func IsEarlyVisual(r ROI) bool {
	if r.Class != "prf-visualrois" || len(r.Name) < 2 {
		return false
	}
	return r.Name[0] == 'V' && r.Name[1] >= '1' && r.Name[1] <= '3'
}

// earlyFraction is the fraction of the noise ceiling reached in V1–V3, 0 without test scores.
func earlyFraction(rois []ROI) float64 {
	var meas, ceil float64
	for _, r := range rois {
		if IsEarlyVisual(r) && r.CeilingR != 0 {
			meas += r.MeasR * float64(r.Vertices)
			ceil += r.CeilingR * float64(r.Vertices)
		}
	}
	if ceil <= 0 {
		return 0
	}
	return meas / ceil
}

// Write makes the report in dir (created if needed): the figures, report.json and report.html. Each
// file is written atomically; files of an earlier report that this one does not name are left.
func Write(dir string, in Input) (*Summary, error) {
	s, err := Summarise(in)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for i, m := range in.Models {
		for _, f := range s.Models[i].Figures {
			var draw func() ([]byte, error)
			switch {
			case strings.HasSuffix(f.File, "_roi.png"):
				draw = func() ([]byte, error) { return roiFigure(m, in.Simulated) }
			case strings.HasSuffix(f.File, "_r_hist.png"):
				draw = func() ([]byte, error) { return rHistogram(m) }
			case strings.HasSuffix(f.File, "_loss.png"):
				draw = func() ([]byte, error) { return lossFigure(m) }
			default:
				draw = func() ([]byte, error) { return alphaFigure(m) }
			}
			png, err := draw()
			if err != nil {
				return nil, fmt.Errorf("report: model %s: %s: %w", m.Name, f.File, err)
			}
			if err := writeFile(dir, f.File, png); err != nil {
				return nil, err
			}
		}
	}
	if s.Comparison != nil {
		png, err := comparisonFigure(s)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", s.Comparison.File, err)
		}
		if err := writeFile(dir, s.Comparison.File, png); err != nil {
			return nil, err
		}
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: encoding %s: %w", JSONFile, err)
	}
	if err := writeFile(dir, JSONFile, append(js, '\n')); err != nil {
		return nil, err
	}
	var page bytes.Buffer
	if err := renderHTML(&page, s); err != nil {
		return nil, fmt.Errorf("report: %s: %w", HTMLFile, err)
	}
	if err := writeFile(dir, HTMLFile, page.Bytes()); err != nil {
		return nil, err
	}
	return s, nil
}

// writeFile writes dir/name atomically.
func writeFile(dir, name string, b []byte) error {
	path := dir + string(os.PathSeparator) + name
	if err := npy.WriteFile(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}
