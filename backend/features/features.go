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

// New returns the extractor called name with its default configuration.
// Known names: "gabor"; ONNX models as "onnx:FILE[#NODE]",
// "clip-vit-b32:FILE", "alexnet:FILE[#LAYER]" and "sam-vit-b:FILE" (see NewONNX).
func New(name string) (Extractor, error) {
	if e, ok, err := newNamedONNX(name); ok {
		return e, err
	}
	c, ok := constructors()[name]
	if !ok {
		return nil, fmt.Errorf("features: unknown extractor %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return c()
}
