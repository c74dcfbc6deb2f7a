package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"cortexcast/backend/simulate"
)

// simulateTarget is the "ready in about a minute on 2 cores" for the
// make run default; a run over 1.5 times it counts as missed.
const simulateTarget = time.Minute

func simulateSection() section {
	return section{
		name:  "simulate",
		about: "time simulate.Generate for the `make run` default (2 subjects × 1000+100 images, real masks when found)",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			masks := fs.String("simulate-masks", "", "directory with the real fsaverage-space masks (default: found as cortexcast simulate finds them, e.g. ../shared/data/algonauts2023/roi_masks)")
			return func(ctx context.Context, b *bench) error { return benchSimulate(ctx, b, *masks) }
		},
	}
}

func benchSimulate(ctx context.Context, b *bench, masks string) error {
	cfg := simulate.DefaultConfig()
	cfg.Root = filepath.Join(b.work, "sim")
	cfg.MasksDir = masks
	if cfg.MasksDir == "" {
		cfg.MasksDir = simulate.FindMasks()
	}
	start := time.Now()
	if err := simulate.Generate(ctx, cfg); err != nil {
		return err
	}
	d := time.Since(start)
	m, err := simulate.ReadMarker(cfg.Root)
	if err != nil {
		return err
	}
	src := "synthetic layout (real masks not found)"
	if m.Masks.Real {
		src = "real masks"
	}
	verdict := ""
	if d > simulateTarget+simulateTarget/2 {
		verdict, b.missed = ", MISSED", true
	}
	fmt.Fprintf(b.out, "simulate %d subjects x (%d+%d) images, %s, %d+%d vertices: %s (target: about %s on 2 cores%s)\n",
		cfg.Subjects, cfg.Train, cfg.Test, src, m.Vertices[0], m.Vertices[1], seconds(d), seconds(simulateTarget), verdict)
	return nil
}
