package features

import (
	"fmt"
	"strings"
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
func onnxPresets() map[string]onnxPreset {
	return map[string]onnxPreset{
		"clip-vit-b32": {preprocess: "clip", pool: "flatten", export: "CLIP ViT-B/32's visual tower (clip.load(\"ViT-B/32\")[0].visual)"},
		"alexnet":      {node: "features.2", preprocess: "imagenet", pool: "flatten", export: "torchvision.models.alexnet(weights=\"IMAGENET1K_V1\")"},
		"sam-vit-b":    {preprocess: "imagenet", pool: "mean", export: "segment_anything's sam_model_registry[\"vit_b\"](checkpoint).image_encoder"},
	}
}

// newNamedONNX builds the ONNX extractor that name asks for, if it is one:
// "onnx:FILE[#NODE]", or a preset ("clip-vit-b32", "alexnet", "sam-vit-b")
// followed by ":FILE[#NODE]". ok is false when name is none of these.
func newNamedONNX(name string) (e Extractor, ok bool, err error) {
	label, rest, hasFile := strings.Cut(name, ":")
	preset, known := onnxPresets()[label]
	if label == "onnx" {
		known = true
		preset = onnxPreset{preprocess: "imagenet", pool: "flatten"}
		if !hasFile || rest == "" {
			return nil, true, fmt.Errorf("features: %q: name the model file as onnx:FILE or onnx:FILE#NODE", name)
		}
	}
	if !known {
		return nil, false, nil
	}
	if !hasFile || rest == "" {
		return nil, true, fmt.Errorf("features: %s needs its ONNX weights file, which is not downloaded automatically: "+
			"export %s to ONNX with PyTorch (the script is in README.md, section \"Feature models\"), "+
			"save it as e.g. data/weights/%s.onnx and pass --weights data/weights/%s.onnx "+
			"(or the extractor name %s:data/weights/%s.onnx)", label, preset.export, label, label, label, label)
	}
	path, node := rest, preset.node
	if i := strings.LastIndex(rest, "#"); i >= 0 {
		path, node = rest[:i], rest[i+1:]
	}
	x, err := NewONNX(path, node, ONNXOptions{Label: label, Preprocess: preset.preprocess, Pool: preset.pool})
	if err != nil {
		return nil, true, err
	}
	return x, true, nil
}
