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
// class, each on its pyramid level's grid.
type energyMaps struct {
	maps [len(sigmaClasses)][]float32
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

// newEnergyMaps computes the blurred energy maps of img.
func newEnergyMaps(img *image.RGBA) *energyMaps {
	e0 := contrastEnergy(img)
	levels := [3][]float64{e0, downsample2(e0, gridN), nil}
	levels[2] = downsample2(levels[1], gridN/2)
	var em energyMaps
	for k, s := range sigmaClasses {
		lv := classLevel(k)
		n := gridN >> lv
		b := blurZero(levels[lv], n, gaussKernel(s/float64(int(1)<<lv)))
		m := make([]float32, len(b))
		for i, v := range b {
			m[i] = float32(v)
		}
		em.maps[k] = m
	}
	return &em
}

// contrastAt returns the RMS contrast of size class k's receptive field
// centred at (xDeg, yDeg) degrees from fixation (x right, y up).
func (em *energyMaps) contrastAt(k int, xDeg, yDeg float64) float64 {
	lv := classLevel(k)
	n := gridN >> lv
	f := float64(int(1) << lv)
	// Grid coordinates of the centre, at pixel centres.
	gx := (gridN/2+xDeg*pixelsPerDegree)/f - 0.5
	gy := (gridN/2-yDeg*pixelsPerDegree)/f - 0.5
	return math.Sqrt(math.Max(0, bilinear(em.maps[k], n, gx, gy)))
}

// bilinear interpolates the n×n map m at (x, y), clamping to the edge.
func bilinear(m []float32, n int, x, y float64) float64 {
	x = math.Max(0, math.Min(float64(n-1), x))
	y = math.Max(0, math.Min(float64(n-1), y))
	x0, y0 := min(int(x), n-2), min(int(y), n-2)
	fx, fy := x-float64(x0), y-float64(y0)
	a := float64(m[y0*n+x0])*(1-fx) + float64(m[y0*n+x0+1])*fx
	b := float64(m[(y0+1)*n+x0])*(1-fx) + float64(m[(y0+1)*n+x0+1])*fx
	return a*(1-fy) + b*fy
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
// everything outside the map as zero.
func blurZero(m []float64, n int, k []float64) []float64 {
	r := len(k) / 2
	tmp := make([]float64, n*n)
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
	out := make([]float64, n*n)
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
	b, w := blurZero(m, n, k), blurZero(ones, n, k)
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
