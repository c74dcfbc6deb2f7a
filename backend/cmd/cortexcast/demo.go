package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/encoding"
	"cortexcast/backend/simulate"
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[flags]",
		"The embedded default, from nothing to a brain in the browser: write the simulated dataset, extract the\n"+
			"embedded Gabor features, fit a ridge model per subject and hemisphere, and serve the viewer. Steps whose\n"+
			"results are already there (same settings) are skipped, so a second run starts serving at once.\n"+
			"All data shown are SIMULATED.")
	base := fs.String("data", "data", "working directory: sim/ (dataset), sim.truth/, features/, models/ go inside")
	so := simFlags(fs)
	svo := serveFlags(fs)
	extractor := fs.String("extractor", "gabor", "feature extractor")
	backend := fs.String("backend", "", "compute backend (see `cortexcast train -h`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	so.out = filepath.Join(*base, "sim")
	o := trainOptions{Data: so.out, Cache: filepath.Join(*base, "features"), Models: filepath.Join(*base, "models"),
		Extractor: *extractor, Backend: *backend}
	if err := prepareDemo(ctx, e, so, o); err != nil {
		return err
	}
	return serve(ctx, e, o, *svo)
}

// prepareDemo simulates and trains what is missing or stale.
func prepareDemo(ctx context.Context, e *env, so *simOptions, o trainOptions) error {
	cfg := so.config()
	if m, err := simulate.ReadMarker(cfg.Root); err == nil && m.Seed == cfg.Seed && m.Subjects == cfg.Subjects &&
		m.Train == cfg.Train && m.Test == cfg.Test {
		fmt.Fprintf(e.stdout, "simulated dataset %s is ready\n", cfg.Root)
	} else {
		// A stale or half-written dataset is replaced whole.
		for _, d := range []string{cfg.Root, simulate.TruthDir(cfg.Root)} {
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("remove stale %s: %w", d, err)
			}
		}
		if err := simulateDataset(ctx, e, cfg); err != nil {
			return err
		}
	}
	stale, err := staleSubjects(e, o)
	if err != nil {
		return err
	}
	if len(stale) == 0 {
		fmt.Fprintln(e.stdout, "models are up to date")
		return nil
	}
	o.Subjects = joinInts(stale)
	_, err = trainAll(ctx, e, o)
	return err
}

// staleSubjects lists the subjects whose model is missing or was trained on other images.
func staleSubjects(e *env, o trainOptions) ([]int, error) {
	ext, err := e.extractor(o.Extractor)
	if err != nil {
		return nil, err
	}
	ds, err := algonauts.Open(o.Data)
	if err != nil {
		return nil, err
	}
	var stale []int
	for _, s := range ds.Subjects() {
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, err
		}
		fp, err := imageFingerprint(sub.Train)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(modelDir(o.Models, s, ext.ID()), "manifest.json"))
		if err != nil {
			stale = append(stale, s)
			continue
		}
		man, err := encoding.ParseManifest(b)
		if err != nil || man.DataFingerprint != fp {
			stale = append(stale, s)
		}
	}
	return stale, nil
}

func joinInts(v []int) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(x)
	}
	return s
}
