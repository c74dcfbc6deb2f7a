package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"cortexcast/backend/compute"
	"cortexcast/backend/encoding/nn"
)

func nnSection() section {
	return section{
		name: "nn",
		about: "one training epoch of the ROI model (thesis defaults, batch 64) on the `make run`-sized data: 9841 images × 512 features " +
			"→ 19004 + 20544 vertices, timed over an epoch of -nn-steps steps per hemisphere (after a first, compiling one) and scaled " +
			"to the whole epoch; and the GPU path's status",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			images := fs.Int("nn-images", 9841, "training images of the epoch")
			feats := fs.Int("nn-features", 512, "features per image")
			verts := fs.String("nn-vertices", "19004,20544", "vertices per hemisphere, comma-separated")
			steps := fs.Int("nn-steps", 10, "steps timed per hemisphere, scaled to a whole epoch (0: run the whole epoch)")
			backend := fs.String("nn-backend", "go", "compute backend: go, xla:cpu or xla:cuda (a binary built with -tags xla)")
			plugin := fs.String("nn-pjrt-plugin", "", "PJRT plugin for an xla backend (default: searched, see compute.FindPlugin)")
			return func(ctx context.Context, b *bench) error {
				return benchNN(ctx, b, *images, *feats, *verts, *steps, *backend, *plugin)
			}
		},
	}
}

func benchNN(ctx context.Context, b *bench, images, p int, verts string, steps int, spec, plugin string) error {
	if err := benchNNOn(ctx, b, images, p, verts, steps, spec, plugin); err != nil {
		return err
	}
	if spec == "xla:cuda" {
		return nil
	}
	// The GPU path: measured when this binary has XLA and the machine a CUDA plugin, else its status.
	path, err := compute.FindPlugin("cuda", compute.PluginSearch{Flag: plugin, Getenv: os.Getenv})
	var nf *compute.PluginNotFoundError
	switch {
	case errors.As(err, &nf):
		fmt.Fprintf(b.out, "nn GPU path: not measured, no PJRT CUDA plugin on this machine (searched %d places: --nn-pjrt-plugin, $%s, $PJRT_PLUGIN_LIBRARY_PATH, go-xla's directories, Python site-packages)\n",
			len(nf.Looked), compute.PluginEnvVar)
		return nil
	case err != nil:
		fmt.Fprintln(b.out, "nn GPU path: not measured:", err)
		return nil
	}
	if err := benchNNOn(ctx, b, images, p, verts, 0, "xla:cuda", path); err != nil {
		fmt.Fprintf(b.out, "nn GPU path: PJRT CUDA plugin at %s, not measured: %v\n", path, err)
	}
	return nil
}

// benchNNOn times the ROI-model epoch on one backend.
func benchNNOn(ctx context.Context, b *bench, images, p int, verts string, steps int, spec, plugin string) error {
	be, err := compute.OpenWithPlugin(spec, plugin, nil)
	if err != nil {
		return err
	}
	cfg := nn.Presets()["roi"]
	cfg.Patience = 0
	// Timing steps: enough rows for that many batches after the 10% validation split.
	n := images
	if steps > 0 {
		n = min(images, int(float64(steps*cfg.BatchSize)/(1-cfg.ValFraction))+1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*p)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var total time.Duration
	var parts []string
	for _, f := range strings.Split(verts, ",") {
		var v int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v < 1 {
			return fmt.Errorf("-nn-vertices %q: %q is not a vertex count", verts, f)
		}
		y := make([]float32, n*v)
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		labels := make([]int32, v)
		for i := range labels {
			labels[i] = int32(i * 8 / v) // 8 ROIs of consecutive vertices, as the streams
		}
		// Two epochs; the second one's time, between the progress calls, leaves out compilation.
		var t1, t2 time.Time
		c := cfg
		c.Epochs = 2
		m, err := nn.Fit(ctx, be, c, nn.Data{X: x, N: n, P: p, Y: y, V: v, ROILabels: labels}, nn.Options{
			Progress: func(epoch int, _, _ float64) {
				if epoch == 1 {
					t1 = time.Now()
				} else {
					t2 = time.Now()
				}
			}})
		if err != nil {
			return err
		}
		m.Close()
		d := t2.Sub(t1)
		epoch := time.Duration(float64(d) * float64(images) / float64(n))
		total += epoch
		parts = append(parts, fmt.Sprintf("%d vertices %s", v, seconds(epoch)))
	}
	how := "a whole epoch"
	if n < images {
		how = fmt.Sprintf("an epoch of %d steps of %d images and its validation timed after a first one, scaled by %d/%d images", steps, cfg.BatchSize, images, n)
	}
	fmt.Fprintf(b.out, "nn ROI model, one epoch of %d images × %d features on %s: %s (%s; %s)\n",
		images, p, be.Spec, seconds(total), strings.Join(parts, " + "), how)
	return nil
}
