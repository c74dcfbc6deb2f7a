package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"cortexcast/backend/report"
	"cortexcast/backend/simulate"
)

func runEvaluate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "evaluate", "[flags]",
		"Score every stored model of the selected subjects (all kinds and feature sets side by side; --extractor\n"+
			"keeps one feature set). On the\n"+
			"held-out validation images (the 10% not used for fitting): Pearson r per vertex between predicted and\n"+
			"measured responses, summarised per ROI. On a simulated dataset also on the test images against the ground\n"+
			"truth: r with the noise-free truth, and the fraction of the noise ceiling reached (mean r with the measured\n"+
			"responses divided by the truth's own mean r with them). Writes a JSON summary and an HTML report with figures.")
	o := trainFlags(fs)
	pluginFlag(fs, o)
	out := fs.String("out", "", "JSON summary path (default <models>/evaluation.json)")
	reportDir := fs.String("report", "", "HTML report directory (default <models>/report)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("evaluate: unexpected argument %q", fs.Arg(0))
	}
	// Every feature set is evaluated unless --extractor is given.
	o.Extractor = ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "extractor" {
			o.Extractor = f.Value.String()
		}
	})
	return evaluateAndReport(ctx, e, *o, *out, *reportDir)
}

// evaluateAndReport evaluates the models, prints the table, writes the JSON summary to out (default
// <models>/evaluation.json) and the HTML report into reportDir (default <models>/report).
func evaluateAndReport(ctx context.Context, e *env, o trainOptions, out, reportDir string) error {
	if out == "" {
		out = filepath.Join(o.Models, "evaluation.json")
	}
	if reportDir == "" {
		reportDir = filepath.Join(o.Models, "report")
	}
	rep, in, err := evaluate(ctx, e, o)
	if err != nil {
		return err
	}
	printReport(e.stdout, rep)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("evaluate: encoding %s: %w", out, err)
	}
	if err := npy.WriteFile(out, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "scores written to", out)
	sum, err := report.Write(reportDir, *in)
	if err != nil {
		return err
	}
	for _, m := range sum.Models {
		if rep.Simulated {
			fmt.Fprintf(e.stdout, "%s: V1–V3 reach %.0f%% of the noise ceiling\n", m.Name, 100*m.EarlyFraction)
		}
	}
	fmt.Fprintln(e.stdout, "report written to", filepath.Join(reportDir, report.HTMLFile))
	return nil
}

// roiScore is one row of the evaluation report.
type roiScore struct {
	Model    string `json:"model"`
	Kind     string `json:"kind"`
	Features string `json:"features"`
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

type evalReport struct {
	Dataset   string     `json:"dataset"`
	Simulated bool       `json:"simulated"`
	Models    []string   `json:"models"`
	Rows      []roiScore `json:"rows"`
}

// extractorsByID makes every known extractor and indexes it by its ID.
func extractorsByID() (map[string]features.Extractor, error) {
	out := map[string]features.Extractor{}
	for _, name := range features.Names() {
		ext, err := features.New(name)
		if err != nil {
			return nil, err
		}
		out[ext.ID()] = ext
	}
	return out, nil
}

// evaluate scores every stored model of the selected subjects (only those on o.Extractor's features
// when it is set), and returns the scores and the input of the HTML report.
func evaluate(ctx context.Context, e *env, o trainOptions) (*evalReport, *report.Input, error) {
	be, err := compute.OpenWithPlugin(compute.Resolve(o.Backend), o.PJRTPlugin, e.log)
	if err != nil {
		return nil, nil, err
	}
	ds, err := algonauts.Open(o.Data)
	if err != nil {
		return nil, nil, err
	}
	subs, err := parseSubjects(o.Subjects, ds.Subjects())
	if err != nil {
		return nil, nil, err
	}
	stored, err := encoding.List(o.Models)
	if err != nil {
		e.log.Warn("some models could not be read", "store", o.Models, "err", err)
	}
	exts, err := extractorsByID()
	if err != nil {
		return nil, nil, err
	}
	onlyFeatures := ""
	if o.Extractor != "" {
		ext, err := features.New(o.Extractor)
		if err != nil {
			return nil, nil, err
		}
		onlyFeatures = ext.ID()
	}
	marker, _ := simulate.ReadMarker(o.Data)
	rep := &evalReport{Dataset: o.Data, Simulated: marker != nil && marker.Simulated}
	in := &report.Input{Title: "cortexcast evaluation", Dataset: o.Data, Simulated: rep.Simulated}
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, nil, err
		}
		fp, err := imageFingerprint(sub.Train)
		if err != nil {
			return nil, nil, err
		}
		for _, mf := range stored {
			if mf.Subject != s || (onlyFeatures != "" && mf.Features != onlyFeatures) {
				continue
			}
			ext, ok := exts[mf.Features]
			if !ok {
				e.log.Warn("skipping a model whose feature extractor this build does not have", "model", mf.Name, "features", mf.Features)
				continue
			}
			if mf.DataFingerprint != "" && mf.DataFingerprint != fp {
				e.log.Warn("skipping a model trained on other images", "model", mf.Name, "dataset", o.Data)
				continue
			}
			rows, rm, err := evaluateModel(ctx, e, be, o, sub, ext, mf, rep.Simulated)
			if err != nil {
				return nil, nil, fmt.Errorf("evaluating %s: %w", filepath.Join(o.Models, mf.Name), err)
			}
			rep.Models = append(rep.Models, mf.Name)
			rep.Rows = append(rep.Rows, rows...)
			in.Models = append(in.Models, *rm)
		}
	}
	if len(rep.Models) == 0 {
		return nil, nil, fmt.Errorf("evaluate: no model for subjects %v of %s in %s (train one with `cortexcast train`)", subs, o.Data, o.Models)
	}
	return rep, in, nil
}

// evaluateModel scores one model: its ROI rows and its report entry.
func evaluateModel(ctx context.Context, e *env, be *compute.Backend, o trainOptions, sub *algonauts.Subject, ext features.Extractor,
	mf encoding.Manifest, simulated bool) ([]roiScore, *report.Model, error) {
	s := sub.ID
	m, err := loadModel(filepath.Join(o.Models, mf.Name), be)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	x, p, err := cachedFeatures(ctx, e, ext, o.Cache, sub, "train")
	if err != nil {
		return nil, nil, err
	}
	if p != mf.FeatureDim {
		return nil, nil, fmt.Errorf("the features have %d dimensions, the model %d", p, mf.FeatureDim)
	}
	_, valIdx := algonauts.DevkitSplit(len(sub.Train), splitSeed)
	var xt []float32
	if simulated {
		if xt, _, err = cachedFeatures(ctx, e, ext, o.Cache, sub, "test"); err != nil {
			return nil, nil, err
		}
	}
	rm := &report.Model{Name: mf.Name, Subject: s, Kind: mf.Kind, Features: mf.Features, Created: mf.Created, Alphas: mf.Alphas}
	for _, c := range mf.Loss {
		rm.Loss = append(rm.Loss, report.Curve{Name: c.Hemi + " " + c.Split, Values: c.Values})
	}
	var out []roiScore
	for hi, hemi := range algonauts.Hemis() {
		hp := m.Hemi(hi)
		if hp == nil {
			continue
		}
		y, _, v, err := sub.FMRI(hemi)
		if err != nil {
			return nil, nil, err
		}
		if mv := m.Vertices(hi); v != mv {
			return nil, nil, fmt.Errorf("%s: the dataset has %d vertices, the model %d", hemi, v, mv)
		}
		pred, err := hp.Predict(rows(x, p, valIdx), len(valIdx))
		if err != nil {
			return nil, nil, err
		}
		valR := metrics.PearsonColumns(pred, rows(y, v, valIdx), len(valIdx), v)
		rm.ValR = append(rm.ValR, valR...)
		var truthR, measR, ceilR []float32
		if simulated {
			truthR, measR, ceilR, err = testScores(hp, v, xt, len(sub.Test), filepath.Join(simulate.TruthDir(o.Data), fmt.Sprintf("subj%02d", s)), string(hemi))
			if err != nil {
				return nil, nil, err
			}
			rm.TruthR = append(rm.TruthR, truthR...)
		}
		if r := m.Ridge(hi); r != nil && len(mf.Alphas) > 0 && mf.Kind != encoding.KindBaseline {
			rm.AlphaCounts = append(rm.AlphaCounts, report.HemiCounts{Hemi: string(hemi), Counts: alphaCounts(r.Alpha, mf.Alphas)})
		}
		rows := []roiScore{summarise(valR, truthR, measR, ceilR, nil)}
		rows[0].ROIClass, rows[0].ROI = "all", "all"
		for _, class := range []string{"prf-visualrois", "streams"} {
			labels, err := sub.ROIMask(hemi, class, "challenge")
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			names, err := algonauts.ReadMapping(algonauts.MappingPath(o.Data, s, class))
			if err != nil {
				return nil, nil, err
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
			rows[i].Model, rows[i].Kind, rows[i].Features = mf.Name, mf.Kind, mf.Features
			rows[i].Subject, rows[i].Hemi = s, string(hemi)
			rm.ROIs = append(rm.ROIs, report.ROI{Hemi: rows[i].Hemi, Class: rows[i].ROIClass, Name: rows[i].ROI, Vertices: rows[i].Vertices,
				ValR: rows[i].ValR, TruthR: rows[i].TruthR, MeasR: rows[i].MeasR, CeilingR: rows[i].CeilingR, Fraction: rows[i].CeilingFrac})
		}
		out = append(out, rows...)
	}
	if rm.AlphaCounts == nil {
		rm.Alphas = nil
	}
	return out, rm, nil
}

// testScores predicts the test images and correlates with the simulated truth and measurement.
func testScores(hp hemiPredictor, v int, xt []float32, n int, truthDir, hemi string) (truthR, measR, ceilR []float32, err error) {
	pred, err := hp.Predict(xt, n)
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
	if len(truth) != n*v || len(meas) != n*v {
		return nil, nil, nil, fmt.Errorf("truth in %s has %d values, want %d test images × %d vertices", truthDir, len(truth), n, v)
	}
	return metrics.PearsonColumns(pred, truth, n, v), metrics.PearsonColumns(pred, meas, n, v),
		metrics.PearsonColumns(truth, meas, n, v), nil
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

func printReport(w io.Writer, rep *evalReport) {
	if rep.Simulated {
		fmt.Fprintln(w, "SIMULATED dataset: test scores are against the known ground truth.")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tsubject\themi\tROI class\tROI\tvertices\tval r\ttest r(truth)\ttest r(meas)\tceiling r\tceiling frac\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\tsubj%02d\t%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.0f%%\t\n", r.Model, r.Subject, r.Hemi, r.ROIClass, r.ROI,
			r.Vertices, r.ValR, r.TruthR, r.MeasR, r.CeilingR, 100*r.CeilingFrac)
	}
	tw.Flush()
}
