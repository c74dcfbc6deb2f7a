package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"cortexcast/backend/simulate"
)

func runSimulate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "simulate", "[flags]",
		"Write a simulated NSD dataset in the exact Algonauts 2023 layout (images, fMRI, ROI masks, mappings).\n"+
			"Early visual ROIs respond to contrast energy in retinotopic receptive fields, category ROIs to faces,\n"+
			"bodies, places and words; per-trial noise with 1-3 repeats gives a known noise ceiling. The true\n"+
			"responses go to <out>.truth beside the dataset. The same flags write the same files.")
	o := simFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return simulateDataset(ctx, e, o.config())
}

type simOptions struct {
	out, masks      string
	subjects, train int
	test            int
	seed            int64
}

func simFlags(fs *flag.FlagSet) *simOptions {
	d := simulate.DefaultConfig()
	o := &simOptions{}
	fs.StringVar(&o.out, "out", "data/sim", "dataset root to write")
	fs.IntVar(&o.subjects, "n-subjects", d.Subjects, "number of subjects (subj01…)")
	fs.IntVar(&o.train, "train", d.Train, "training images per subject")
	fs.IntVar(&o.test, "test", d.Test, "test images per subject")
	fs.Int64Var(&o.seed, "seed", d.Seed, "random seed")
	fs.StringVar(&o.masks, "masks", "", "directory with the real fsaverage-space Algonauts masks (default: found beside the meshes, e.g. ../shared/data/algonauts2023/roi_masks)")
	return o
}

func (o *simOptions) config() simulate.Config {
	c := simulate.Config{Root: o.out, Subjects: o.subjects, Train: o.train, Test: o.test, Seed: o.seed, MasksDir: o.masks}
	if c.MasksDir == "" {
		c.MasksDir = simulate.FindMasks()
	}
	return c
}

func simulateDataset(ctx context.Context, e *env, cfg simulate.Config) error {
	var bar *progressbar.ProgressBar
	stage := ""
	cfg.Progress = func(s string, done, total int) {
		if s != stage || bar == nil {
			if bar != nil {
				bar.Finish()
			}
			stage = s
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("simulate: "+s),
				progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
		}
		bar.Set(done)
	}
	if cfg.MasksDir == "" {
		e.log.Warn("real Algonauts masks not found: the simulated dataset uses synthetic vertex sets")
	}
	start := time.Now()
	if err := simulate.Generate(ctx, cfg); err != nil {
		return err
	}
	if bar != nil {
		bar.Finish()
	}
	fmt.Fprintf(e.stdout, "simulated dataset written to %s (truth in %s) in %s\n", cfg.Root, simulate.TruthDir(cfg.Root),
		time.Since(start).Round(100*time.Millisecond))
	return nil
}
