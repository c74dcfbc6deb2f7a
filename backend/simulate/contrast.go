package simulate

import (
	"image"
	"math"
)

// The contrast-energy model. The stimulus spans StimulusDegrees of visual
// angle (NSD shows its 425-pixel images at 8.4°). Luminance is reduced to a
// mapN×mapN map; the local contrast energy there is the variance of the
// full-resolution luminance within each map pixel plus the squared
// difference between the map and its Gaussian blur (σ = 1.5 map pixels), so
// that it covers fine and coarse scales. The energy map sits in a grid with
// mapPad pixels of zero energy on each side (the grey screen around the
// image). A receptive field's contrast is the square root of the
// energy averaged with its normalised Gaussian weights: the RMS contrast in
// the receptive field. Gaussians of eight size classes are computed once
// per image (large ones on a 2× or 4× coarser grid) and every vertex reads
// the class nearest its size at its centre (bilinear).
const (
	StimulusDegrees = 8.4
	mapN            = 64
	mapPad          = 16
	gridN           = mapN + 2*mapPad
	pixelsPerDegree = mapN / StimulusDegrees
)

// sigmaClasses are the receptive-field sizes (σ in grid pixels) whose
// blurred energy maps are computed.
var sigmaClasses = [...]float64{1.5, 2.3, 3.6, 5.6, 8.7, 13.4, 20.8, 32}

// sizeClass returns the index of the sigmaClasses entry nearest (in log
// scale) to sigma grid pixels.
func sizeClass(sigma float64) int {
	best, bd := 0, math.Inf(1)
	for k, s := range sigmaClasses {
		if d := math.Abs(math.Log(sigma / s)); d < bd {
			best, bd = k, d
		}
	}
	return best
}

// classLevel is the pyramid level (0 full grid, 1 half, 2 quarter) on which
// size class k is blurred.
func classLevel(k int) int {
	switch s := sigmaClasses[k]; {
	case s < 4:
		return 0
	case s < 12:
		return 1
	default:
		return 2
	}
}

// energyMaps holds one image's blurred contrast-energy maps, one per size
// class, each on its pyramid level's grid, and scratch space reused from
// image to image.
type energyMaps struct {
	maps     [len(sigmaClasses)][]float32
	tmp, out []float64
}

// luminance returns the rec. 601 luminance in [0,1] of pixel (x, y).
func luminance(img *image.RGBA, x, y int) float64 {
	i := img.PixOffset(x, y)
	p := img.Pix[i : i+3 : i+3]
	return (0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])) / 255
}

// contrastEnergy computes the zero-padded gridN×gridN energy map of img.
func contrastEnergy(img *image.RGBA) []float64 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	mean := make([]float64, mapN*mapN)
	vari := make([]float64, mapN*mapN)
	for my := range mapN {
		y0, y1 := my*h/mapN, (my+1)*h/mapN
		for mx := range mapN {
			x0, x1 := mx*w/mapN, (mx+1)*w/mapN
			var s, ss float64
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					l := luminance(img, img.Rect.Min.X+x, img.Rect.Min.Y+y)
					s += l
					ss += l * l
				}
			}
			n := float64((y1 - y0) * (x1 - x0))
			m := s / n
			mean[my*mapN+mx] = m
			vari[my*mapN+mx] = math.Max(0, ss/n-m*m)
		}
	}
	// Blur of the map, normalised at the image border so that the border
	// itself is not an edge.
	k := gaussKernel(1.5)
	bl := blurNormalised(mean, mapN, k)
	e := make([]float64, gridN*gridN)
	for my := range mapN {
		for mx := range mapN {
			i := my*mapN + mx
			d := mean[i] - bl[i]
			e[(my+mapPad)*gridN+mx+mapPad] = vari[i] + d*d
		}
	}
	return e
}

// compute fills em with the blurred energy maps of img.
func (em *energyMaps) compute(img *image.RGBA) {
	e0 := contrastEnergy(img)
	levels := [3][]float64{e0, downsample2(e0, gridN), nil}
	levels[2] = downsample2(levels[1], gridN/2)
	if em.tmp == nil {
		em.tmp, em.out = make([]float64, gridN*gridN), make([]float64, gridN*gridN)
	}
	for k, s := range sigmaClasses {
		lv := classLevel(k)
		n := gridN >> lv
		b := blurZero(em.out[:n*n], em.tmp[:n*n], levels[lv], n, gaussKernel(s/float64(int(1)<<lv)))
		if em.maps[k] == nil {
			em.maps[k] = make([]float32, n*n)
		}
		for i, v := range b {
			em.maps[k][i] = float32(v)
		}
	}
}

// sampler reads one receptive field's contrast from energyMaps: size class
// k, bilinear weights fx, fy at the top-left grid offset off.
type sampler struct {
	k      uint8
	off    int32
	fx, fy float32
}

// newSampler prepares the reading of size class k's receptive field centred
// at (xDeg, yDeg) degrees from fixation (x right, y up); centres beyond the
// grid are clamped to its edge.
func newSampler(k int, xDeg, yDeg float64) sampler {
	lv := classLevel(k)
	n := gridN >> lv
	f := float64(int(1) << lv)
	// Grid coordinates of the centre, at pixel centres.
	x := (gridN/2+xDeg*pixelsPerDegree)/f - 0.5
	y := (gridN/2-yDeg*pixelsPerDegree)/f - 0.5
	x = math.Max(0, math.Min(float64(n-1), x))
	y = math.Max(0, math.Min(float64(n-1), y))
	x0, y0 := min(int(x), n-2), min(int(y), n-2)
	return sampler{k: uint8(k), off: int32(y0*n + x0), fx: float32(x - float64(x0)), fy: float32(y - float64(y0))}
}

// contrast returns the RMS contrast the sampler reads from em.
func (em *energyMaps) contrast(s sampler) float32 {
	m := em.maps[s.k]
	n := int32(gridN >> classLevel(int(s.k)))
	a := m[s.off]*(1-s.fx) + m[s.off+1]*s.fx
	b := m[s.off+n]*(1-s.fx) + m[s.off+n+1]*s.fx
	v := a*(1-s.fy) + b*s.fy
	if v <= 0 {
		return 0
	}
	return float32(math.Sqrt(float64(v)))
}

// gaussKernel returns a normalised 1-D Gaussian truncated at 3σ.
func gaussKernel(sigma float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var s float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}

// blurZero convolves the n×n map m with the separable kernel k, treating
// everything outside the map as zero, into out (returned) using tmp; both
// hold n×n values.
func blurZero(out, tmp, m []float64, n int, k []float64) []float64 {
	r := len(k) / 2
	for y := range n {
		row := m[y*n : y*n+n]
		for x := range n {
			var s float64
			for i := max(0, r-x); i < len(k) && x+i-r < n; i++ {
				s += k[i] * row[x+i-r]
			}
			tmp[y*n+x] = s
		}
	}
	clear(out)
	for y := range n {
		for i := max(0, r-y); i < len(k) && y+i-r < n; i++ {
			w := k[i]
			src := tmp[(y+i-r)*n : (y+i-r)*n+n]
			dst := out[y*n : y*n+n]
			for x := range dst {
				dst[x] += w * src[x]
			}
		}
	}
	return out
}

// blurNormalised blurs like blurZero but divides by the kernel mass that
// falls inside the map.
func blurNormalised(m []float64, n int, k []float64) []float64 {
	ones := make([]float64, n*n)
	for i := range ones {
		ones[i] = 1
	}
	tmp := make([]float64, n*n)
	b := blurZero(make([]float64, n*n), tmp, m, n, k)
	w := blurZero(make([]float64, n*n), tmp, ones, n, k)
	for i := range b {
		b[i] /= w[i]
	}
	return b
}

// downsample2 averages 2×2 blocks of the n×n map m.
func downsample2(m []float64, n int) []float64 {
	h := n / 2
	out := make([]float64, h*h)
	for y := range h {
		for x := range h {
			out[y*h+x] = (m[2*y*n+2*x] + m[2*y*n+2*x+1] + m[(2*y+1)*n+2*x] + m[(2*y+1)*n+2*x+1]) / 4
		}
	}
	return out
}
