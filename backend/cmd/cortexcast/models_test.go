package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cortexcast/backend/encoding"
)

// saveSmallModel stores a two-hemisphere model of the given kind with alphas chosen from grid.
func saveSmallModel(t *testing.T, dir string, subject int, kind string, grid []float64, alpha []float32) {
	t.Helper()
	m := &encoding.SubjectModel{Subject: subject, Features: "feat-v1"}
	for hi := range 2 {
		v := len(alpha)
		r := &encoding.Ridge{P: 2, V: v, XMean: make([]float32, 2), YMean: make([]float32, v), W: make([]float32, 2*v), Alpha: alpha}
		m.Hemis[hi] = r
	}
	mf := encoding.Manifest{Kind: kind, Alphas: grid, Created: time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC),
		Metrics: map[string]float64{"lh_val_mean_r": 0.25, "rh_val_mean_r": 0.125},
		Meta:    map[string]string{}}
	if grid != nil {
		c := formatCounts(alphaCounts(alpha, grid))
		mf.Meta["lh_alpha_counts"], mf.Meta["rh_alpha_counts"] = c, c
	}
	if err := encoding.Save(dir, m, mf); err != nil {
		t.Fatal(err)
	}
}

func TestModelsCommand(t *testing.T) {
	store := filepath.Join(t.TempDir(), "models")
	saveSmallModel(t, filepath.Join(store, "subj01_ridge_feat-v1"), 1, "ridge", []float64{1, 10, 100}, []float32{1, 10, 10, 100, 100, 100})
	saveSmallModel(t, filepath.Join(store, "subj02_baseline_feat-v1"), 2, "baseline", nil, []float32{0, 0, 0})
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		e, out := testEnv()
		err := run(ctx, e, append([]string{"models"}, args...))
		return out.String(), err
	}

	out, err := run("list", "--models", store)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"subj01_ridge_feat-v1     subj01   ridge     feat-v1   6/6       0.250/0.125    2026-03-04 05:06",
		"subj02_baseline_feat-v1  subj02   baseline  feat-v1   3/3       0.250/0.125    2026-03-04 05:06",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}

	out, err = run("show", "--models", store, "subj01_ridge_feat-v1")
	if err != nil {
		t.Fatal(err)
	}
	squashed := strings.Join(strings.FieldsFunc(out, func(r rune) bool { return r == ' ' }), " ")
	squashed = strings.ReplaceAll(squashed, " \n", "\n")
	for _, want := range []string{"\nkind ridge\n", "\nalphas 3 values, 1 … 100\n", "\nmetric lh_val_mean_r 0.25\n", "chosen alphas", "  1      1   #######  ", "  100    3   ####################  3"} {
		if !strings.Contains(out, want) && !strings.Contains(squashed, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}

	if _, err := run("delete", "--models", store, "subj02_baseline_feat-v1"); err == nil || !strings.Contains(err.Error(), "--yes") ||
		!strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("delete without --yes: err %v, want one listing the files and asking for --yes", err)
	}
	if _, err := os.Stat(filepath.Join(store, "subj02_baseline_feat-v1")); err != nil {
		t.Fatalf("delete without --yes removed the model: %v", err)
	}
	// Training checkpoints (as a neural model leaves them) go with the model;
	// another model's stay.
	ckpt := filepath.Join(store, ".checkpoints", "subj02_baseline_feat-v1", "lh")
	other := filepath.Join(store, ".checkpoints", "subj01_other", "lh")
	for _, d := range []string{ckpt, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "state.bin"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = run("delete", "--models", store, "subj02_baseline_feat-v1", "--yes")
	if err != nil || !strings.Contains(out, "removed "+filepath.Join(store, "subj02_baseline_feat-v1")) || !strings.Contains(out, "training checkpoints") {
		t.Fatalf("delete --yes: %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(store, "subj02_baseline_feat-v1")); !os.IsNotExist(err) {
		t.Errorf("model still there after delete (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Dir(ckpt)); !os.IsNotExist(err) {
		t.Errorf("checkpoints still there after delete (stat: %v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another model's checkpoints removed: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "--models", store, "nope"}, `no model "nope" in ` + store},
		{[]string{"delete", "--models", store, "../x", "--yes"}, "not a model name"},
		{[]string{"list", "--models", filepath.Join(store, "missing")}, filepath.Join(store, "missing")},
		{[]string{"show", "--models", store}, "want one model NAME"},
		{[]string{"frob"}, `unknown subcommand "frob"`},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("models %v: err %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
