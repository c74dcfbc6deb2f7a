package imageio

import (
	"fmt"
	"image"
	"math"
)

// ResizeRGB resamples src to w×h with separable antialiased bicubic
// interpolation (Keys cubic, a = −0.5), the algorithm of PIL's
// Image.resize(..., Image.BICUBIC) and torchvision's resize with
// antialias=True: when shrinking, the kernel is widened by the scale factor so
// that every source pixel contributes. Pixel centres are aligned
// (half-pixel convention); weights are renormalised at the borders. The
// horizontal pass runs first, then the vertical one; the result is clamped
// to 0..1 (bicubic overshoots near sharp edges). A pass whose size does not
// change is skipped, so resizing to the same size returns a copy.
//
// ResizeRGB panics if w or h is less than 1 or src has no pixels.
func ResizeRGB(src *RGB, w, h int) *RGB {
	if w < 1 || h < 1 {
		panic(fmt.Sprintf("imageio: ResizeRGB: target size %dx%d has no pixels", w, h))
	}
	if src.W < 1 || src.H < 1 || len(src.Pix) != src.W*src.H*3 {
		panic(fmt.Sprintf("imageio: ResizeRGB: source %dx%d with %d values is not a valid image", src.W, src.H, len(src.Pix)))
	}
	cur := src
	if w != src.W {
		cur = resizeH(cur, w, newKernel(src.W, w))
	}
	if h != src.H {
		cur = resizeV(cur, h, newKernel(src.H, h))
	}
	if cur == src {
		cur = &RGB{W: src.W, H: src.H, Pix: append([]float32(nil), src.Pix...)}
	}
	clampPix(cur.Pix)
	return cur
}

// ResizeImage returns ResizeRGB(ToRGB(img), w, h), bit for bit, without
// holding the full-resolution float image in memory: rows are converted and
// resampled horizontally one at a time. It panics if w or h is less than 1
// or img has no pixels.
func ResizeImage(img image.Image, w, h int) *RGB {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if w < 1 || h < 1 {
		panic(fmt.Sprintf("imageio: ResizeImage: target size %dx%d has no pixels", w, h))
	}
	if sw < 1 || sh < 1 {
		panic(fmt.Sprintf("imageio: ResizeImage: source %v has no pixels", b))
	}
	if w == sw {
		return ResizeRGB(ToRGB(img), w, h)
	}
	conv := rowConverter(img)
	kx := newKernel(sw, w)
	row := &RGB{W: sw, H: 1, Pix: make([]float32, sw*3)}
	tmp := NewRGB(w, sh)
	for y := 0; y < sh; y++ {
		conv(y, row.Pix)
		resampleRow(row.Pix, tmp.Pix[y*w*3:(y+1)*w*3], kx)
	}
	cur := tmp
	if h != sh {
		cur = resizeV(tmp, h, newKernel(sh, h))
	}
	clampPix(cur.Pix)
	return cur
}

func clampPix(p []float32) {
	for i, v := range p {
		if v < 0 {
			p[i] = 0
		} else if v > 1 {
			p[i] = 1
		}
	}
}

// kernel holds the resampling weights along one axis: output i uses inputs
// start[i] .. start[i]+count[i]-1 with weights w[i*stride:].
type kernel struct {
	start, count []int
	w            []float32
	stride       int
}

// cubic is the Keys cubic convolution kernel with a = −0.5 (support 2).
func cubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// newKernel computes the weights for resampling inSize samples to outSize,
// exactly as PIL's precompute_coeffs does (in float64, then stored as float32).
func newKernel(inSize, outSize int) kernel {
	scale := float64(inSize) / float64(outSize)
	fscale := max(scale, 1)
	support := 2 * fscale
	stride := int(math.Ceil(support))*2 + 1
	k := kernel{
		start:  make([]int, outSize),
		count:  make([]int, outSize),
		w:      make([]float32, outSize*stride),
		stride: stride,
	}
	tmp := make([]float64, stride)
	for i := 0; i < outSize; i++ {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		n := hi - lo
		var sum float64
		for j := 0; j < n; j++ {
			v := cubic((float64(j+lo) - center + 0.5) / fscale)
			tmp[j] = v
			sum += v
		}
		for j := 0; j < n; j++ {
			if sum != 0 {
				tmp[j] /= sum
			}
			k.w[i*stride+j] = float32(tmp[j])
		}
		k.start[i], k.count[i] = lo, n
	}
	return k
}

// resizeH resamples every row of src to w pixels.
func resizeH(src *RGB, w int, k kernel) *RGB {
	out := NewRGB(w, src.H)
	for y := 0; y < src.H; y++ {
		resampleRow(src.Pix[y*src.W*3:(y+1)*src.W*3], out.Pix[y*w*3:(y+1)*w*3], k)
	}
	return out
}

// resampleRow resamples one row of RGB pixels from in to o with k.
func resampleRow(in, o []float32, k kernel) {
	for x := range k.start {
		s, n := k.start[x], k.count[x]
		wt := k.w[x*k.stride : x*k.stride+n]
		px := in[s*3 : (s+n)*3]
		var r, g, b float32
		for j, c := range wt {
			q := px[3*j : 3*j+3 : 3*j+3]
			r += c * q[0]
			g += c * q[1]
			b += c * q[2]
		}
		o[3*x], o[3*x+1], o[3*x+2] = r, g, b
	}
}

// resizeV resamples every column of src to h pixels.
func resizeV(src *RGB, h int, k kernel) *RGB {
	out := NewRGB(src.W, h)
	rowLen := src.W * 3
	for y := 0; y < h; y++ {
		o := out.Pix[y*rowLen : (y+1)*rowLen]
		s, n := k.start[y], k.count[y]
		for j, c := range k.w[y*k.stride : y*k.stride+n] {
			in := src.Pix[(s+j)*rowLen : (s+j+1)*rowLen]
			for i, v := range in {
				o[i] += c * v
			}
		}
	}
	return out
}
