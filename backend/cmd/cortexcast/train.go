package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/metrics"
)

// splitSeed is the numpy seed of the held-out validation split: the Algonauts devkit's 90/10
// split with its tutorial's seed (algonauts.DevkitSplit reproduces it index for index).
const splitSeed = 5

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "train", "[flags]",
		"Fit a ridge encoding model per subject and hemisphere on cached image features (extracted first if\n"+
			"missing). The regularisation strength is chosen per vertex by efficient leave-one-out over a log grid.\n"+
			"The model is fit on 90% of the training images; the other 10% give the validation r saved with it.")
	o := trainFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := trainAll(ctx, e, *o)
	return err
}

type trainOptions struct {
	Data, Cache, Models, Extractor, Backend, Subjects string
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

// modelDir is where the model of a subject for an extractor lives in the store.
func modelDir(models string, subject int, extractorID string) string {
	return filepath.Join(models, fmt.Sprintf("subj%02d_ridge_%s", subject, extractorID))
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

// trainAll fits and saves a model for each selected subject and returns their directories.
func trainAll(ctx context.Context, e *env, o trainOptions) ([]string, error) {
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
	var dirs []string
	for _, s := range subs {
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
		man := encoding.Manifest{Subject: s, Features: ext.ID(), FeatureDim: p, Kind: "ridge", Alphas: encoding.DefaultAlphas(),
			Metrics: map[string]float64{}, DataFingerprint: fp, CodeVersion: version(),
			Meta: map[string]string{"dataset": o.Data, "train_images": fmt.Sprint(len(trainIdx)), "val_images": fmt.Sprint(len(valIdx)),
				"split": fmt.Sprintf("the Algonauts devkit 90/10 split, numpy seed %d", splitSeed)}}
		for hi, hemi := range algonauts.Hemis() {
			y, _, v, err := sub.FMRI(hemi)
			if err != nil {
				return nil, err
			}
			yt, yv := rows(y, v, trainIdx), rows(y, v, valIdx)
			label := fmt.Sprintf("subj%02d %s ridge", s, hemi)
			bar := progressbar.NewOptions(v, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription(label),
				progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
			start := time.Now()
			r, err := encoding.FitRidge(xt, len(trainIdx), p, yt, v, encoding.RidgeOptions{
				Alphas: encoding.DefaultAlphas(), Progress: func(done, _ int) { bar.Set(done) }})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
			bar.Finish()
			pred, err := predictOn(be, r, xv, len(valIdx))
			if err != nil {
				return nil, err
			}
			rv := metrics.PearsonColumns(pred, yv, len(valIdx), v)
			mean, median, _ := metrics.Summary(rv)
			e.log.Info("trained", "subject", s, "hemi", hemi, "vertices", v, "features", p, "seconds",
				time.Since(start).Round(time.Millisecond).Seconds(), "val_mean_r", mean, "val_median_r", median)
			man.Metrics[string(hemi)+"_val_mean_r"] = float64(mean)
			man.Metrics[string(hemi)+"_val_median_r"] = float64(median)
			m.Hemis[hi] = r
		}
		dir := modelDir(o.Models, s, ext.ID())
		if err := encoding.Save(dir, m, man); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stdout, "subj%02d: model saved to %s (validation mean r: lh %.3f, rh %.3f)\n", s, dir,
			man.Metrics["lh_val_mean_r"], man.Metrics["rh_val_mean_r"])
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

// predictOn computes (x − XMean)·W + YMean for n rows on the compute backend.
func predictOn(be *compute.Backend, r *encoding.Ridge, x []float32, n int) ([]float32, error) {
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
