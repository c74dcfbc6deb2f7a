package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"text/tabwriter"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/metrics"
	"cortexcast/backend/npy"
	"cortexcast/backend/simulate"
)

func runEvaluate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "evaluate", "[flags]",
		"Score trained models. On the held-out validation images (the 10% not used for fitting): Pearson r per vertex\n"+
			"between predicted and measured responses, summarised per ROI. On a simulated dataset also on the test\n"+
			"images against the ground truth: r with the noise-free truth, and the fraction of the noise ceiling reached\n"+
			"(mean r with the measured responses divided by the truth's own mean r with them). Writes a JSON report.")
	o := trainFlags(fs)
	out := fs.String("out", "", "JSON report path (default <models>/evaluation.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return evaluateAndReport(ctx, e, *o, *out, "")
}

// evaluateAndReport evaluates the models, prints the table and writes the JSON report to out
// (default <models>/evaluation.json).
func evaluateAndReport(ctx context.Context, e *env, o trainOptions, out, reportDir string) error {
	if out == "" {
		out = filepath.Join(o.Models, "evaluation.json")
	}
	rep, err := evaluate(ctx, e, o)
	if err != nil {
		return err
	}
	printReport(e.stdout, rep)
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := npy.WriteFile(out, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "report written to", out)
	return nil
}

// roiScore is one row of the evaluation report.
type roiScore struct {
	Subject  int    `json:"subject"`
	Hemi     string `json:"hemi"`
	ROIClass string `json:"roi_class"`
	ROI      string `json:"roi"`
	Vertices int    `json:"vertices"`
	// ValR is the mean validation r (prediction vs measured, held-out training images).
	ValR float64 `json:"val_mean_r"`
	// On simulated data, test images: r with the truth, r with the measurement, the truth's r
	// with the measurement (the ceiling) and their ratio.
	TruthR      float64 `json:"test_r_truth,omitempty"`
	MeasR       float64 `json:"test_r_measured,omitempty"`
	CeilingR    float64 `json:"test_ceiling_r,omitempty"`
	CeilingFrac float64 `json:"noise_ceiling_fraction,omitempty"`
}

type report struct {
	Dataset   string     `json:"dataset"`
	Features  string     `json:"features"`
	Simulated bool       `json:"simulated"`
	Rows      []roiScore `json:"rows"`
}

// evaluate scores every selected subject's model.
func evaluate(ctx context.Context, e *env, o trainOptions) (*report, error) {
	ext, err := features.New(o.Extractor)
	if err != nil {
		return nil, err
	}
	be, err := compute.Open(compute.Resolve(o.Backend), e.log)
	if err != nil {
		return nil, err
	}
	ds, err := algonauts.Open(o.Data)
	if err != nil {
		return nil, err
	}
	subs, err := parseSubjects(o.Subjects, ds.Subjects())
	if err != nil {
		return nil, err
	}
	marker, _ := simulate.ReadMarker(o.Data)
	rep := &report{Dataset: o.Data, Features: ext.ID(), Simulated: marker != nil && marker.Simulated}
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, err
		}
		m, _, err := encoding.Load(modelDir(o.Models, s, ext.ID()))
		if err != nil {
			return nil, err
		}
		x, p, err := cachedFeatures(ctx, e, ext, o.Cache, sub, "train")
		if err != nil {
			return nil, err
		}
		_, valIdx := algonauts.DevkitSplit(len(sub.Train), splitSeed)
		var xt []float32
		if rep.Simulated {
			if xt, _, err = cachedFeatures(ctx, e, ext, o.Cache, sub, "test"); err != nil {
				return nil, err
			}
		}
		for hi, hemi := range algonauts.Hemis() {
			y, _, v, err := sub.FMRI(hemi)
			if err != nil {
				return nil, err
			}
			r := m.Hemis[hi]
			pred, err := predictOn(be, r, rows(x, p, valIdx), len(valIdx))
			if err != nil {
				return nil, err
			}
			valR := metrics.PearsonColumns(pred, rows(y, v, valIdx), len(valIdx), v)
			var truthR, measR, ceilR []float32
			if rep.Simulated {
				truthR, measR, ceilR, err = testScores(be, r, xt, len(sub.Test), filepath.Join(simulate.TruthDir(o.Data), fmt.Sprintf("subj%02d", s)), string(hemi))
				if err != nil {
					return nil, err
				}
			}
			rows := []roiScore{summarise(valR, truthR, measR, ceilR, nil)}
			rows[0].ROIClass, rows[0].ROI = "all", "all"
			for _, class := range []string{"prf-visualrois", "streams"} {
				labels, err := sub.ROIMask(hemi, class, "challenge")
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, err
				}
				names, err := algonauts.ReadMapping(algonauts.MappingPath(o.Data, s, class))
				if err != nil {
					return nil, err
				}
				for _, st := range metrics.ROISummary(valR, labels, names) {
					sel := make([]bool, len(labels))
					for i, l := range labels {
						sel[i] = int(l) == st.Label
					}
					row := summarise(valR, truthR, measR, ceilR, sel)
					row.ROIClass, row.ROI = class, st.Name
					rows = append(rows, row)
				}
			}
			for i := range rows {
				rows[i].Subject, rows[i].Hemi = s, string(hemi)
			}
			rep.Rows = append(rep.Rows, rows...)
		}
	}
	return rep, nil
}

// testScores predicts the test images and correlates with the simulated truth and measurement.
func testScores(be *compute.Backend, r *encoding.Ridge, xt []float32, n int, truthDir, hemi string) (truthR, measR, ceilR []float32, err error) {
	pred, err := predictOn(be, r, xt, n)
	if err != nil {
		return nil, nil, nil, err
	}
	truth, _, err := npy.ReadFloat32(filepath.Join(truthDir, hemi+"_test_true.npy"))
	if err != nil {
		return nil, nil, nil, err
	}
	meas, _, err := npy.ReadFloat32(filepath.Join(truthDir, hemi+"_test_measured.npy"))
	if err != nil {
		return nil, nil, nil, err
	}
	if len(truth) != n*r.V || len(meas) != n*r.V {
		return nil, nil, nil, fmt.Errorf("truth in %s has %d values, want %d test images × %d vertices", truthDir, len(truth), n, r.V)
	}
	return metrics.PearsonColumns(pred, truth, n, r.V), metrics.PearsonColumns(pred, meas, n, r.V),
		metrics.PearsonColumns(truth, meas, n, r.V), nil
}

// summarise averages the per-vertex scores over the selected vertices (all when sel is nil).
func summarise(valR, truthR, measR, ceilR []float32, sel []bool) roiScore {
	mean := func(v []float32) (float64, int) {
		var s float64
		var k int
		for i, x := range v {
			if (sel == nil || sel[i]) && !math.IsNaN(float64(x)) {
				s += float64(x)
				k++
			}
		}
		if k == 0 {
			return 0, 0
		}
		return s / float64(k), k
	}
	var row roiScore
	row.ValR, row.Vertices = mean(valR)
	if truthR != nil {
		row.TruthR, _ = mean(truthR)
		row.MeasR, _ = mean(measR)
		row.CeilingR, _ = mean(ceilR)
		if row.CeilingR > 0 {
			row.CeilingFrac = row.MeasR / row.CeilingR
		}
	}
	return row
}

func printReport(w io.Writer, rep *report) {
	if rep.Simulated {
		fmt.Fprintln(w, "SIMULATED dataset: test scores are against the known ground truth.")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subject\themi\tROI class\tROI\tvertices\tval r\ttest r(truth)\ttest r(meas)\tceiling r\tceiling frac\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "subj%02d\t%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.0f%%\t\n", r.Subject, r.Hemi, r.ROIClass, r.ROI,
			r.Vertices, r.ValR, r.TruthR, r.MeasR, r.CeilingR, 100*r.CeilingFrac)
	}
	tw.Flush()
}
