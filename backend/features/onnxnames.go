package features

import (
	"fmt"
	"os"
	"strings"

	"cortexcast/backend/weights"
)

// onnxPreset is the configuration of a named ONNX model.
type onnxPreset struct {
	node, preprocess, pool string
	export                 string // what to export, for the missing-file message
}

// onnxPresets returns the named ONNX models that New knows.
//
//   - clip-vit-b32: OpenAI CLIP ViT-B/32's image tower; its output is the
//     512-d image embedding (name the node "ln_post" for the 768-d
//     pre-projection class token); CLIP normalisation.
//   - alexnet: torchvision's AlexNet; default layer features.2 (the
//     devkit's), flattened as the devkit does; ImageNet normalisation.
//   - sam-vit-b: SAM ViT-B's image encoder (256×64×64), averaged over space
//     to 256 values; ImageNet normalisation (SAM's pixel mean/std are
//     ImageNet's ×255). SAM pads the resized image at the bottom right;
//     here the centred square is used instead.
//   - bvlc-alexnet: the ONNX model zoo's Caffe BVLC AlexNet (the one
//     `models fetch` can download: pinned checksum); Caffe preprocessing
//     (imageio.CaffeNorm); default the model's output (1000 class
//     probabilities): name a layer's tensor with #NODE. Its LRN layers run
//     on the native engine only.
func onnxPresets() map[string]onnxPreset {
	return map[string]onnxPreset{
		"clip-vit-b32": {preprocess: "clip", pool: "flatten", export: "CLIP ViT-B/32's visual tower (clip.load(\"ViT-B/32\")[0].visual)"},
		"alexnet":      {node: "features.2", preprocess: "imagenet", pool: "flatten", export: "torchvision.models.alexnet(weights=\"IMAGENET1K_V1\")"},
		"sam-vit-b":    {preprocess: "imagenet", pool: "mean", export: "segment_anything's sam_model_registry[\"vit_b\"](checkpoint).image_encoder"},
		"bvlc-alexnet": {preprocess: "caffe", pool: "flatten"},
	}
}

// newNamedONNX builds the ONNX extractor that name asks for, if it is one:
// "onnx:FILE[#NODE]", or a preset ("clip-vit-b32", "alexnet", "sam-vit-b")
// optionally followed by ":FILE" and/or "#NODE". Without a file in the name
// the file is o.Weights, else weights.DefaultPath(preset) when that exists.
// ok is false when name is none of these.
func newNamedONNX(name string, o Options) (e Extractor, ok bool, err error) {
	label, rest, _ := strings.Cut(name, ":")
	label, labelNode, hasLabelNode := strings.Cut(label, "#")
	preset, known := onnxPresets()[label]
	if label == "onnx" {
		known = true
		preset = onnxPreset{preprocess: "imagenet", pool: "flatten"}
	}
	if !known {
		return nil, false, nil
	}
	path, node := rest, preset.node
	if i := strings.LastIndex(rest, "#"); i >= 0 {
		path, node = rest[:i], rest[i+1:]
	}
	if hasLabelNode {
		node = labelNode
	}
	if path != "" && o.Weights != "" && path != o.Weights {
		return nil, true, fmt.Errorf("features: %q names the file %s and --weights names %s: give one", name, path, o.Weights)
	}
	if path == "" {
		path = o.Weights
	}
	if path == "" && label == "onnx" {
		return nil, true, fmt.Errorf("features: %q: name the model file as onnx:FILE or onnx:FILE#NODE (or --weights FILE)", name)
	}
	if path == "" {
		def, derr := weights.DefaultPath(label)
		if derr == nil {
			if _, serr := os.Stat(def); serr == nil {
				path = def
			}
		}
		if path == "" {
			return nil, true, missingWeights(label, preset, def)
		}
	}
	x, err := NewONNX(path, node, ONNXOptions{Label: label, Preprocess: preset.preprocess, Pool: preset.pool,
		Backend: o.Backend, BatchSize: o.BatchSize, Engine: o.Engine})
	if err != nil {
		return nil, true, err
	}
	return x, true, nil
}

// missingWeights explains where the weights of preset label go and how to
// get them; def is the default location ("" when unknown).
func missingWeights(label string, preset onnxPreset, def string) error {
	var get string
	if preset.export != "" {
		get = "export " + preset.export + " to ONNX with PyTorch (the script is in README.md, section \"Feature models\")"
	}
	if m, err := weights.Lookup(label); err == nil && m.Fetchable() {
		fetch := "run `cortexcast models fetch " + label + "` (downloads " + m.URL + ", pinned SHA-256)"
		get = strings.TrimSuffix(fetch+", or "+get, ", or ")
	}
	where := "save it as e.g. data/weights/" + label + ".onnx and pass --weights data/weights/" + label + ".onnx " +
		"(or the extractor name " + label + ":data/weights/" + label + ".onnx)"
	if def != "" {
		where += ", or put it at " + def + " where it is found without a flag"
	}
	return fmt.Errorf("features: %s needs its ONNX weights file, which is not downloaded automatically: %s; %s", label, get, where)
}
