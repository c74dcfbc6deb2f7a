// Package weights knows where cortexcast keeps the ONNX files of its feature
// models and how to download the ones that a public hub publishes with a
// pinned checksum.
//
// Nothing here runs unless the user asks: extractors only look for a file in
// Dir, and Fetch (behind `cortexcast models fetch NAME`) is the one place
// that downloads. Every download is checked against the size and SHA-256
// pinned in Registry and written atomically, so a failed or corrupt download
// leaves nothing behind.
package weights

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvDir names the environment variable that overrides the weights
// directory.
const EnvDir = "CORTEXCAST_WEIGHTS"

// Model describes one feature model's ONNX file: where a public copy is,
// what it is, and how its node names relate to cortexcast's extractors.
type Model struct {
	// Name is the extractor (or file) name: the file is Dir()/Name.onnx.
	Name string
	// Source names the exact public file (repository, commit, path); empty
	// when no public ONNX export is pinned.
	Source string
	// URL, Size and SHA256 pin the download; URL is empty when there is
	// nothing to download and NoPin says why.
	URL    string
	Size   int64
	SHA256 string
	NoPin  string
	// Nodes says which output nodes the file has and whether the
	// extractor's default node naming matches them.
	Nodes string
}

// Fetchable reports whether m has a pinned public download.
func (m Model) Fetchable() bool { return m.URL != "" && m.SHA256 != "" && m.Size > 0 }

// exportHint is the advice for models without a public pinned file.
const exportHint = "export it with the README script (README.md, section \"Feature models\")"

// Registry returns the models cortexcast knows, sorted by name. Pins were
// taken from the Git LFS pointer files of the public repositories named in
// Source (a pointer's "oid sha256:" and "size" are the file's SHA-256 and
// length); no checksum here is guessed.
func Registry() []Model {
	ms := []Model{
		{
			Name: "alexnet",
			NoPin: "no public ONNX export of torchvision's AlexNet (IMAGENET1K_V1, the Algonauts devkit's) is pinned; " +
				exportHint + " (the ONNX model zoo's Caffe AlexNet is `bvlc-alexnet`, a different network)",
			Nodes: "the README export names nodes by module path: features.0 … features.12, avgpool, classifier.1 … classifier.6; default features.2",
		},
		{
			Name:   "bvlc-alexnet",
			Source: "github.com/onnx/models @ 6ab957a2fe61f34a76c670946f7cbd806d2cacca, vision/classification/alexnet/model/bvlcalexnet-12.onnx (Caffe BVLC AlexNet via Caffe2, opset 12)",
			URL:    "https://media.githubusercontent.com/media/onnx/models/6ab957a2fe61f34a76c670946f7cbd806d2cacca/vision/classification/alexnet/model/bvlcalexnet-12.onnx",
			Size:   243863787,
			SHA256: "6b0da9510f27f234ee96a85dc3809dd210150fdefad87f6850f9788513216945",
			Nodes: "input data_0 (1×3×224×224, static batch 1: run one image at a time), output softmaxout_1 (1000 class " +
				"probabilities, the extractor's default); Caffe-derived tensor names, not torchvision's features.N: name a layer's " +
				"tensor with bvlc-alexnet#NAME (an unknown name lists the graph's nodes). Its LRN layers run on the native engine " +
				"(onnx-gomlx lacks LRN). The extractor applies Caffe preprocessing (BGR, 0–255, mean pixel 104/117/123 subtracted). " +
				"For the devkit's features use `alexnet`",
		},
		{
			Name: "clip-vit-b32",
			NoPin: "no public ONNX pinned: Hugging Face's Xenova/clip-vit-base-patch32 onnx/vision_model.onnx exists, " +
				"but its SHA-256 could not be verified when this registry was written; " + exportHint,
			Nodes: "the README export: output = the 512-d image embedding; ln_post = the 768-d pre-projection class token",
		},
		{
			Name:  "sam-vit-b",
			NoPin: "no public ONNX of SAM ViT-B's image encoder is pinned; " + exportHint,
			Nodes: "the README export: output = the 256×64×64 image embedding (averaged over space to 256)",
		},
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// Lookup returns the registry entry called name.
func Lookup(name string) (Model, error) {
	var names []string
	for _, m := range Registry() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Model{}, fmt.Errorf("weights: unknown model %q (known: %s)", name, strings.Join(names, ", "))
}

// Dir returns the directory where extractors look for NAME.onnx when no
// file is given: $CORTEXCAST_WEIGHTS if set, else <user cache>/cortexcast/weights
// ($XDG_CACHE_HOME/cortexcast/weights or ~/.cache/cortexcast/weights on Linux).
func Dir() (string, error) {
	if d := strings.TrimSpace(os.Getenv(EnvDir)); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("weights: user cache directory (set $%s instead): %w", EnvDir, err)
	}
	return filepath.Join(c, "cortexcast", "weights"), nil
}

// DefaultPath returns Dir()/name.onnx.
func DefaultPath(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name+".onnx"), nil
}
