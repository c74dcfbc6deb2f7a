package imageio

import (
	"fmt"
	"image"
	"image/color"
)

// RGB is an image as H×W×3 float32 values in 0..1, row-major with the
// channel fastest: the red value of pixel (x, y) is Pix[(y*W+x)*3].
type RGB struct {
	W, H int
	Pix  []float32
}

// NewRGB returns a black w×h RGB image. It panics if w or h is negative.
func NewRGB(w, h int) *RGB {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imageio: NewRGB: negative size %dx%d", w, h))
	}
	return &RGB{W: w, H: h, Pix: make([]float32, w*h*3)}
}

// ToRGB converts img to RGB. Every color model is handled through its
// conversion to color.RGBA64; *image.RGBA, *image.NRGBA, *image.YCbCr,
// *image.Gray and *image.Paletted have fast paths (YCbCr uses the exact JFIF
// formula in float, which differs from color.YCbCr's fixed point by less than
// 0.003). Transparent pixels are composited over white: a pixel with color c
// and alpha a becomes c·a + (1−a) per channel.
func ToRGB(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return NewRGB(0, 0)
	}
	out := NewRGB(w, h)
	conv := rowConverter(img)
	for y := 0; y < h; y++ {
		conv(y, out.Pix[y*w*3:(y+1)*w*3])
	}
	return out
}

// rowConverter returns a function that writes row y (counted from
// img.Bounds().Min.Y) of img into dst as 3·width float32 values.
func rowConverter(img image.Image) func(y int, dst []float32) {
	b := img.Bounds()
	w := b.Dx()
	const inv255 = 1.0 / 255
	switch m := img.(type) {
	case *image.RGBA:
		return func(y int, o []float32) {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				s := row[4*x : 4*x+4 : 4*x+4]
				// Premultiplied: over white is c + (1-a).
				white := float32(255 - s[3])
				o[3*x] = (float32(s[0]) + white) * inv255
				o[3*x+1] = (float32(s[1]) + white) * inv255
				o[3*x+2] = (float32(s[2]) + white) * inv255
			}
		}
	case *image.NRGBA:
		return func(y int, o []float32) {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				s := row[4*x : 4*x+4 : 4*x+4]
				if s[3] == 255 {
					o[3*x] = float32(s[0]) * inv255
					o[3*x+1] = float32(s[1]) * inv255
					o[3*x+2] = float32(s[2]) * inv255
					continue
				}
				a := float32(s[3]) * inv255
				white := 1 - a
				o[3*x] = float32(s[0])*inv255*a + white
				o[3*x+1] = float32(s[1])*inv255*a + white
				o[3*x+2] = float32(s[2])*inv255*a + white
			}
		}
	case *image.Gray:
		return func(y int, o []float32) {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				v := float32(row[x]) * inv255
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
	case *image.YCbCr:
		return func(y int, o []float32) {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				// JFIF conversion in float (color.YCbCr.RGBA does it in fixed point).
				yy := float32(m.Y[yi])
				cb, cr := float32(m.Cb[ci])-128, float32(m.Cr[ci])-128
				o[3*x] = clamp01((yy + 1.402*cr) * inv255)
				o[3*x+1] = clamp01((yy - 0.344136*cb - 0.714136*cr) * inv255)
				o[3*x+2] = clamp01((yy + 1.772*cb) * inv255)
			}
		}
	case *image.Paletted:
		var pal [256][3]float32
		for i := range pal {
			// Indices beyond the palette (which At would panic on) count as transparent.
			pal[i] = [3]float32{1, 1, 1}
			if i < len(m.Palette) {
				pal[i] = overWhite(m.Palette[i])
			}
		}
		return func(y int, o []float32) {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				c := pal[row[x]]
				o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
			}
		}
	}
	return func(y int, o []float32) {
		for x := 0; x < w; x++ {
			c := overWhite(img.At(b.Min.X+x, b.Min.Y+y))
			o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
		}
	}
}

func clamp01(v float32) float32 {
	return min(max(v, 0), 1)
}

// overWhite composites c over white and scales to 0..1. A nil color counts as
// fully transparent.
func overWhite(c color.Color) [3]float32 {
	if c == nil {
		return [3]float32{1, 1, 1}
	}
	r, g, b, a := c.RGBA()
	const inv = 1.0 / 0xffff
	white := float32(0xffff - a)
	return [3]float32{(float32(r) + white) * inv, (float32(g) + white) * inv, (float32(b) + white) * inv}
}

// CropRGB returns a copy of the w×h region of src whose top-left pixel is
// (x0, y0). It panics if the region is empty or not inside src.
func CropRGB(src *RGB, x0, y0, w, h int) *RGB {
	if w <= 0 || h <= 0 || x0 < 0 || y0 < 0 || x0+w > src.W || y0+h > src.H {
		panic(fmt.Sprintf("imageio: CropRGB: region %dx%d at (%d,%d) is not inside %dx%d", w, h, x0, y0, src.W, src.H))
	}
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*3:(y+1)*w*3], src.Pix[((y0+y)*src.W+x0)*3:])
	}
	return out
}

// CenterSquareRGB returns the largest centred square crop of src (src itself
// when it is already square).
func CenterSquareRGB(src *RGB) *RGB {
	if src.W == src.H {
		return src
	}
	s := min(src.W, src.H)
	return CropRGB(src, (src.W-s)/2, (src.H-s)/2, s, s)
}

// CenterSquare returns the largest centred square region of img, sharing its
// pixels (img itself when it is already square).
func CenterSquare(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == h {
		return img
	}
	s := min(w, h)
	r := image.Rect(0, 0, s, s).Add(b.Min).Add(image.Pt((w-s)/2, (h-s)/2))
	if si, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return si.SubImage(r)
	}
	return window{img, r}
}

// window restricts an image to a rectangle for images without SubImage.
type window struct {
	image.Image
	r image.Rectangle
}

func (w window) Bounds() image.Rectangle { return w.r }
