package imageio

import (
	"fmt"
	"image"
	"math"
)

// Norm holds per-channel normalisation constants: a value v in 0..1 becomes
// (v − Mean[c]) / Std[c].
type Norm struct {
	Mean, Std [3]float32
	// BGR writes the planes in blue, green, red order (Caffe models).
	BGR bool
}

// CLIPNorm returns the normalisation of OpenAI CLIP's preprocessing.
func CLIPNorm() Norm {
	return Norm{
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711},
	}
}

// ImageNetNorm returns the ImageNet normalisation of torchvision's models
// (AlexNet) and, scaled to 0..255, of SAM.
func ImageNetNorm() Norm {
	return Norm{
		Mean: [3]float32{0.485, 0.456, 0.406},
		Std:  [3]float32{0.229, 0.224, 0.225},
	}
}

// CaffeNorm returns the preprocessing of Caffe's BVLC AlexNet (and the ONNX
// model zoo's conversion of it): BGR planes on the 0–255 scale, less the
// ImageNet mean pixel B, G, R = 104, 117, 123.
func CaffeNorm() Norm {
	return Norm{
		Mean: [3]float32{123.0 / 255, 117.0 / 255, 104.0 / 255},
		Std:  [3]float32{1.0 / 255, 1.0 / 255, 1.0 / 255},
		BGR:  true,
	}
}

// ResizeCenterCrop is torchvision's Resize(size, BICUBIC) followed by
// CenterCrop(size): the shorter side is resized to size and the longer one
// to int(size·long/short) (truncated, as torchvision does), with ResizeImage's
// antialiased bicubic, then the centred size×size window is cut out with
// its top-left corner at round((H−size)/2), round((W−size)/2), rounding half
// to even as Python's round does.
//
// How close it is to torchvision (tested in backend/features against values
// written by Debian's python3-torchvision): on a float tensor
// (antialias=True) it agrees to float32 rounding wherever torch's result lies
// in 0..1 (ResizeImage clamps to 0..1, torch does not); on a PIL image
// (what CLIP's preprocess uses) PIL resamples 8-bit pixels with fixed-point
// weights and rounds each pass to 8 bits, so values differ by up to about
// 1/255 (see the test for the measured bound).
//
// It panics if size is less than 1 or img has no pixels.
func ResizeCenterCrop(img image.Image, size int) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if size < 1 {
		panic(fmt.Sprintf("imageio: ResizeCenterCrop: size %d has no pixels", size))
	}
	if w < 1 || h < 1 {
		panic(fmt.Sprintf("imageio: ResizeCenterCrop: source %v has no pixels", b))
	}
	nw, nh := size, size
	if w <= h {
		nh = int(float64(size) * float64(h) / float64(w))
	} else {
		nw = int(float64(size) * float64(w) / float64(h))
	}
	nw, nh = max(nw, size), max(nh, size)
	r := ResizeImage(img, nw, nh)
	top := int(math.RoundToEven(float64(nh-size) / 2))
	left := int(math.RoundToEven(float64(nw-size) / 2))
	if top == 0 && left == 0 && nw == size && nh == size {
		return r
	}
	return CropRGB(r, left, top, size, size)
}

// CHW writes img normalised by n into dst as 3×H×W planes (channel first,
// the layout of an NCHW network input). dst must hold 3·W·H values.
func (img *RGB) CHW(n Norm, dst []float32) {
	plane := img.W * img.H
	if len(dst) != 3*plane {
		panic(fmt.Sprintf("imageio: CHW: dst has %d values for a %dx%d image", len(dst), img.W, img.H))
	}
	r, b := 0, 2*plane
	if n.BGR {
		r, b = b, r
	}
	for i := range plane {
		p := img.Pix[3*i : 3*i+3 : 3*i+3]
		dst[r+i] = (p[0] - n.Mean[0]) / n.Std[0]
		dst[plane+i] = (p[1] - n.Mean[1]) / n.Std[1]
		dst[b+i] = (p[2] - n.Mean[2]) / n.Std[2]
	}
}
