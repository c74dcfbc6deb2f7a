package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cortexcast/backend/report"
)

// TestSweepReport checks the one comparison the sweep wrote: every model in evaluation.json,
// report.json and report.html, with per-ROI noise-ceiling fractions.
func TestSweepReport(t *testing.T) {
	o, out := tinySweep(t)
	names := []string{"subj01_baseline_gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt", "subj01_ridge-kfold_gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt",
		"subj01_ridge_gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt"}
	b, err := os.ReadFile(filepath.Join(o.Models, "evaluation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Simulated || strings.Join(rep.Models, " ") != strings.Join(names, " ") {
		t.Errorf("evaluation.json: simulated %v, models %v, want %v", rep.Simulated, rep.Models, names)
	}
	perModel := map[string]int{}
	for _, r := range rep.Rows {
		perModel[r.Model]++
		if r.ROIClass == "all" && (r.CeilingR <= 0 || r.CeilingR > 1 || r.CeilingFrac != r.MeasR/r.CeilingR) {
			t.Errorf("%s %s: ceiling r %v, fraction %v, measured r %v", r.Model, r.Hemi, r.CeilingR, r.CeilingFrac, r.MeasR)
		}
	}
	for _, n := range names {
		if perModel[n] < 2+2*7 { // all + the seven prf-visualrois per hemisphere, at least
			t.Errorf("%s has %d rows", n, perModel[n])
		}
	}

	dir := filepath.Join(o.Models, "report")
	b, err = os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum report.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Models) != len(names) {
		t.Fatalf("report.json has %d models, want %d", len(sum.Models), len(names))
	}
	for i, m := range sum.Models {
		if m.Name != names[i] {
			t.Errorf("report.json model %d is %s, want %s", i, m.Name, names[i])
		}
		t.Logf("%s: V1–V3 at %.3f of the noise ceiling", m.Name, m.EarlyFraction)
		// Even 28 training images take every model past half of the ceiling in V1–V3 (about 0.73–0.75
		// at this seed), and ridge past the 60% the project promises on the default dataset.
		if min := map[string]float64{"ridge": 0.6}[m.Kind]; m.EarlyFraction < max(min, 0.5) || m.EarlyFraction > 1.1 {
			t.Errorf("%s: V1–V3 noise-ceiling fraction %v, want at least %v", m.Name, m.EarlyFraction, max(min, 0.5))
		}
		if !strings.Contains(string(page), ">"+m.Name+"</a>") {
			t.Errorf("report.html does not list %s", m.Name)
		}
		for _, f := range m.Figures {
			if _, err := os.Stat(filepath.Join(dir, f.File)); err != nil {
				t.Errorf("figure %s: %v", f.File, err)
			}
		}
		wantFigs := 3
		if m.Kind == "baseline" {
			wantFigs = 2
		}
		if len(m.Figures) != wantFigs {
			t.Errorf("%s has %d figures, want %d", m.Name, len(m.Figures), wantFigs)
		}
	}
	if !strings.Contains(out, "V1–V3 reach") || !strings.Contains(out, "report written to "+filepath.Join(dir, "report.html")) {
		t.Errorf("sweep output:\n%s", out)
	}
}

// TestEvaluateCommand re-evaluates the sweep's store into another report directory, and checks the
// errors for an empty store.
func TestEvaluateCommand(t *testing.T) {
	o, _ := tinySweep(t)
	dir := filepath.Join(t.TempDir(), "rep")
	e, out := testEnv()
	jsonOut := filepath.Join(t.TempDir(), "eval.json")
	err := run(context.Background(), e, []string{"evaluate", "--data", o.Data, "--cache", o.Cache, "--models", o.Models,
		"--report", dir, "--out", jsonOut, "--subjects", "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{jsonOut, filepath.Join(dir, "report.html"), filepath.Join(dir, "m03_alphas.png")} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "subj01_ridge-kfold_") {
		t.Errorf("evaluate output lacks the ridge-kfold model:\n%s", out)
	}
	// --extractor keeps the models of one feature set; the tiny store has only gabor ones.
	if err := run(context.Background(), e, []string{"evaluate", "--data", o.Data, "--cache", o.Cache, "--models", o.Models,
		"--report", filepath.Join(t.TempDir(), "r2"), "--out", jsonOut, "--extractor", "gabor"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Models) != 3 {
		t.Errorf("evaluate --extractor gabor: %d models, err %v", len(rep.Models), err)
	}
	empty := filepath.Join(t.TempDir(), "none")
	err = run(context.Background(), e, []string{"evaluate", "--data", o.Data, "--cache", o.Cache, "--models", empty})
	if err == nil || !strings.Contains(err.Error(), "no model for subjects [1]") || !strings.Contains(err.Error(), empty) {
		t.Errorf("evaluate on an empty store: err %v", err)
	}
}

func TestParseSweep(t *testing.T) {
	base := trainOptions{Extractor: "gabor", Folds: 5}
	runs, err := parseSweep("ridge, baseline", base)
	if err != nil || len(runs) != 2 || runs[0].Model != "ridge" || runs[1].Model != "baseline" {
		t.Errorf("parseSweep(kinds) = %+v, %v", runs, err)
	}
	cfg := filepath.Join(t.TempDir(), "sweep.json")
	body := `{"extractors":["gabor"],"models":[{"kind":"ridge-kfold","folds":3,"alphas":"1:100:3"},{"kind":"ridge"}]}`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err = parseSweep(cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Model != "ridge-kfold" || runs[0].Folds != 3 || len(runs[0].Alphas) != 3 || runs[0].Alphas[1] != 10 ||
		runs[1].Model != "ridge" || runs[1].Folds != 5 || runs[1].Alphas != nil {
		t.Errorf("parseSweep(config) = %+v", runs)
	}
	for _, tc := range []struct{ spec, want string }{
		{"ridge,mlp", `kind "mlp"`},
		{filepath.Join(t.TempDir(), "missing.json"), "missing.json"},
	} {
		if _, err := parseSweep(tc.spec, base); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSweep(%q): err %v, want one containing %q", tc.spec, err, tc.want)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"models":[]}`, `no "models"`},
		{`{"models":[{"kind":"ridge","folds":1}]}`, "folds 1"},
		{`{"models":[{"kind":"ridge","alphas":"0:1:2"}]}`, "models[0]: alphas"},
		{`{"extractors":["clip"],"models":[{"kind":"ridge"}]}`, `extractor "clip"`},
		{`{"models":[{"kind":"ridge","lr":1}]}`, "unknown field"},
	} {
		if _, err := parseSweepConfig([]byte(tc.body), base); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSweepConfig(%s): err %v, want one containing %q", tc.body, err, tc.want)
		}
	}
}

func FuzzParseSweepConfig(f *testing.F) {
	f.Add([]byte(`{"extractors":["gabor"],"models":[{"kind":"ridge-kfold","folds":3,"alphas":"1:100:3"}]}`))
	f.Add([]byte(`{"models":[{"kind":"baseline"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		runs, err := parseSweepConfig(body, trainOptions{Extractor: "gabor"})
		if err != nil {
			return
		}
		if len(runs) == 0 || len(runs) > maxSweepRuns {
			t.Fatalf("%d runs", len(runs))
		}
		for _, r := range runs {
			if r.kind() == "" || (r.Folds != 0 && r.Folds < 2) {
				t.Fatalf("run %+v", r)
			}
		}
	})
}
