package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"cortexcast/backend/features"
	"cortexcast/backend/npy"
)

// featuresTarget is the target: Go within 2× of PyTorch on the CPU.
const featuresTarget = 2.0

// featuresSection times the Gabor extractor and, for full-size random-weight
// networks shaped like AlexNet and CLIP's ViT-B/32 (exported from PyTorch by
// scripts/fixtures/onnx_models.py into the work directory at run time), the
// ONNX extractor's forward pass in Go against the same model's forward pass
// in PyTorch on the CPU, on the same input batch.
func featuresSection() section {
	return section{
		name:  "features",
		about: "images/s: gabor, and AlexNet / ViT-B/32-shaped ONNX networks in Go (onnx-gomlx) vs the same model in PyTorch CPU",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			c := featuresConfig{}
			fs.IntVar(&c.gaborImages, "features-gabor-images", 64, "images for the gabor timing (425×425, the NSD stimulus size)")
			fs.IntVar(&c.batch, "features-batch", 8, "batch size of the network timings")
			fs.IntVar(&c.iters, "features-iters", 2, "timed batches per network (after one warm-up batch)")
			fs.StringVar(&c.backend, "features-backend", "", "compute backend for the networks (default: $CORTEXCAST_BACKEND or go)")
			fs.BoolVar(&c.torch, "features-torch", true, "export and time the networks with Debian's python3-torch (without it only gabor runs)")
			return func(ctx context.Context, b *bench) error { return benchFeatures(ctx, b, c) }
		},
	}
}

type featuresConfig struct {
	gaborImages, batch, iters int
	backend                   string
	torch                     bool
}

func benchFeatures(ctx context.Context, b *bench, c featuresConfig) error {
	if c.gaborImages < 1 || c.batch < 1 || c.iters < 1 {
		return fmt.Errorf("-features-gabor-images, -features-batch and -features-iters must be positive")
	}
	g, err := features.New("gabor")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(5, 6))
	imgs := make([]image.Image, c.gaborImages)
	for i := range imgs {
		m := image.NewRGBA(image.Rect(0, 0, 425, 425))
		for j := range m.Pix {
			m.Pix[j] = uint8(rng.IntN(256))
		}
		imgs[i] = m
	}
	start := time.Now()
	if _, err := g.Extract(ctx, imgs); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "features gabor (%s, %d dims): %.1f images/s on %d images 425x425\n", g.ID(), g.Dim(), float64(len(imgs))/time.Since(start).Seconds(), len(imgs))
	if !c.torch {
		fmt.Fprintln(b.out, "features networks: not run (-features-torch=false)")
		return nil
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintf(b.out, "features networks: not run (%v)\n", err)
		return nil
	}
	threads := runtime.GOMAXPROCS(0)
	cmd := exec.CommandContext(ctx, python, filepath.Join(root, "scripts/fixtures/onnx_models.py"), "bench", b.work,
		fmt.Sprint(c.batch), fmt.Sprint(c.iters), fmt.Sprint(threads))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(b.out, "features networks: PyTorch unavailable (%v)\n", err)
		return nil
	}
	// PyTorch exports and times every model first; Go times them after it
	// has exited, so that neither measurement runs while the other computes
	// (on 2 cores an overlap halved whichever ran second).
	type torchResult struct {
		Name         string  `json:"name"`
		Path         string  `json:"path"`
		ImagesPerSec float64 `json:"images_per_s"`
		Threads      int     `json:"threads"`
	}
	var results []torchResult
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r torchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			cmd.Wait()
			return fmt.Errorf("PyTorch bench output %q: %w", sc.Text(), err)
		}
		results = append(results, r)
	}
	if err := cmd.Wait(); err != nil || len(results) == 0 {
		fmt.Fprintf(b.out, "features networks: PyTorch unavailable (%s with python3-torch: %v: %s)\n", python, err, lastLine(stderr.String()))
	}
	for _, r := range results {
		if err := benchNetwork(ctx, b, c, r.Name, r.Path, r.ImagesPerSec, r.Threads); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		os.Remove(r.Path)
	}
	if !strings.HasPrefix(c.backend, "xla:cuda") {
		fmt.Fprintln(b.out, "features GPU: not measured (target >= 2000 images/s for ViT-B/32): run ccbench built with -tags xla "+
			"on a GPU machine with -features-backend xla:cuda")
	}
	return nil
}

// simdNote says whether the pure-Go backend's matrix products can use
// AVX2/AVX-512 (they need a build with GOEXPERIMENT=simd).
func simdNote() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" && strings.Contains(s.Value, "simd") {
				return "GOEXPERIMENT=simd"
			}
		}
	}
	return "built without GOEXPERIMENT=simd: the pure-Go matrix products run without SIMD"
}

// benchNetwork times the ONNX model at path in Go and compares its output on
// the PyTorch input with PyTorch's.
func benchNetwork(ctx context.Context, b *bench, c featuresConfig, name, path string, torchRate float64, threads int) error {
	base := strings.TrimSuffix(path, ".onnx")
	x, xs, err := npy.ReadFloat32(base + "_input.npy")
	if err != nil {
		return err
	}
	want, _, err := npy.ReadFloat32(base + "_output.npy")
	if err != nil {
		return err
	}
	loadStart := time.Now()
	e, err := features.NewONNX(path, "", features.ONNXOptions{Label: name, Backend: c.backend, BatchSize: c.batch})
	if err != nil {
		fmt.Fprintf(b.out, "features %s: Go failed to load it: %v\n", name, err)
		b.missed = true
		return nil
	}
	defer e.Close()
	load := time.Since(loadStart)
	n := xs[0]
	got, err := e.Run(ctx, x, n) // warm-up (compiles the batch-size graph), checked against PyTorch
	if err != nil {
		return err
	}
	var d, m float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i]-want[i])))
		m = max(m, math.Abs(float64(want[i])))
	}
	start := time.Now()
	for range c.iters {
		if _, err := e.Run(ctx, x, n); err != nil {
			return err
		}
	}
	goRate := float64(n*c.iters) / time.Since(start).Seconds()
	ratio := torchRate / goRate
	verdict := ""
	if ratio > featuresTarget {
		verdict, b.missed = ", MISSED", true
	}
	spec := e.Engine()
	if !strings.HasPrefix(spec, "native") {
		spec += ", " + simdNote()
	}
	auto := "unknown"
	if avail, _, err := features.AvailableMemory(); err == nil {
		auto = fmt.Sprint(features.BatchForMemory(avail, e.PerImageBytes(), features.MaxAutoBatch))
	}
	fmt.Fprintf(b.out, "features %s 224x224 batch %d: Go (%s) %.2f images/s, PyTorch CPU (%d threads) %.2f images/s, torch/Go %.2f (target <= %.1f%s); load %s; max rel. gap to torch %.1e; %.1f MB activations/image, batch from memory %s\n",
		name, n, spec, goRate, threads, torchRate, ratio, featuresTarget, verdict, seconds(load), d/m, float64(e.PerImageBytes())/(1<<20), auto)
	return nil
}

// repoRoot walks up from the working directory to the one holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory: run ccbench from the repository")
		}
		dir = parent
	}
}
