package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/encoding/nn"
	"cortexcast/backend/features"
	"cortexcast/backend/metrics"
	"cortexcast/meshes"
)

// splitSeed is the numpy seed of the held-out validation split: the Algonauts devkit's 90/10
// split with its tutorial's seed (algonauts.DevkitSplit reproduces it index for index).
const splitSeed = 5

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "train", "[flags]",
		"Fit an encoding model per subject and hemisphere on cached image features (extracted first if missing).\n"+
			"--model ridge chooses the regularisation strength per vertex by efficient leave-one-out over a log grid;\n"+
			"ridge-kfold by K-fold cross-validation (--folds); baseline is the organisers' incremental PCA to 100\n"+
			"components followed by least squares. The model is fit on 90% of the training images; the other 10% give\n"+
			"the validation r saved with it. --sweep trains several models, then evaluates them and writes one report.\n"+
			"The neural models of the thesis zoo (--model nn-simple, nn-dnn, nn-dropout, nn-residual, nn-roi, nn-conv1d,\n"+
			"nn-pos, nn-comb, nn-all — every selected subject at once: a shared trunk, a head per subject — or\n"+
			"--nn-config FILE) train with AdamW on the thesis defaults (lr 1e-4, weight decay 1e-2, lr ×0.75 every 10\n"+
			"epochs, 30 epochs, MSE) on the same 90%, validate on the 10% each epoch (early stopping keeps the best),\n"+
			"print the losses per epoch, and checkpoint every epoch under <models>/.checkpoints: a rerun of the same\n"+
			"configuration resumes there (more --epochs continue it), --fresh starts over.")
	o := trainFlags(fs)
	modelFlags(fs, o)
	nnFlags(fs, o)
	pluginFlag(fs, o)
	alphas := fs.String("alphas", "", "ridge alpha grid: LO:HI:N (N values log-spaced from LO to HI) or a comma list (default 1e-1:1e7:17)")
	sweep := fs.String("sweep", "", "train several models: a comma list of kinds (ridge,ridge-kfold,baseline) or a JSON config file")
	reportDir := fs.String("report", "", "with --sweep: report directory (default <models>/report)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("train: unexpected argument %q", fs.Arg(0))
	}
	if *alphas != "" {
		a, err := parseAlphas(*alphas)
		if err != nil {
			return fmt.Errorf("train: --alphas: %w", err)
		}
		o.Alphas = a
	}
	if err := o.resolveNN(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if *sweep != "" {
		runs, err := parseSweep(*sweep, *o)
		if err != nil {
			return fmt.Errorf("train: --sweep: %w", err)
		}
		return runSweep(ctx, e, *o, runs, *reportDir)
	}
	_, err := trainAll(ctx, e, *o)
	return err
}

// modelFlags registers the flags that choose the kind of model.
func modelFlags(fs *flag.FlagSet, o *trainOptions) {
	fs.StringVar(&o.Model, "model", encoding.KindRidge, "model kind: "+strings.Join(encoding.Kinds(), ", "))
	fs.IntVar(&o.Folds, "folds", 5, "cross-validation folds of ridge-kfold (at least 2)")
}

type trainOptions struct {
	Data, Cache, Models, Extractor, Backend, Subjects string

	// Model is the kind of model trained, one of encoding.Kinds(); "" means ridge.
	Model string
	// Folds is the number of cross-validation folds of ridge-kfold (0 means 5).
	Folds int
	// Alphas is the ridge grid; nil means encoding.DefaultAlphas().
	Alphas []float64
	// NN chooses and trains the neural models (kinds encoding.NNKinds()).
	NN nnOptions
	// PJRTPlugin is the --pjrt-plugin value of an XLA backend ("" searches, see compute.FindPlugin).
	PJRTPlugin string
}

// pluginFlag registers --pjrt-plugin.
func pluginFlag(fs *flag.FlagSet, o *trainOptions) {
	fs.StringVar(&o.PJRTPlugin, "pjrt-plugin", "", "with --backend xla:…: the PJRT plugin .so (or its directory); default $"+
		compute.PluginEnvVar+", then $PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla, Python jax installations (never downloaded)")
}

// kind returns the model kind, ridge by default.
func (o trainOptions) kind() string {
	if o.Model == "" {
		return encoding.KindRidge
	}
	return o.Model
}

// folds returns the K-fold count, 5 by default.
func (o trainOptions) folds() int {
	if o.Folds == 0 {
		return 5
	}
	return o.Folds
}

// alphaGrid returns the ridge grid, the default one when none was given.
func (o trainOptions) alphaGrid() []float64 {
	if len(o.Alphas) == 0 {
		return encoding.DefaultAlphas()
	}
	return o.Alphas
}

// maxAlphas bounds the size of an alpha grid given on the command line.
const maxAlphas = 1000

// parseAlphas reads an alpha grid: "LO:HI:N", N values log-spaced from LO to HI inclusive (numpy's
// logspace(log10 LO, log10 HI, N)), or a comma-separated list. Every alpha must be positive and finite.
func parseAlphas(s string) ([]float64, error) {
	s = strings.TrimSpace(s)
	var out []float64
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		lo, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		hi, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		n, err3 := strconv.Atoi(strings.TrimSpace(parts[2]))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("grid %q is not LO:HI:N: %w", s, err)
		}
		if n < 1 || n > maxAlphas {
			return nil, fmt.Errorf("grid %q has %d values, want 1 to %d", s, n, maxAlphas)
		}
		if !(lo > 0) || !(hi > 0) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return nil, fmt.Errorf("grid %q: LO and HI must be positive and finite", s)
		}
		if n == 1 {
			return []float64{lo}, nil
		}
		a, b := math.Log10(lo), math.Log10(hi)
		for i := range n {
			out = append(out, math.Pow(10, a+(b-a)*float64(i)/float64(n-1)))
		}
		return out, nil
	} else if len(parts) != 1 {
		return nil, fmt.Errorf("grid %q has %d ':'-separated parts, want LO:HI:N", s, len(parts))
	}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("alpha %q: %w", f, err)
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("alpha %q must be positive and finite", f)
		}
		if len(out) == maxAlphas {
			return nil, fmt.Errorf("more than %d alphas", maxAlphas)
		}
		out = append(out, v)
	}
	return out, nil
}

// alphaCounts counts the targets that chose each alpha of the grid (the nearest grid value on a log
// scale, so float32 rounding of the stored alphas does not matter).
func alphaCounts(alpha []float32, grid []float64) []int {
	counts := make([]int, len(grid))
	if len(grid) == 0 {
		return counts
	}
	for _, a := range alpha {
		la := math.Log(float64(a))
		best, bd := 0, math.Inf(1)
		for i, g := range grid {
			if d := math.Abs(math.Log(g) - la); d < bd {
				best, bd = i, d
			}
		}
		counts[best]++
	}
	return counts
}

// formatCounts writes counts as a JSON array, the form they take in the manifest's meta.
func formatCounts(c []int) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// parseCounts reads what formatCounts wrote.
func parseCounts(s string) ([]int, error) {
	var c []int
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("alpha counts %q: %w", s, err)
	}
	return c, nil
}

// printAlphaHistogram prints the chosen alphas per hemisphere: one row per grid value, a count and a bar.
func printAlphaHistogram(w io.Writer, title string, grid []float64, counts map[string][]int) {
	hemis := []string{}
	total := map[string]int{}
	for _, h := range algonauts.Hemis() {
		if c, ok := counts[string(h)]; ok && len(c) == len(grid) {
			hemis = append(hemis, string(h))
			for _, k := range c {
				total[string(h)] += k
			}
		}
	}
	if len(hemis) == 0 || len(grid) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: chosen alphas (vertices per alpha)\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  alpha")
	for _, h := range hemis {
		fmt.Fprintf(tw, "\t%s\t", h)
	}
	fmt.Fprintln(tw)
	for i, g := range grid {
		fmt.Fprintf(tw, "  %.3g", g)
		for _, h := range hemis {
			c := counts[h][i]
			bar := 0
			if total[h] > 0 {
				bar = (40*c + total[h] - 1) / total[h]
			}
			fmt.Fprintf(tw, "\t%d\t%s", c, strings.Repeat("#", bar))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// trainFlags registers the flags that train, evaluate, serve and demo share.
func trainFlags(fs *flag.FlagSet) *trainOptions {
	o := &trainOptions{}
	fs.StringVar(&o.Data, "data", "data/sim", "dataset root (subjNN/ folders inside)")
	fs.StringVar(&o.Cache, "cache", "data/features", "feature cache directory")
	fs.StringVar(&o.Models, "models", "data/models", "model store directory")
	fs.StringVar(&o.Extractor, "extractor", "gabor", "feature extractor: gabor (embedded, no weights file)")
	fs.StringVar(&o.Backend, "backend", "", "compute backend: go (pure Go, default), xla:cpu or xla:cuda (binary built with XLA=1); default $"+compute.EnvVar)
	fs.StringVar(&o.Subjects, "subjects", "", "comma-separated subjects, e.g. 1,2 (default: all in the dataset)")
	return o
}

// modelDir is where the (plain) ridge model of a subject for an extractor lives in the store; serve,
// submit and demo use it.
func modelDir(models string, subject int, extractorID string) string {
	return kindDir(models, subject, encoding.KindRidge, extractorID)
}

// kindDir is where the model of a kind lives in the store: subjNN_<kind>_<extractor ID>.
func kindDir(models string, subject int, kind, extractorID string) string {
	return filepath.Join(models, fmt.Sprintf("subj%02d_%s_%s", subject, kind, extractorID))
}

// parseSubjects reads "1,2" (or "" for all of avail).
func parseSubjects(s string, avail []int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return avail, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(f), "subj"))
		if err != nil {
			return nil, fmt.Errorf("subject %q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// baselineComponents is the number of PCA components of the baseline (the devkit's), fewer when
// there are fewer training images or features.
const baselineComponents = 100

// trainAll fits and saves a model of kind o.Model for each selected subject and returns their directories.
func trainAll(ctx context.Context, e *env, o trainOptions) ([]string, error) {
	kind := o.kind()
	if !slices.Contains(encoding.Kinds(), kind) {
		return nil, fmt.Errorf("train: model kind %q, want one of %s", kind, strings.Join(encoding.Kinds(), ", "))
	}
	var nnCfg nn.Config
	if encoding.IsNN(kind) {
		var err error
		if nnCfg, err = o.nnConfig(); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if kind == encoding.KindRidgeKFold && o.folds() < 2 {
		return nil, fmt.Errorf("train: --folds %d, want at least 2", o.folds())
	}
	ext, err := e.extractor(o.Extractor)
	if err != nil {
		return nil, err
	}
	be, err := compute.OpenWithPlugin(compute.Resolve(o.Backend), o.PJRTPlugin, e.log)
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
	if nnCfg.Joint {
		return trainNNJoint(ctx, e, be, o, nnCfg, ds, subs, ext)
	}
	var dirs []string
	for _, s := range subs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, err
		}
		for _, note := range sub.Notes {
			e.log.Warn(note)
		}
		x, p, err := cachedFeatures(ctx, e, ext, o.Cache, sub, "train")
		if err != nil {
			return nil, err
		}
		n := len(sub.Train)
		trainIdx, valIdx := algonauts.DevkitSplit(n, splitSeed)
		xt, xv := rows(x, p, trainIdx), rows(x, p, valIdx)
		fp, err := imageFingerprint(sub.Train)
		if err != nil {
			return nil, err
		}
		m := &encoding.SubjectModel{Subject: s, Features: ext.ID()}
		man := encoding.Manifest{Subject: s, Features: ext.ID(), FeatureDim: p, Kind: kind,
			Metrics: map[string]float64{}, DataFingerprint: fp, CodeVersion: version(),
			Meta: map[string]string{"dataset": o.Data, "train_images": fmt.Sprint(len(trainIdx)), "val_images": fmt.Sprint(len(valIdx)),
				"split": fmt.Sprintf("the Algonauts devkit 90/10 split, numpy seed %d", splitSeed)}}
		if encoding.IsNN(kind) {
			dir := kindDir(o.Models, s, kind, ext.ID())
			if err := trainNNSubject(ctx, e, be, o, nnCfg, sub, x, p, trainIdx, valIdx, dir, man); err != nil {
				return nil, err
			}
			dirs = append(dirs, dir)
			continue
		}
		components := min(baselineComponents, len(trainIdx), p)
		switch kind {
		case encoding.KindBaseline:
			man.Meta["pca_components"] = fmt.Sprint(components)
		case encoding.KindRidgeKFold:
			man.Alphas = o.alphaGrid()
			man.Meta["folds"] = fmt.Sprint(o.folds())
			man.Meta["fold_seed"] = fmt.Sprint(splitSeed)
		default:
			man.Alphas = o.alphaGrid()
		}
		counts := map[string][]int{}
		for hi, hemi := range algonauts.Hemis() {
			y, _, v, err := sub.FMRI(hemi)
			if err != nil {
				return nil, err
			}
			yt, yv := rows(y, v, trainIdx), rows(y, v, valIdx)
			label := fmt.Sprintf("subj%02d %s %s", s, hemi, kind)
			start := time.Now()
			var r *encoding.Ridge
			if kind == encoding.KindBaseline {
				var pca *encoding.PCA
				r, pca, err = encoding.FitPCABaseline(xt, len(trainIdx), p, yt, v, components, 0)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", label, err)
				}
				var ev float64
				for _, x := range pca.ExplainedVarianceRatio {
					ev += x
				}
				man.Metrics[string(hemi)+"_pca_explained_variance_ratio"] = ev
			} else {
				bar := progressbar.NewOptions(v, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription(label),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
				opt := encoding.RidgeOptions{Alphas: man.Alphas, Progress: func(done, _ int) { bar.Set(done) }}
				if kind == encoding.KindRidgeKFold {
					opt.Folds, opt.Seed = o.folds(), splitSeed
				}
				r, err = encoding.FitRidge(xt, len(trainIdx), p, yt, v, opt)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", label, err)
				}
				bar.Finish()
				c := alphaCounts(r.Alpha, man.Alphas)
				counts[string(hemi)] = c
				man.Meta[string(hemi)+"_alpha_counts"] = formatCounts(c)
			}
			pred, err := predictOn(be, r, xv, len(valIdx))
			if err != nil {
				return nil, err
			}
			rv := metrics.PearsonColumns(pred, yv, len(valIdx), v)
			mean, median, _ := metrics.Summary(rv)
			e.log.Info("trained", "subject", s, "hemi", hemi, "kind", kind, "vertices", v, "features", p, "seconds",
				time.Since(start).Round(time.Millisecond).Seconds(), "val_mean_r", mean, "val_median_r", median)
			man.Metrics[string(hemi)+"_val_mean_r"] = float64(mean)
			man.Metrics[string(hemi)+"_val_median_r"] = float64(median)
			m.Hemis[hi] = r
		}
		dir := kindDir(o.Models, s, kind, ext.ID())
		if err := encoding.Save(dir, m, man); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stdout, "subj%02d: %s model saved to %s (validation mean r: lh %.3f, rh %.3f)\n", s, kind, dir,
			man.Metrics["lh_val_mean_r"], man.Metrics["rh_val_mean_r"])
		printAlphaHistogram(e.stdout, fmt.Sprintf("subj%02d %s", s, kind), man.Alphas, counts)
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// rows gathers the given rows of a row-major matrix with cols columns.
func rows(x []float32, cols int, idx []int) []float32 {
	out := make([]float32, len(idx)*cols)
	for i, r := range idx {
		copy(out[i*cols:(i+1)*cols], x[r*cols:(r+1)*cols])
	}
	return out
}

// predictOn computes (x − XMean)·W + YMean for n rows: on the compute backend when it is an XLA one,
// else with the encoding package's CPU path (BLAS, one pass over W for few rows), which beats the
// pure-Go gomlx backend's packing of the large W on every call.
func predictOn(be *compute.Backend, r *encoding.Ridge, x []float32, n int) ([]float32, error) {
	if be == nil || !strings.HasPrefix(be.Spec, "xla") {
		return r.Predict(x, n), nil
	}
	xc := make([]float32, len(x))
	for i := range n {
		for j := range r.P {
			xc[i*r.P+j] = x[i*r.P+j] - r.XMean[j]
		}
	}
	out, err := be.MatMul(xc, n, r.P, r.W, r.V)
	if err != nil {
		return nil, err
	}
	for i := range n {
		row := out[i*r.V : (i+1)*r.V]
		for j := range row {
			row[j] += r.YMean[j]
		}
	}
	return out, nil
}

// sweepConfig is the JSON file of `train --sweep FILE`: every model is trained on every extractor's
// features (the --extractor flag when Extractors is empty).
//
//	{"extractors": ["gabor"],
//	 "models": [{"kind": "ridge"}, {"kind": "ridge-kfold", "folds": 5, "alphas": "1e-1:1e7:17"}, {"kind": "baseline"}]}
type sweepConfig struct {
	Extractors []string     `json:"extractors"`
	Models     []sweepModel `json:"models"`
}

// sweepModel is one model of a sweep.
type sweepModel struct {
	Kind   string `json:"kind"`
	Folds  int    `json:"folds,omitempty"`
	Alphas string `json:"alphas,omitempty"` // as --alphas; empty means the --alphas flag or the default grid
}

// maxSweepRuns bounds the models one sweep trains; maxSweepBytes the config file.
const (
	maxSweepRuns  = 64
	maxSweepBytes = 1 << 16
)

// parseSweep reads the value of --sweep: a comma list of model kinds, or the path of a JSON
// sweepConfig (a value ending in ".json", or naming an existing file). It returns one trainOptions
// per model, based on base.
func parseSweep(spec string, base trainOptions) ([]trainOptions, error) {
	if strings.HasSuffix(spec, ".json") || isFile(spec) {
		b, err := readLimited(spec, maxSweepBytes)
		if err != nil {
			return nil, err
		}
		runs, err := parseSweepConfig(b, base)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
		return runs, nil
	}
	var runs []trainOptions
	for _, k := range strings.Split(spec, ",") {
		o := base
		o.Model = strings.TrimSpace(k)
		if !slices.Contains(encoding.Kinds(), o.Model) {
			return nil, fmt.Errorf("model kind %q, want one of %s", o.Model, strings.Join(encoding.Kinds(), ", "))
		}
		runs = append(runs, o)
	}
	return runs, nil
}

// parseSweepConfig decodes a sweepConfig body into the runs it asks for.
func parseSweepConfig(body []byte, base trainOptions) ([]trainOptions, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var cfg sweepConfig
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decoding the sweep config: %w", err)
	}
	if len(cfg.Models) == 0 {
		return nil, errors.New(`the sweep config lists no "models"`)
	}
	exts := cfg.Extractors
	if len(exts) == 0 {
		exts = []string{base.Extractor}
	}
	if len(exts)*len(cfg.Models) > maxSweepRuns {
		return nil, fmt.Errorf("the sweep config asks for %d×%d models, more than %d", len(exts), len(cfg.Models), maxSweepRuns)
	}
	var runs []trainOptions
	for _, x := range exts {
		// Any name features.New accepts, ONNX files (NAME:FILE) included.
		if _, err := features.New(x); err != nil {
			return nil, fmt.Errorf("sweep extractor %q: %w", x, err)
		}
		for i, m := range cfg.Models {
			o := base
			o.Extractor, o.Model = x, m.Kind
			if !slices.Contains(encoding.Kinds(), m.Kind) {
				return nil, fmt.Errorf("models[%d]: kind %q, want one of %s", i, m.Kind, strings.Join(encoding.Kinds(), ", "))
			}
			if m.Folds != 0 {
				if m.Folds < 2 {
					return nil, fmt.Errorf("models[%d]: folds %d, want at least 2", i, m.Folds)
				}
				o.Folds = m.Folds
			}
			if m.Alphas != "" {
				a, err := parseAlphas(m.Alphas)
				if err != nil {
					return nil, fmt.Errorf("models[%d]: alphas: %w", i, err)
				}
				o.Alphas = a
			}
			runs = append(runs, o)
		}
	}
	return runs, nil
}

// isFile reports whether path names an existing regular file.
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// runSweep trains every run, then evaluates every model of the selected subjects in the store and
// writes one report comparing them.
func runSweep(ctx context.Context, e *env, base trainOptions, runs []trainOptions, reportDir string) error {
	for i, o := range runs {
		fmt.Fprintf(e.stdout, "sweep %d/%d: %s on %s features\n", i+1, len(runs), o.kind(), o.Extractor)
		if _, err := trainAll(ctx, e, o); err != nil {
			return fmt.Errorf("sweep run %d (%s, %s): %w", i+1, o.kind(), o.Extractor, err)
		}
	}
	base.Extractor = "" // every feature set of the sweep
	return evaluateAndReport(ctx, e, base, "", reportDir)
}

// nnOptions are the flags of the neural models.
type nnOptions struct {
	ConfigFile string // --nn-config: a JSON nn.Config (kind nn-custom)
	// Overrides of the preset's or file's training settings; zero keeps them.
	Epochs, BatchSize, Patience int
	LR, WeightDecay             float64
	Seed                        int64
	ROIClass                    string // ROI heads: the ROI class whose labels split the vertices
	Fresh                       bool   // discard checkpoints instead of resuming
}

// nnFlags registers the neural models' flags.
func nnFlags(fs *flag.FlagSet, o *trainOptions) {
	fs.StringVar(&o.NN.ConfigFile, "nn-config", "", "neural model: a JSON configuration file (the fields of nn.Config; the model's kind is nn-custom)")
	fs.IntVar(&o.NN.Epochs, "epochs", 0, "neural model: maximum epochs (default: the preset's, 30)")
	fs.IntVar(&o.NN.BatchSize, "batch-size", 0, "neural model: images per step (default: the preset's)")
	fs.IntVar(&o.NN.Patience, "patience", 0, "neural model: stop after this many epochs without a better validation loss (default: the preset's, 5)")
	fs.Float64Var(&o.NN.LR, "lr", 0, "neural model: AdamW learning rate (default 1e-4)")
	fs.Float64Var(&o.NN.WeightDecay, "weight-decay", 0, "neural model: AdamW weight decay (default 1e-2)")
	fs.Int64Var(&o.NN.Seed, "seed", 0, "neural model: random seed of initialisation and batch order (default 1)")
	fs.StringVar(&o.NN.ROIClass, "nn-rois", "streams", "neural model with ROI heads: the ROI class that gives one head per ROI (streams, prf-visualrois, …)")
	fs.BoolVar(&o.NN.Fresh, "fresh", false, "neural model: start over instead of resuming from a checkpoint")
}

// resolveNN makes --nn-config without --model ask for an nn-custom model.
func (o *trainOptions) resolveNN() error {
	if o.NN.ConfigFile == "" {
		if o.Model == "nn-custom" {
			return errors.New("--model nn-custom needs --nn-config FILE")
		}
		return nil
	}
	switch o.Model {
	case "", encoding.KindRidge, "nn-custom":
		o.Model = "nn-custom"
		return nil
	}
	return fmt.Errorf("--nn-config gives the model's configuration: it goes with --model nn-custom (or no --model), not %q", o.Model)
}

// maxNNConfigBytes bounds a --nn-config file.
const maxNNConfigBytes = 1 << 16

// nnConfig returns the configuration of o's neural model: the preset its kind names, or the
// --nn-config file, with the flags' overrides.
func (o trainOptions) nnConfig() (nn.Config, error) {
	var cfg nn.Config
	if o.kind() == "nn-custom" {
		if o.NN.ConfigFile == "" {
			return cfg, errors.New("model kind nn-custom needs --nn-config FILE")
		}
		body, err := readLimited(o.NN.ConfigFile, maxNNConfigBytes)
		if err != nil {
			return cfg, fmt.Errorf("--nn-config: %w", err)
		}
		cfg = nn.DefaultConfig()
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("--nn-config %s: %w", o.NN.ConfigFile, err)
		}
	} else {
		preset, ok := nn.Presets()[strings.TrimPrefix(o.kind(), encoding.NNKindPrefix)]
		if !ok {
			return cfg, fmt.Errorf("no neural model preset for kind %q", o.kind())
		}
		cfg = preset
	}
	if o.NN.Epochs != 0 {
		cfg.Epochs = o.NN.Epochs
	}
	if o.NN.BatchSize != 0 {
		cfg.BatchSize = o.NN.BatchSize
	}
	if o.NN.Patience != 0 {
		cfg.Patience = o.NN.Patience
	}
	if o.NN.LR != 0 {
		cfg.LR = o.NN.LR
	}
	if o.NN.WeightDecay != 0 {
		cfg.WeightDecay = o.NN.WeightDecay
	}
	if o.NN.Seed != 0 {
		cfg.Seed = o.NN.Seed
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// nnCheckpoints is where the checkpoints of the neural model called name go: a hidden directory
// of the store, which the store's listing skips; `models delete` removes it with the model.
func nnCheckpoints(models, name string) string {
	return filepath.Join(models, ".checkpoints", name)
}

// nnCheckpointDir is where the checkpoints of one hemisphere of the model in modelDir go.
func nnCheckpointDir(models, modelDir, hemi string) string {
	return filepath.Join(nnCheckpoints(models, filepath.Base(modelDir)), hemi)
}

// trainNNSubject trains a neural model per hemisphere of sub on the training rows, validating on
// the validation rows, and saves it to dir with the manifest man.
func trainNNSubject(ctx context.Context, e *env, be *compute.Backend, o trainOptions, cfg nn.Config, sub *algonauts.Subject,
	x []float32, p int, trainIdx, valIdx []int, dir string, man encoding.Manifest) error {
	s := sub.ID
	cfgJSON, _ := json.Marshal(cfg)
	man.Meta["nn_config"] = string(cfgJSON)
	man.Meta["backend"] = be.Spec
	man.Meta["split"] += "; early stopping on the validation images"
	xt, xv := rows(x, p, trainIdx), rows(x, p, valIdx)
	var hemis [2]*nn.Model
	defer func() {
		for _, m := range hemis {
			if m != nil {
				m.Close()
			}
		}
	}()
	for hi, hemi := range algonauts.Hemis() {
		y, _, v, err := sub.FMRI(hemi)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("subj%02d %s %s", s, hemi, o.kind())
		d := nn.Data{X: xt, N: len(trainIdx), P: p, Y: rows(y, v, trainIdx), V: v,
			XVal: xv, YVal: rows(y, v, valIdx), NVal: len(valIdx)}
		if err := nnVertexData(&d, cfg, o, sub, hemi, man.Meta); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		ckpt := nnCheckpointDir(o.Models, dir, string(hemi))
		if o.NN.Fresh {
			if err := os.RemoveAll(ckpt); err != nil {
				return fmt.Errorf("%s: --fresh: %w", label, err)
			}
		}
		start, last := time.Now(), time.Now()
		first := true
		m, err := nn.Fit(ctx, be, cfg, d, nn.Options{CheckpointDir: ckpt, Progress: func(epoch int, trainLoss, valLoss float64) {
			now := time.Now()
			resumed := ""
			if first && epoch > 1 {
				resumed = fmt.Sprintf(" (resumed from the checkpoint in %s)", ckpt)
			}
			first = false
			fmt.Fprintf(e.stdout, "%s epoch %d/%d: train loss %.5g, val loss %.5g, %.1f s%s\n",
				label, epoch, cfg.Epochs, trainLoss, valLoss, now.Sub(last).Seconds(), resumed)
			last = now
		}})
		if errors.Is(err, nn.ErrOtherRun) {
			return fmt.Errorf("%s: %w (--fresh discards it)", label, err)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		hemis[hi] = m
		pred, err := m.Predict(xv, len(valIdx))
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		rv := metrics.PearsonColumns(pred, d.YVal, len(valIdx), v)
		mean, median, _ := metrics.Summary(rv)
		e.log.Info("trained", "subject", s, "hemi", hemi, "kind", o.kind(), "vertices", v, "features", p,
			"epochs", len(m.TrainLoss), "best_epoch", m.BestEpoch, "seconds", time.Since(start).Round(time.Millisecond).Seconds(),
			"val_mean_r", mean, "val_median_r", median)
		man.Metrics[string(hemi)+"_val_mean_r"] = float64(mean)
		man.Metrics[string(hemi)+"_val_median_r"] = float64(median)
		man.Meta[string(hemi)+"_best_epoch"] = fmt.Sprint(m.BestEpoch)
	}
	if err := nn.SaveSubject(dir, man, hemis); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "subj%02d: %s model saved to %s (validation mean r: lh %.3f, rh %.3f)\n", s, o.kind(), dir,
		man.Metrics["lh_val_mean_r"], man.Metrics["rh_val_mean_r"])
	return nil
}

// nnVertexData adds to d what the architecture needs of each vertex: ROI labels for ROI heads,
// sphere coordinates for pos; meta notes them.
func nnVertexData(d *nn.Data, cfg nn.Config, o trainOptions, sub *algonauts.Subject, hemi algonauts.Hemi, meta map[string]string) error {
	var err error
	if cfg.Kind == nn.KindROI || cfg.Heads == nn.HeadsROI {
		if d.ROILabels, err = nnROILabels(sub, hemi, o.NN.ROIClass, d.V); err != nil {
			return err
		}
		meta["roi_heads"] = o.NN.ROIClass
	}
	if cfg.Kind == nn.KindPos {
		if d.Coords, err = vertexCoords(sub, hemi); err != nil {
			return err
		}
		meta["pos_surface"] = "fsaverage sphere"
	}
	return nil
}

// trainNNJoint trains a joint configuration (nn-all): per hemisphere one model across every
// selected subject, a shared trunk with a head per subject; each subject's model (the trunk
// and its head) is saved as that subject's model. The loss curves are the joint ones. No
// checkpoints: a joint run starts over.
func trainNNJoint(ctx context.Context, e *env, be *compute.Backend, o trainOptions, cfg nn.Config, ds *algonauts.Dataset,
	subs []int, ext features.Extractor) ([]string, error) {
	type subjectData struct {
		sub              *algonauts.Subject
		x                []float32
		p                int
		trainIdx, valIdx []int
		man              encoding.Manifest
		hemis            [2]*nn.Model
	}
	var all []*subjectData
	defer func() {
		for _, sd := range all {
			for _, m := range sd.hemis {
				if m != nil {
					m.Close()
				}
			}
		}
	}()
	cfgJSON, _ := json.Marshal(cfg)
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, err
		}
		x, p, err := cachedFeatures(ctx, e, ext, o.Cache, sub, "train")
		if err != nil {
			return nil, err
		}
		fp, err := imageFingerprint(sub.Train)
		if err != nil {
			return nil, err
		}
		tr, va := algonauts.DevkitSplit(len(sub.Train), splitSeed)
		man := encoding.Manifest{Subject: s, Features: ext.ID(), FeatureDim: p, Kind: o.kind(),
			Metrics: map[string]float64{}, DataFingerprint: fp, CodeVersion: version(),
			Meta: map[string]string{"dataset": o.Data, "train_images": fmt.Sprint(len(tr)), "val_images": fmt.Sprint(len(va)),
				"split":     fmt.Sprintf("the Algonauts devkit 90/10 split, numpy seed %d; early stopping on the validation images", splitSeed),
				"nn_config": string(cfgJSON), "backend": be.Spec, "joint_subjects": fmt.Sprint(subs)}}
		all = append(all, &subjectData{sub: sub, x: x, p: p, trainIdx: tr, valIdx: va, man: man})
	}
	for hi, hemi := range algonauts.Hemis() {
		data := make([]nn.Data, len(all))
		for i, sd := range all {
			y, _, v, err := sd.sub.FMRI(hemi)
			if err != nil {
				return nil, err
			}
			data[i] = nn.Data{X: rows(sd.x, sd.p, sd.trainIdx), N: len(sd.trainIdx), P: sd.p, Y: rows(y, v, sd.trainIdx), V: v,
				XVal: rows(sd.x, sd.p, sd.valIdx), YVal: rows(y, v, sd.valIdx), NVal: len(sd.valIdx)}
			if err := nnVertexData(&data[i], cfg, o, sd.sub, hemi, sd.man.Meta); err != nil {
				return nil, fmt.Errorf("subj%02d %s: %w", sd.sub.ID, hemi, err)
			}
		}
		label := fmt.Sprintf("subjects %v %s %s", subs, hemi, o.kind())
		last := time.Now()
		ms, err := nn.FitJoint(ctx, be, cfg, data, nn.Options{Progress: func(epoch int, trainLoss, valLoss float64) {
			fmt.Fprintf(e.stdout, "%s epoch %d/%d: train loss %.5g, val loss %.5g, %.1f s\n",
				label, epoch, cfg.Epochs, trainLoss, valLoss, time.Since(last).Seconds())
			last = time.Now()
		}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		for i, sd := range all {
			sd.hemis[hi] = ms[i]
			pred, err := ms[i].Predict(data[i].XVal, data[i].NVal)
			if err != nil {
				return nil, err
			}
			mean, median, _ := metrics.Summary(metrics.PearsonColumns(pred, data[i].YVal, data[i].NVal, data[i].V))
			sd.man.Metrics[string(hemi)+"_val_mean_r"] = float64(mean)
			sd.man.Metrics[string(hemi)+"_val_median_r"] = float64(median)
			sd.man.Meta[string(hemi)+"_best_epoch"] = fmt.Sprint(ms[i].BestEpoch)
		}
	}
	var dirs []string
	for _, sd := range all {
		dir := kindDir(o.Models, sd.sub.ID, o.kind(), ext.ID())
		if err := nn.SaveSubject(dir, sd.man, sd.hemis); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stdout, "subj%02d: %s model saved to %s (validation mean r: lh %.3f, rh %.3f)\n", sd.sub.ID, o.kind(), dir,
			sd.man.Metrics["lh_val_mean_r"], sd.man.Metrics["rh_val_mean_r"])
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// nnROILabels returns the ROI of each challenge vertex of a hemisphere in the given class (0 for
// none), the split of the vertices among the ROI heads.
func nnROILabels(sub *algonauts.Subject, hemi algonauts.Hemi, class string, v int) ([]int32, error) {
	labels, err := sub.ROIMask(hemi, class, "challenge")
	if err != nil {
		return nil, fmt.Errorf("ROI heads need the %s ROI mask: %w", class, err)
	}
	if len(labels) != v {
		return nil, fmt.Errorf("the %s ROI mask has %d vertices, the responses %d", class, len(labels), v)
	}
	return labels, nil
}

// vertexCoords returns the position of each challenge vertex of a hemisphere on the fsaverage
// sphere (V×3), for the positional encoding of the pos model.
func vertexCoords(sub *algonauts.Subject, hemi algonauts.Hemi) ([]float32, error) {
	dir, err := meshes.FindFsaverageDir("")
	if err != nil {
		return nil, fmt.Errorf("the pos model needs the fsaverage sphere: %w", err)
	}
	side := map[algonauts.Hemi]string{algonauts.LH: "left", algonauts.RH: "right"}[hemi]
	// The challenge vertices index the full-resolution fsaverage, beside fsaverage5 in the sources.
	surf, err := meshes.ReadSurface(filepath.Join(dir, "fsaverage", "sphere_"+side+".gii.gz"))
	if err != nil {
		return nil, fmt.Errorf("the pos model needs the fsaverage sphere: %w", err)
	}
	verts, err := sub.ChallengeVertices(hemi)
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, 3*len(verts))
	for _, i := range verts {
		if i < 0 || int(i) >= surf.NumVertices() {
			return nil, fmt.Errorf("challenge vertex %d is not on the %d-vertex sphere in %s", i, surf.NumVertices(), dir)
		}
		out = append(out, surf.Positions[3*i:3*i+3]...)
	}
	return out, nil
}
