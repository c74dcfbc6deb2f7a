package features

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cortexcast/backend/imageio"
	"cortexcast/backend/npy"
)

// The fixtures in testdata/onnx are written by scripts/fixtures/onnx_models.py
// (Debian's python3-torch and python3-torchvision): tiny random-weight
// networks with the structure of AlexNet, CLIP's ViT image tower and SAM's
// ViT encoder, their input batches and PyTorch's outputs (in float64).

const onnxDir = "testdata/onnx"

func readNPY(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	data, shape, err := npy.ReadFloat32(filepath.Join(onnxDir, name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	return data, shape
}

// relErr is ‖got − want‖∞ / ‖want‖∞.
func relErr(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = max(m, math.Abs(float64(want[i])))
	}
	return d / m
}

func TestONNXParity(t *testing.T) {
	cases := []struct {
		model, node, want, pool string
		shape                   []int
		poly                    bool // the polynomial logistic (GOEXPERIMENT=simd builds' default)
	}{
		{"alexnet_tiny", "", "alexnet_tiny_output", "flatten", []int{10}, false},
		{"alexnet_tiny", "features.2", "alexnet_tiny_features.2", "flatten", []int{8 * 27 * 27}, false},
		{"alexnet_tiny", "/features/features.2/MaxPool", "alexnet_tiny_features.2", "flatten", []int{8 * 27 * 27}, false},
		{"alexnet_tiny", "/features/features.12/MaxPool_output_0", "alexnet_tiny_features.12", "flatten", []int{16 * 36}, false},
		{"clip_tiny", "", "clip_tiny_output", "flatten", []int{32}, false},
		{"clip_tiny", "ln_post", "clip_tiny_ln_post", "flatten", []int{64}, false},
		{"clip_tiny", "", "clip_tiny_output", "flatten", []int{32}, true},
		{"clip_tiny", "ln_post", "clip_tiny_ln_post", "flatten", []int{64}, true},
		{"sam_tiny", "", "sam_tiny_output", "flatten", []int{16 * 4 * 4}, false},
		{"sam_tiny", "", "sam_tiny_output", "mean", []int{16}, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s#%s/%s/poly=%v", c.model, c.node, c.pool, c.poly), func(t *testing.T) {
			e, err := NewONNX(filepath.Join(onnxDir, c.model+".onnx"), c.node, ONNXOptions{Label: c.model, Backend: "go", Engine: "gomlx", Pool: c.pool, BatchSize: 2, polyLogistic: c.poly})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			x, xs := readNPY(t, c.model+"_input")
			want, ws := readNPY(t, c.want)
			n := xs[0]
			if c.pool == "mean" {
				want = spatialMean(want, ws)
			}
			if e.Dim() != c.shape[0] || len(want) != n*e.Dim() {
				t.Fatalf("Dim %d, want %d (reference %v)", e.Dim(), c.shape[0], ws)
			}
			got, err := e.Run(context.Background(), x, n)
			if err != nil {
				t.Fatal(err)
			}
			if r := relErr(got, want); r > 1e-4 || math.IsNaN(r) {
				t.Errorf("relative error %.3g > 1e-4", r)
			} else {
				t.Logf("relative error %.3g", r)
			}
			if want := c.model != "sam_tiny"; e.im2col != want {
				t.Errorf("im2col convolutions: %v, want %v", e.im2col, want)
			}
			// Batching must not change the result: one image at a time, with
			// the backend's own convolution.
			e1, err := NewONNX(filepath.Join(onnxDir, c.model+".onnx"), c.node, ONNXOptions{Backend: "go", Engine: "gomlx", Pool: c.pool, BatchSize: 1, DirectConv: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e1.Close()
			got1, err := e1.Run(context.Background(), x, n)
			if err != nil {
				t.Fatal(err)
			}
			if e1.im2col {
				t.Error("DirectConv: convolutions still run as im2col")
			}
			if r := relErr(got1, want); r > 1e-4 {
				t.Errorf("batch size 1, direct convolution: relative error %.3g > 1e-4", r)
			}
		})
	}
}

// spatialMean averages an N×C×H×W array over H and W.
func spatialMean(x []float32, shape []int) []float32 {
	n, c, hw := shape[0], shape[1], shape[2]*shape[3]
	out := make([]float32, n*c)
	for i := range n * c {
		var s float64
		for _, v := range x[i*hw : (i+1)*hw] {
			s += float64(v)
		}
		out[i] = float32(s / float64(hw))
	}
	return out
}

func TestONNXErrors(t *testing.T) {
	m := filepath.Join(onnxDir, "alexnet_tiny.onnx")
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("this is not protobuf\xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, node string
		opts       ONNXOptions
		want       string
	}{
		{filepath.Join(onnxDir, "missing.onnx"), "", ONNXOptions{}, "no such file"},
		{bad, "", ONNXOptions{}, "bad.onnx"},
		{m, "features.99", ONNXOptions{}, `no node, tensor or module "features.99"`},
		{m, "", ONNXOptions{Pool: "max"}, `pool "max"`},
		{m, "", ONNXOptions{Preprocess: "sam"}, `preprocess "sam"`},
		{m, "", ONNXOptions{Backend: "tpu"}, `unknown backend "tpu"`},
	} {
		_, err := NewONNX(c.path, c.node, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewONNX(%s, %q, %+v): error %v, want one containing %q", c.path, c.node, c.opts, err, c.want)
		}
	}
}

func TestONNXIDAndExtract(t *testing.T) {
	path := filepath.Join(onnxDir, "clip_tiny.onnx")
	e, err := NewONNX(path, "ln_post", ONNXOptions{Label: "clip", Preprocess: "clip", Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id := e.ID()
	if !strings.HasPrefix(id, "onnx-v1-clip-") || !strings.HasSuffix(id, "-ln_post-flatten-clip32") || strings.ContainsAny(id, "/ #:") {
		t.Errorf("ID %q", id)
	}
	e2, err := NewONNX(path, "/ln_post/LayerNormalization", ONNXOptions{Label: "clip", Preprocess: "clip", Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if e2.ID() == id {
		t.Errorf("different node spellings share ID %q", id)
	}
	// Extract = ResizeCenterCrop + CLIP normalisation + Run.
	imgs := []image.Image{gratingImage(48, 40, 0.3), gratingImage(40, 56, 1.1), gratingImage(32, 32, 2)}
	got, err := e.Extract(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3*e.Dim() {
		t.Fatalf("Extract returned %d values, want %d", len(got), 3*e.Dim())
	}
	x := make([]float32, 3*3*32*32)
	for i, img := range imgs {
		imageio.ResizeCenterCrop(img, 32).CHW(imageio.CLIPNorm(), x[i*3*32*32:(i+1)*3*32*32])
	}
	want, err := e.Run(context.Background(), x, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r := relErr(got, want); r > 1e-6 {
		t.Errorf("Extract differs from preprocess + Run: relative error %.3g", r)
	}
	if _, err := e.Extract(context.Background(), []image.Image{image.NewRGBA(image.Rect(0, 0, 0, 0))}); err == nil {
		t.Error("Extract of an empty image: no error")
	}
}

// gratingImage is a w×h colour grating at angle theta.
func gratingImage(w, h int, theta float64) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 0.5 + 0.5*math.Sin(0.4*(float64(x)*math.Cos(theta)+float64(y)*math.Sin(theta)))
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(255*v), uint8(255*(1-v)), uint8(128*v), 255
		}
	}
	return img
}

func TestPreprocessMatchesTorchvision(t *testing.T) {
	f, err := os.Open(filepath.Join(onnxDir, "preprocess_src.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref  string
		norm imageio.Norm
		tol  float64 // max |Go − torchvision| in normalised units
	}{
		// PIL resamples 8-bit pixels and rounds each pass to 8 bits: about
		// 1/255 in pixel units, i.e. 1/(255·0.26) ≈ 0.015 after CLIP's std.
		{"preprocess_pil_clip", imageio.CLIPNorm(), 0.02},
		// The float tensor path with antialias=True is the same algorithm in
		// float32; only torch's lack of clamping to 0..1 could differ.
		{"preprocess_tensor_imagenet", imageio.ImageNetNorm(), 1e-5},
	} {
		want, shape := readNPY(t, c.ref)
		size := shape[1]
		got := make([]float32, 3*size*size)
		imageio.ResizeCenterCrop(img, size).CHW(c.norm, got)
		var d float64
		for i := range want {
			d = max(d, math.Abs(float64(got[i]-want[i])))
		}
		if d > c.tol {
			t.Errorf("%s: max abs difference %.3g > %.3g", c.ref, d, c.tol)
		} else {
			t.Logf("%s: max abs difference %.3g", c.ref, d)
		}
	}
}

func FuzzParseONNXGraph(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(onnxDir, "alexnet_tiny.onnx"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:2000])
	f.Add([]byte{0x3a, 0x05, 0x0a, 0x03, 0x12, 0x01, 0x78})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parseONNXGraph(data)
		if err != nil {
			return
		}
		_, _ = g.resolve("features.2")
		_, _ = g.resolve("")
	})
}

func TestParseONNXGraph(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(onnxDir, "alexnet_tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseONNXGraph(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.inputs) != 1 || g.inputs[0] != "image" || len(g.outputs) != 1 || g.outputs[0] != "output" {
		t.Errorf("inputs %q outputs %q", g.inputs, g.outputs)
	}
	for node, want := range map[string]string{
		"":                             "output",
		"features.2":                   "/features/features.2/MaxPool_output_0",
		"features.0":                   "/features/features.0/Conv_output_0",
		"/features/features.5/MaxPool": "/features/features.5/MaxPool_output_0",
		"classifier.6":                 "output",
	} {
		got, err := g.resolve(node)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", node, got, err, want)
		}
	}
	if _, err := parseONNXGraph(b[:len(b)/2]); err == nil {
		t.Error("truncated model: no error")
	}
}

func TestNewONNXNames(t *testing.T) {
	alex := filepath.Join(onnxDir, "alexnet_tiny.onnx")
	// The weights directory: empty at first, so presets without a file fail.
	wdir := t.TempDir()
	t.Setenv("CORTEXCAST_WEIGHTS", wdir)
	for _, c := range []struct {
		name    string
		opts    Options
		dim     int
		idPart  string
		wantErr string
	}{
		{name: "alexnet:" + alex, dim: 8 * 27 * 27, idPart: "-features.2-flatten-imagenet224"},
		{name: "alexnet:" + alex + "#features.12", dim: 16 * 36, idPart: "onnx-v1-alexnet-"},
		{name: "alexnet", opts: Options{Weights: alex}, dim: 8 * 27 * 27, idPart: "-features.2-flatten-imagenet224"},
		{name: "alexnet#features.12", opts: Options{Weights: alex}, dim: 16 * 36, idPart: "-features.12-"},
		{name: "alexnet:" + alex, opts: Options{Weights: alex}, dim: 8 * 27 * 27, idPart: "-features.2-"},
		{name: "onnx", opts: Options{Weights: alex}, dim: 10, idPart: "onnx-v1-onnx-"},
		{name: "onnx:" + alex, dim: 10, idPart: "onnx-v1-onnx-"},
		{name: "sam-vit-b:" + filepath.Join(onnxDir, "sam_tiny.onnx"), dim: 16, idPart: "-out-mean-imagenet64"},
		{name: "clip-vit-b32:" + filepath.Join(onnxDir, "clip_tiny.onnx"), dim: 32, idPart: "-out-flatten-clip32"},
		{name: "bvlc-alexnet:" + filepath.Join(onnxDir, "caffe_ops.onnx"), dim: 7, idPart: "-out-flatten-caffe40"},
		{name: "bvlc-alexnet", wantErr: "cortexcast models fetch bvlc-alexnet"},
		{name: "clip-vit-b32", wantErr: "--weights data/weights/clip-vit-b32.onnx"},
		{name: "clip-vit-b32", wantErr: filepath.Join(wdir, "clip-vit-b32.onnx")},
		{name: "alexnet", wantErr: `README.md, section "Feature models"`},
		{name: "sam-vit-b:", wantErr: "needs its ONNX weights file"},
		{name: "onnx", wantErr: "onnx:FILE#NODE"},
		{name: "alexnet:" + alex + "#nope", wantErr: `"nope"`},
		{name: "alexnet:" + alex, opts: Options{Weights: "other.onnx"}, wantErr: "give one"},
		{name: "gabor", opts: Options{Weights: alex}, wantErr: "needs no weights file"},
		{name: "alexnet", opts: Options{Backend: "tpu"}, wantErr: `unknown backend "tpu"`},
		{name: "resnet:" + alex, wantErr: "unknown extractor"},
	} {
		if c.opts.Backend == "tpu" {
			c.opts.Weights = alex
		}
		e, err := NewWith(c.name, c.opts)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("NewWith(%q, %+v): error %v, want one containing %q", c.name, c.opts, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewWith(%q, %+v): %v", c.name, c.opts, err)
			continue
		}
		if e.Dim() != c.dim || !strings.Contains(e.ID(), c.idPart) {
			t.Errorf("NewWith(%q, %+v): Dim %d ID %q; want %d and %q", c.name, c.opts, e.Dim(), e.ID(), c.dim, c.idPart)
		}
		e.(*ONNX).Close()
	}
	// A file in the weights directory is found without a flag.
	b, err := os.ReadFile(alex)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wdir, "alexnet.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New("alexnet#features.12")
	if err != nil {
		t.Fatalf("alexnet from the weights directory: %v", err)
	}
	defer e.(*ONNX).Close()
	want, err := NewWith("alexnet:"+alex+"#features.12", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer want.(*ONNX).Close()
	if e.ID() != want.ID() {
		t.Errorf("weights-directory ID %q, want %q (same file)", e.ID(), want.ID())
	}
}
