package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/features"
	"cortexcast/backend/imageio"
	"cortexcast/backend/npy"
)

func runFeatures(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "features", "[flags]",
		"Extract image features for the train and test images of every subject of a dataset in the Algonauts 2023\n"+
			"layout, and cache them as .npy with a JSON sidecar. A cache that matches the extractor and the image set\n"+
			"is reused; anything else is rebuilt.")
	data := fs.String("data", "data/sim", "dataset root (subjNN/ folders inside)")
	cache := fs.String("cache", "data/features", "feature cache directory")
	name := fs.String("extractor", "gabor", "feature extractor: gabor (embedded, no weights file), or an ONNX network: "+
		"alexnet, clip-vit-b32, sam-vit-b, bvlc-alexnet (NAME, NAME:FILE or NAME#NODE), onnx:FILE#NODE")
	fs.StringVar(name, "features", "gabor", "same as --extractor")
	wfile := fs.String("weights", "", "ONNX weights file of a network extractor (default: <weights dir>/NAME.onnx, see `cortexcast models fetch -h`)")
	backend := fs.String("backend", "", "compute backend of network extractors: go (default), xla:cpu or xla:cuda (binary built with XLA=1); default $"+compute.EnvVar)
	batch := fs.Int("batch", 0, "images per network batch (default: chosen from available memory)")
	engine := fs.String("engine", "auto", "what runs an ONNX network on the CPU: native (convolutions and matrix products as "+
		"BLAS calls; the default with OpenBLAS), gomlx (onnx-gomlx on --backend), or auto")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ext, err := features.NewWith(*name, features.Options{Weights: *wfile, Backend: *backend, BatchSize: *batch, Engine: *engine})
	if err != nil {
		return err
	}
	if x, ok := ext.(*features.ONNX); ok {
		defer x.Close()
		b, from := x.BatchSize()
		e.log.Info("feature network", "extractor", ext.ID(), "engine", x.Engine(), "batch", b, "batch_from", from)
	}
	ds, err := algonauts.Open(*data)
	if err != nil {
		return err
	}
	for _, s := range ds.Subjects() {
		sub, err := ds.Subject(s)
		if err != nil {
			return err
		}
		for _, split := range []string{"train", "test"} {
			if _, _, err := cachedFeatures(ctx, e, ext, *cache, sub, split); err != nil {
				return err
			}
		}
	}
	return nil
}

// featureMeta is the JSON sidecar of a cached feature matrix.
type featureMeta struct {
	Extractor   string `json:"extractor"`
	Subject     int    `json:"subject"`
	Split       string `json:"split"`
	Images      int    `json:"images"`
	Dim         int    `json:"dim"`
	Fingerprint string `json:"fingerprint"`
	Created     string `json:"created"`
}

func splitImages(sub *algonauts.Subject, split string) []algonauts.Image {
	if split == "test" {
		return sub.Test
	}
	return sub.Train
}

// imageFingerprint hashes the names and sizes of the images, which is what changes when a
// dataset is regenerated or replaced.
func imageFingerprint(imgs []algonauts.Image) (string, error) {
	h := sha256.New()
	for _, im := range imgs {
		st, err := os.Stat(im.Path)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", im.Path, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(im.Path), st.Size())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func featurePaths(cache string, ext features.Extractor, subject int, split string) (data, meta string) {
	base := filepath.Join(cache, ext.ID(), fmt.Sprintf("subj%02d_%s", subject, split))
	return base + ".npy", base + ".json"
}

// cachedFeatures returns the images × dim feature matrix of one split of a subject, from
// the cache when it matches, else extracted (and cached).
func cachedFeatures(ctx context.Context, e *env, ext features.Extractor, cache string, sub *algonauts.Subject, split string) ([]float32, int, error) {
	imgs := splitImages(sub, split)
	fp, err := imageFingerprint(imgs)
	if err != nil {
		return nil, 0, err
	}
	dataPath, metaPath := featurePaths(cache, ext, sub.ID, split)
	if b, err := os.ReadFile(metaPath); err == nil {
		var m featureMeta
		if json.Unmarshal(b, &m) == nil && m.Extractor == ext.ID() && m.Fingerprint == fp && m.Images == len(imgs) && m.Dim == ext.Dim() {
			x, shape, err := npy.ReadFloat32(dataPath)
			if err == nil && len(shape) == 2 && shape[0] == len(imgs) && shape[1] == ext.Dim() {
				e.log.Info("features from cache", "subject", sub.ID, "split", split, "file", dataPath)
				return x, ext.Dim(), nil
			}
		}
	}
	x, err := extractImages(ctx, e, ext, imgs, fmt.Sprintf("subj%02d %s features", sub.ID, split))
	if err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(filepath.Dir(dataPath), 0o755); err != nil {
		return nil, 0, fmt.Errorf("feature cache: %w", err)
	}
	if err := npy.WriteFloat32(dataPath, x, []int{len(imgs), ext.Dim()}); err != nil {
		return nil, 0, fmt.Errorf("feature cache: %w", err)
	}
	meta, _ := json.MarshalIndent(featureMeta{Extractor: ext.ID(), Subject: sub.ID, Split: split, Images: len(imgs),
		Dim: ext.Dim(), Fingerprint: fp, Created: time.Now().UTC().Format(time.RFC3339)}, "", "  ")
	if err := npy.WriteFile(metaPath, func(w io.Writer) error { _, err := w.Write(meta); return err }); err != nil {
		return nil, 0, fmt.Errorf("feature cache: %w", err)
	}
	return x, ext.Dim(), nil
}

// extractImages decodes images in parallel with extraction, in batches, showing progress.
func extractImages(ctx context.Context, e *env, ext features.Extractor, imgs []algonauts.Image, label string) ([]float32, error) {
	const batch = 64
	dim := ext.Dim()
	out := make([]float32, len(imgs)*dim)
	bar := progressbar.NewOptions(len(imgs), progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
	// The clock starts now, not at the first finished batch: otherwise the
	// images/s shown at the end is that batch divided by microseconds.
	bar.StartWithoutRender()
	type decoded struct {
		start int
		imgs  []image.Image
		err   error
	}
	batches := make(chan decoded, 2)
	go func() {
		defer close(batches)
		for start := 0; start < len(imgs); start += batch {
			end := min(start+batch, len(imgs))
			d := decoded{start: start, imgs: make([]image.Image, end-start)}
			var wg sync.WaitGroup
			var mu sync.Mutex
			sem := make(chan struct{}, runtime.GOMAXPROCS(0))
			for i := start; i < end; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func(i int) {
					defer func() { <-sem; wg.Done() }()
					img, err := imageio.DecodeFile(imgs[i].Path, imageio.DefaultLimits())
					mu.Lock()
					defer mu.Unlock()
					if err != nil && d.err == nil {
						d.err = err
					}
					d.imgs[i-start] = img
				}(i)
			}
			wg.Wait()
			select {
			case batches <- d:
			case <-ctx.Done():
				return
			}
			if d.err != nil {
				return
			}
		}
	}()
	for d := range batches {
		if d.err != nil {
			return nil, d.err
		}
		x, err := ext.Extract(ctx, d.imgs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		copy(out[d.start*dim:], x)
		bar.Add(len(d.imgs))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if bar.State().CurrentNum != int64(len(imgs)) {
		return nil, errors.New(label + ": extraction stopped early")
	}
	return out, nil
}
