// Package features turns images into feature vectors for encoding models.
//
// An Extractor maps a batch of images to a row-major float32 matrix with one
// row of Dim values per image. The embedded extractor, Gabor, is the classic
// early-visual encoding model (a Gabor-wavelet energy pyramid); it needs no
// weights file and is deterministic.
package features

import (
	"context"
	"fmt"
	"image"
	"sort"
	"strings"
)

// Extractor turns images into feature vectors.
type Extractor interface {
	// ID is a stable identifier of the extractor and its configuration, such
	// as "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt". Features with equal IDs are
	// comparable.
	ID() string
	// Dim is the number of features per image.
	Dim() int
	// Extract returns len(imgs)×Dim() features, row-major, in input order.
	Extract(ctx context.Context, imgs []image.Image) ([]float32, error)
}

// constructors lists the extractors New knows, by name.
func constructors() map[string]func() (Extractor, error) {
	return map[string]func() (Extractor, error){
		"gabor": func() (Extractor, error) { return NewGabor(DefaultGaborConfig()) },
	}
}

// Names returns the extractor names New accepts, sorted.
func Names() []string {
	var names []string
	for n := range constructors() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options configures the extractors New builds; the zero value is the
// default.
type Options struct {
	// Weights is the ONNX file of a network extractor named without one
	// ("alexnet" rather than "alexnet:FILE"). Empty means
	// weights.DefaultPath(name) when that file exists.
	Weights string
	// Backend is the compute backend spec of network extractors (see
	// ONNXOptions.Backend).
	Backend string
	// BatchSize is the number of images a network runs at once; ≤ 0
	// chooses it from the available memory.
	BatchSize int
	// Engine is ONNXOptions.Engine: "" or "auto", "native" or "gomlx".
	Engine string
}

// New returns the extractor called name with its default configuration.
// Known names: "gabor"; ONNX models as "onnx:FILE[#NODE]", and the presets
// "clip-vit-b32", "alexnet" and "sam-vit-b", each optionally followed by
// ":FILE" and/or "#NODE" (e.g. "alexnet:w.onnx#features.5",
// "alexnet#features.5"); a preset without a file uses the file in the
// weights directory (weights.DefaultPath). See NewONNX.
func New(name string) (Extractor, error) { return NewWith(name, Options{}) }

// NewWith is New with options: a weights file for names without one, the
// compute backend and the batch size of network extractors.
func NewWith(name string, o Options) (Extractor, error) {
	if e, ok, err := newNamedONNX(name, o); ok {
		return e, err
	}
	c, ok := constructors()[name]
	if !ok {
		return nil, fmt.Errorf("features: unknown extractor %q (known: %s, and ONNX models: %s)", name,
			strings.Join(Names(), ", "), strings.Join(ONNXNames(), ", "))
	}
	if o.Weights != "" {
		return nil, fmt.Errorf("features: %s needs no weights file (--weights %s)", name, o.Weights)
	}
	return c()
}

// ONNXNames returns the ONNX presets and "onnx", sorted.
func ONNXNames() []string {
	names := []string{"onnx"}
	for n := range onnxPresets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
