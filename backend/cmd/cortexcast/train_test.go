package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/npy"
	"cortexcast/backend/simulate"
)

// tinyDataset is a simulated dataset small enough for unit tests: one subject, 32 training and 6
// test images, synthetic masks.
type tinyDataset struct {
	opts trainOptions
}

var (
	tinyOnce sync.Once
	tinyRoot string
	tinyErr  error
)

// newTinyDataset simulates the tiny dataset and extracts its features once per test binary (in a
// temporary directory that TestMain removes) and gives each test its own model store.
func newTinyDataset(t *testing.T) tinyDataset {
	t.Helper()
	tinyOnce.Do(func() {
		tinyRoot, tinyErr = os.MkdirTemp("", "cortexcast-tiny-")
		if tinyErr != nil {
			return
		}
		tinyErr = simulate.Generate(context.Background(), simulate.Config{Root: filepath.Join(tinyRoot, "sim"), Subjects: 1, Train: 32, Test: 6, Seed: 2})
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	work := t.TempDir()
	return tinyDataset{opts: trainOptions{Data: filepath.Join(tinyRoot, "sim"), Cache: filepath.Join(tinyRoot, "features"),
		Models: filepath.Join(work, "models"), Extractor: "gabor"}}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyRoot != "" {
		os.RemoveAll(tinyRoot)
	}
	os.Exit(code)
}

// testEnv returns an env writing stdout to the returned buffer.
func testEnv() (*env, *bytes.Buffer) {
	var out bytes.Buffer
	return &env{stdout: &out, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}, &out
}

func TestParseAlphas(t *testing.T) {
	tests := []struct {
		in   string
		want []float64
		err  string
	}{
		{"1e-1:1e7:17", encoding.DefaultAlphas(), ""},
		{"1:100:3", []float64{1, 10, 100}, ""},
		{"5:5:1", []float64{5}, ""},
		{"0.5, 2,8", []float64{0.5, 2, 8}, ""},
		{"0:10:3", nil, "positive"},
		{"1:10:0", nil, "0 values"},
		{"1:10:5000", nil, "5000 values"},
		{"1:10", nil, "parts"},
		{"a:10:3", nil, "LO:HI:N"},
		{"1,-2", nil, `"-2" must be positive`},
		{"1,x", nil, `alpha "x"`},
		{"NaN", nil, "positive"},
		{"1:Inf:3", nil, "finite"},
	}
	for _, tc := range tests {
		got, err := parseAlphas(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseAlphas(%q): err %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseAlphas(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("parseAlphas(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-12*tc.want[i] {
				t.Errorf("parseAlphas(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseAlphas(f *testing.F) {
	for _, s := range []string{"1e-1:1e7:17", "1,2,3", "1:2", "", ":::", "1e308:1e-308:1000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAlphas(s)
		if err != nil {
			return
		}
		if len(a) == 0 || len(a) > maxAlphas {
			t.Fatalf("parseAlphas(%q) gave %d alphas", s, len(a))
		}
		for _, x := range a {
			if !(x > 0) || math.IsInf(x, 0) {
				t.Fatalf("parseAlphas(%q) gave alpha %v", s, x)
			}
		}
	})
}

func TestAlphaCounts(t *testing.T) {
	grid := []float64{0.1, 1, 10, 100}
	got := alphaCounts([]float32{0.1, 1, float32(math.Nextafter(10, 11)), 10, 100, 100, 100}, grid)
	if want := []int{1, 1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("alphaCounts = %v, want %v", got, want)
	}
	c, err := parseCounts(formatCounts(got))
	if err != nil || !slices.Equal(c, got) {
		t.Errorf("parseCounts(formatCounts(%v)) = %v, %v", got, c, err)
	}
}

// tinySweep runs `train --sweep ridge,ridge-kfold,baseline` (which also evaluates and reports) on
// the tiny dataset once per test binary and returns the options pointing at its store and the
// command's output.
func tinySweep(t *testing.T) (trainOptions, string) {
	t.Helper()
	td := newTinyDataset(t)
	sweepOnce.Do(func() {
		sweepOpts = td.opts
		sweepOpts.Models = filepath.Join(tinyRoot, "models")
		e, out := testEnv()
		sweepErr = run(context.Background(), e, []string{"train", "--data", sweepOpts.Data, "--cache", sweepOpts.Cache,
			"--models", sweepOpts.Models, "--sweep", "ridge,ridge-kfold,baseline", "--folds", "3", "--alphas", "1,100,1e4,1e6"})
		sweepOut = out.String()
	})
	if sweepErr != nil {
		t.Fatal(sweepErr)
	}
	return sweepOpts, sweepOut
}

var (
	sweepOnce sync.Once
	sweepOpts trainOptions
	sweepOut  string
	sweepErr  error
)

func TestTrainKinds(t *testing.T) {
	o, out := tinySweep(t)
	grid := []float64{1, 100, 1e4, 1e6}
	for _, tc := range []struct {
		kind, dirName string
	}{
		{"ridge", "subj01_ridge_"},
		{"ridge-kfold", "subj01_ridge-kfold_"},
		{"baseline", "subj01_baseline_"},
	} {
		ext := "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt"
		dir := filepath.Join(o.Models, tc.dirName+ext)
		m, mf, err := encoding.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if mf.Kind != tc.kind {
			t.Errorf("%s: manifest kind %q", tc.kind, mf.Kind)
		}
		for hi, h := range []string{"lh", "rh"} {
			r := m.Hemis[hi]
			if tc.kind == "baseline" {
				tr, _ := algonauts.DevkitSplit(32, splitSeed)
				if want := fmt.Sprint(len(tr)); mf.Meta["pca_components"] != want { // min(100, training images, 2560 features)
					t.Errorf("baseline pca_components %q, want %s", mf.Meta["pca_components"], want)
				}
				if mf.Alphas != nil || mf.Meta[h+"_alpha_counts"] != "" {
					t.Errorf("baseline has alphas %v, counts %q", mf.Alphas, mf.Meta[h+"_alpha_counts"])
				}
				continue
			}
			if !slices.Equal(mf.Alphas, grid) {
				t.Errorf("%s: alphas %v, want %v", tc.kind, mf.Alphas, grid)
			}
			counts, err := parseCounts(mf.Meta[h+"_alpha_counts"])
			if err != nil {
				t.Fatal(err)
			}
			if want := alphaCounts(r.Alpha, grid); !slices.Equal(counts, want) {
				t.Errorf("%s %s: stored alpha counts %v, the model's alphas give %v", tc.kind, h, counts, want)
			}
			total := 0
			for _, c := range counts {
				total += c
			}
			if total != r.V {
				t.Errorf("%s %s: alpha counts sum to %d, want %d vertices", tc.kind, h, total, r.V)
			}
		}
		if tc.kind == "ridge-kfold" && mf.Meta["folds"] != "3" {
			t.Errorf("ridge-kfold folds %q, want 3", mf.Meta["folds"])
		}
		if tc.kind != "baseline" && !strings.Contains(out, "subj01 "+tc.kind+": chosen alphas") {
			t.Errorf("%s: no alpha histogram printed:\n%s", tc.kind, out)
		}
	}
	if _, err := trainAll(context.Background(), testEnvDiscard(), trainOptions{Model: "mlp"}); err == nil || !strings.Contains(err.Error(), `"mlp"`) {
		t.Errorf("kind mlp: err %v", err)
	}
}

func testEnvDiscard() *env { e, _ := testEnv(); return e }

// TestTrainNN trains a one-epoch neural model (a small dnn from a --nn-config file, so that it
// takes seconds: the tiny dataset still has ~20k vertices) through the command line and checks
// what the store holds (kind, loss curves), that the loaded model predicts what its stored
// arrays compute (Linear, BatchNorm with the running statistics, LeakyReLU, Linear), and the
// checkpoint the run left. (Resuming is checked in package nn.)
func TestTrainNN(t *testing.T) {
	if raceEnabled {
		t.Skip("the gomlx Go backend fails checkptr under the race detector")
	}
	td := newTinyDataset(t)
	o := td.opts
	cfgFile := filepath.Join(t.TempDir(), "small.json")
	if err := os.WriteFile(cfgFile, []byte(`{"kind": "dnn", "hidden": 4, "blocks": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--data", o.Data, "--cache", o.Cache, "--models", o.Models, "--nn-config", cfgFile,
		"--epochs", "1", "--batch-size", "16", "--lr", "1e-3"}
	e, out := testEnv()
	if err := run(context.Background(), e, args); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "subj01 lh nn-custom epoch 1/1: train loss") {
		t.Errorf("no progress line per epoch:\n%s", out)
	}
	dir := kindDir(o.Models, 1, "nn-custom", "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt")
	if _, err := loadModel(dir, nil); err == nil || !strings.Contains(err.Error(), "backend") {
		t.Errorf("loading a neural model without a backend: err %v", err)
	}
	be, err := compute.Open("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadModel(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mf := m.Manifest
	if mf.Kind != "nn-custom" || len(mf.Loss) != 4 || mf.Metrics["lh_val_mean_r"] == 0 || !strings.Contains(mf.Meta["nn_config"], `"lr":0.001`) {
		t.Fatalf("manifest kind %q, %d loss curves, metrics %v, meta %v", mf.Kind, len(mf.Loss), mf.Metrics, mf.Meta)
	}
	for _, c := range mf.Loss {
		if len(c.Values) != 1 || !(c.Values[0] > 0) {
			t.Errorf("%s %s loss %v, want one positive value", c.Hemi, c.Split, c.Values)
		}
	}
	// The prediction computed from the stored arrays, in float64.
	p, v := mf.FeatureDim, m.Vertices(1)
	read := func(name string) []float32 {
		d, _, err := npy.ReadFloat32(filepath.Join(dir, "rh", name))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w0, b0, gamma, beta, w1, b1 := read("param00.npy"), read("param01.npy"), read("param02.npy"), read("param03.npy"), read("param04.npy"), read("param05.npy")
	mean, variance := read("stat00.npy"), read("stat01.npy")
	if len(w0) != p*4 || len(w1) != 4*v {
		t.Fatalf("stored weights of %d and %d values for %d features, 4 hidden, %d vertices", len(w0), len(w1), p, v)
	}
	x := make([]float32, 3*p)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	pred, err := m.Predict(1, x, 3)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 3 {
		var h [4]float64
		for j := range 4 {
			z := float64(b0[j])
			for k := range p {
				z += float64(x[r*p+k]) * float64(w0[k*4+j])
			}
			z = (z-float64(mean[j]))/math.Sqrt(float64(variance[j])+1e-5)*float64(gamma[j]) + float64(beta[j])
			h[j] = max(z, 0.01*z)
		}
		for c := 0; c < v; c += 997 {
			want := float64(b1[c])
			for j := range 4 {
				want += h[j] * float64(w1[j*v+c])
			}
			if d := math.Abs(float64(pred[r*v+c]) - want); d > 1e-4*(1+math.Abs(want)) {
				t.Fatalf("prediction [%d,%d] = %v, from the stored arrays %v", r, c, pred[r*v+c], want)
			}
		}
	}
	if _, err := m.Predict(1, x[:p+1], 2); err == nil {
		t.Error("Predict with the wrong number of features: no error")
	}
	if _, err := os.Stat(filepath.Join(nnCheckpointDir(o.Models, dir, "rh"), "checkpoint.json")); err != nil {
		t.Errorf("no checkpoint: %v", err)
	}
	if mfs, err := encoding.List(o.Models); err != nil || len(mfs) != 1 {
		t.Errorf("the store lists %d models (err %v), want the one: the checkpoints are not models", len(mfs), err)
	}
	// evaluate scores it and draws its loss curves.
	rep := filepath.Join(t.TempDir(), "report")
	if err := run(context.Background(), testEnvDiscard(), []string{"evaluate", "--data", o.Data, "--cache", o.Cache, "--models", o.Models,
		"--report", rep}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(rep, "m01_loss.png")); err != nil || st.Size() < 1000 {
		t.Errorf("no loss figure in the report: %v", err)
	}
	// A preset name that is not one.
	if err := run(context.Background(), testEnvDiscard(), []string{"train", "--data", o.Data, "--models", o.Models, "--model", "nn-big"}); err == nil {
		t.Error("--model nn-big: no error")
	}
}

// FuzzNNConfig feeds arbitrary --nn-config files to the configuration reader: it must fail
// cleanly or return a configuration that validates and keeps the file's kind.
func FuzzNNConfig(f *testing.F) {
	f.Add([]byte(`{"kind": "dnn", "hidden": 4, "blocks": 1}`))
	f.Add([]byte(`{"kind": "roi", "lr": 0.001, "epochs": 3}`))
	f.Add([]byte(`{"kind": "pos", "pos_dim": 12, "pos_layers": 3, "joint": true}`))
	f.Add([]byte(`{"kind": "conv1d", "conv_kernel": 0}`))
	f.Add([]byte(`{"kind": "dnn", "heads": "roi", "dropout": 1.5}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		o := trainOptions{Model: "nn-custom", NN: nnOptions{ConfigFile: path}}
		cfg, err := o.nnConfig()
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid configuration %+v: %v", cfg, err)
		}
	})
}

// TestNNConfigOverrides checks that the flags override a preset's settings and keep the others,
// and how --nn-config goes with --model.
func TestNNConfigOverrides(t *testing.T) {
	o := trainOptions{Model: "nn-roi", NN: nnOptions{Epochs: 3, LR: 5e-4, Seed: 7}}
	cfg, err := o.nnConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kind != "roi" || cfg.Epochs != 3 || cfg.LR != 5e-4 || cfg.Seed != 7 || cfg.WeightDecay != 1e-2 || cfg.StepGamma != 0.75 || cfg.BatchSize != 64 {
		t.Errorf("nn-roi with overrides: %+v", cfg)
	}
	o = trainOptions{Model: "nn-roi", NN: nnOptions{LR: -1}}
	if _, err := o.nnConfig(); err == nil {
		t.Error("--lr -1 accepted")
	}
	for _, tc := range []struct {
		model, file, want, err string
	}{
		{"", "c.json", "nn-custom", ""},
		{"ridge", "c.json", "nn-custom", ""}, // ridge is the flag's default
		{"nn-dnn", "c.json", "", "--nn-config"},
		{"nn-custom", "", "", "--nn-config"},
		{"nn-dnn", "", "nn-dnn", ""},
	} {
		o := trainOptions{Model: tc.model, NN: nnOptions{ConfigFile: tc.file}}
		err := o.resolveNN()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("--model %q --nn-config %q: err %v, want one naming %s", tc.model, tc.file, err, tc.err)
			}
			continue
		}
		if err != nil || o.Model != tc.want {
			t.Errorf("--model %q --nn-config %q: model %q, err %v; want %q", tc.model, tc.file, o.Model, err, tc.want)
		}
	}
}
