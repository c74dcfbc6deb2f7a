package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cortexcast/backend/npy"
	"cortexcast/backend/weights"
)

// TestFeaturesCommandONNX runs `features` with a network named without a
// file, its weights given by --weights (the tiny AlexNet-shaped fixture),
// and checks the cache, the logged batch size and the progress line's
// images/s (which once divided the images by microseconds).
func TestFeaturesCommandONNX(t *testing.T) {
	if raceEnabled {
		t.Skip("the gomlx Go backend fails checkptr under the race detector")
	}
	d := newTinyDataset(t)
	t.Setenv(weights.EnvDir, t.TempDir()) // empty: the file must come from --weights
	cache := t.TempDir()
	alex, err := filepath.Abs("../../features/testdata/onnx/alexnet_tiny.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var stderr, logs bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &stderr, log: slog.New(slog.NewTextHandler(&logs, nil))}
	args := []string{"features", "--data", d.opts.Data, "--cache", cache, "--extractor", "alexnet", "--batch", "5"}
	if err := run(context.Background(), e, args); err == nil || !strings.Contains(err.Error(), "--weights") {
		t.Fatalf("without weights: %v", err)
	}
	if err := run(context.Background(), e, append(args, "--weights", alex)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "batch=5 batch_from=option") {
		t.Errorf("log lacks the batch size: %s", logs.String())
	}
	files, _ := filepath.Glob(filepath.Join(cache, "onnx-v1-alexnet-*-features.2-flatten-imagenet224", "subj01_train.npy"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	_, shape, err := npy.ReadFloat32(files[0])
	if err != nil || len(shape) != 2 || shape[0] != 32 || shape[1] != 8*27*27 {
		t.Fatalf("cached features: shape %v, %v", shape, err)
	}
	// "(32/32, 123 img/s)": 32 images through a network cannot take less
	// than a millisecond, so the rate is below 32,000 images/s.
	m := regexp.MustCompile(`\(32/32, ([0-9.]+) img/s\)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no final progress line in %q", stderr.String())
	}
	if r, _ := strconv.ParseFloat(m[1], 64); r <= 0 || r >= 32000 {
		t.Errorf("progress shows %v images/s", r)
	}
	os.RemoveAll(cache)
}

// TestEnvExtractor: an env builds each extractor once (demo's steps share
// a network's loaded model) and does not keep failures.
func TestEnvExtractor(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	a, err := e.extractor("gabor")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.extractor("gabor")
	if err != nil || a != b {
		t.Errorf("second extractor(gabor) = %p, %v; want the first, %p", b, err, a)
	}
	if _, err := e.extractor("nope"); err == nil {
		t.Fatal("extractor(nope): no error")
	}
	if _, ok := e.extractors["nope"]; ok {
		t.Error("a failed extractor was kept")
	}
}
