package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"cortexcast/backend/npy"
)

// python is Debian's interpreter, the one with python3-numpy.
const python = "/usr/bin/python3"

// npyTarget is the bound on Go's read time relative to numpy.load.
const npyTarget = 1.5

func npySection() section {
	return section{
		name:  "npy",
		about: "read a subject-sized float32 .npy (9841 × 19004) with npy.ReadFloat32 and numpy.load, best of 3 each",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			rows := fs.Int("npy-rows", 9841, "rows of the .npy matrix (training images of subj01)")
			cols := fs.Int("npy-cols", 19004, "columns of the .npy matrix (lh challenge vertices of subj01)")
			reps := fs.Int("npy-reps", 3, "reads of each reader; the best counts")
			return func(ctx context.Context, b *bench) error { return benchNPY(ctx, b, *rows, *cols, *reps) }
		},
	}
}

// npyValue is the deterministic content of element i of the benchmark file.
func npyValue(i int) float32 { return float32(math.Sin(float64(i)*0.001)) * float32(i%977) }

func benchNPY(ctx context.Context, b *bench, rows, cols, reps int) error {
	if rows < 1 || cols < 1 || reps < 1 {
		return fmt.Errorf("-npy-rows %d, -npy-cols %d and -npy-reps %d must be positive", rows, cols, reps)
	}
	path := filepath.Join(b.work, "fmri.npy")
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = npyValue(i)
	}
	if err := npy.WriteFloat32(path, data, []int{rows, cols}); err != nil {
		return err
	}
	data = nil
	runtime.GC()
	last := rows*cols - 1
	var best time.Duration
	for range reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		got, shape, err := npy.ReadFloat32(path)
		d := time.Since(start)
		if err != nil {
			return err
		}
		if len(shape) != 2 || shape[0] != rows || shape[1] != cols || got[last] != npyValue(last) || got[cols+1] != npyValue(cols+1) {
			return fmt.Errorf("npy.ReadFloat32 of %s read shape %v and wrong values", path, shape)
		}
		if best == 0 || d < best {
			best = d
		}
		got = nil
		runtime.GC()
	}
	label := fmt.Sprintf("npy read %dx%d f4", rows, cols)
	np, err := numpyLoad(ctx, path, reps, last, npyValue(last))
	if err != nil {
		fmt.Fprintf(b.out, "%s: Go %s, numpy unavailable (%v)\n", label, seconds(best), err)
		return nil
	}
	ratio := best.Seconds() / np.Seconds()
	verdict := ""
	if ratio > npyTarget {
		verdict, b.missed = ", MISSED", true
	}
	fmt.Fprintf(b.out, "%s: Go %s, numpy %s, ratio %.2f (target <= %.1f%s)\n", label, seconds(best), seconds(np), ratio, npyTarget, verdict)
	return nil
}

// numpyLoad times numpy.load of path, best of reps in one Python process,
// and checks the last element against want.
func numpyLoad(ctx context.Context, path string, reps, last int, want float32) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, python, "-c", `
import json, sys, time
import numpy as np
path, reps, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
best = None
for _ in range(reps):
    t = time.perf_counter()
    a = np.load(path)
    d = time.perf_counter() - t
    best = d if best is None or d < best else best
    v = float(a.reshape(-1)[last])
    del a
print(json.dumps({"best": best, "last": v}))
`, path, fmt.Sprint(reps), fmt.Sprint(last)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return 0, fmt.Errorf("%s with numpy: %v: %s", python, err, ee.Stderr)
		}
		return 0, fmt.Errorf("%s: %w", python, err)
	}
	var r struct {
		Best float64 `json:"best"`
		Last float64 `json:"last"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("numpy output %q: %w", out, err)
	}
	if float32(r.Last) != want {
		return 0, fmt.Errorf("numpy read %g as the last element, Go wrote %g", r.Last, want)
	}
	return time.Duration(r.Best * float64(time.Second)), nil
}
