package imageio

import (
	"image"
	"image/color"
	"testing"
)

// TestResizeCenterCropGeometry checks the output size and the crop offsets
// (torchvision: long side int(size·long/short), top-left round-half-even)
// on images whose resize is the identity along the long axis.
func TestResizeCenterCropGeometry(t *testing.T) {
	for _, c := range []struct {
		w, h, size int
		left, top  int
	}{
		{10, 4, 4, 3, 0},   // (10−4)/2 = 3
		{9, 4, 4, 2, 0},    // 2.5 rounds to 2
		{11, 4, 4, 4, 0},   // 3.5 rounds to 4
		{4, 7, 4, 0, 2},    // 1.5 rounds to 2
		{5, 5, 5, 0, 0},    // already the right size
		{6, 13, 6, 0, 4},   // 3.5 rounds to 4
		{13, 6, 6, 4, 0},   //
		{1, 1, 1, 0, 0},    // one pixel
		{3, 200, 3, 0, 98}, // 98.5 rounds to 98
	} {
		img := image.NewGray(image.Rect(0, 0, c.w, c.h))
		for y := range c.h {
			for x := range c.w {
				img.SetGray(x, y, color.Gray{Y: uint8((x*7 + y*31) % 256)})
			}
		}
		got := ResizeCenterCrop(img, c.size)
		if got.W != c.size || got.H != c.size {
			t.Fatalf("%dx%d→%d: got %dx%d", c.w, c.h, c.size, got.W, got.H)
		}
		full := ToRGB(img)
		want := CropRGB(full, c.left, c.top, c.size, c.size)
		for i := range want.Pix {
			if d := got.Pix[i] - want.Pix[i]; d > 1e-6 || d < -1e-6 {
				t.Errorf("%dx%d→%d: value %d is %g, want %g (crop at %d,%d)", c.w, c.h, c.size, i, got.Pix[i], want.Pix[i], c.left, c.top)
				break
			}
		}
	}
}

func TestCHW(t *testing.T) {
	img := &RGB{W: 2, H: 1, Pix: []float32{0.5, 0.25, 1, 0, 1, 0.5}}
	n := Norm{Mean: [3]float32{0.5, 0.25, 0.5}, Std: [3]float32{0.5, 0.25, 2}}
	got := make([]float32, 6)
	img.CHW(n, got)
	want := []float32{0, -1, 0, 3, 0.25, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("CHW = %v, want %v", got, want)
		}
	}
}

// TestCaffeNorm: pixels (R, G, B) on the 0–255 scale become planes B−104,
// G−117, R−123, as Caffe's BVLC AlexNet expects.
func TestCaffeNorm(t *testing.T) {
	img := &RGB{W: 2, H: 1, Pix: []float32{1, 0, 200.0 / 255, 123.0 / 255, 117.0 / 255, 104.0 / 255}}
	got := make([]float32, 6)
	img.CHW(CaffeNorm(), got)
	want := []float32{200 - 104, 0, 0 - 117, 0, 255 - 123, 0}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("CHW(CaffeNorm) = %v, want %v", got, want)
		}
	}
}
