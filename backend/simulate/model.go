package simulate

import (
	"math"
	"math/rand/v2"
)

// Feature columns of a vertex's weights: its receptive-field contrast, then
// the categories in ground-truth order.
const numFeatures = 1 + numCategories

// vertexModel is one subject's and hemisphere's generative model: for each
// challenge vertex a population receptive field, feature weights, signal
// amplitude and noise level.
type vertexModel struct {
	n int
	// prf holds x, y (degrees from fixation, x right, y up) and σ
	// (degrees) per vertex, row-major n×3.
	prf  []float32
	samp []sampler // reads the pRF's contrast
	// w holds the feature weights, row-major n×numFeatures.
	w []float32
	// amp is the signal amplitude, noise the noise SD of one trial;
	// ncsnr = amp / noise.
	amp, noise, ncsnr []float32
}

// pRF layout constants: eccentricity e0·((1+emax/e0)^r − 1) for a rank
// fraction r, σ = prfSigma0 + slope·eccentricity.
const (
	prfE0     = 0.4
	prfEmax   = 6.0
	prfSigma0 = 0.2
	golden    = 0.6180339887498949
)

// prfSlopes are the σ-by-eccentricity slopes of V1, V2, V3 and hV4.
var prfSlopes = [...]float64{0.12, 0.18, 0.25, 0.35}

// Per-stream weights of the receptive-field contrast and category
// preference profiles (face, body, place, word, object, texture) of the
// stream vertices outside any floc ROI.
var (
	streamContrast = map[int64]float64{streamEarly: 1, streamMidventral: 0.7, streamMidlateral: 0.7, streamMidparietal: 0.7,
		streamVentral: 0.3, streamLateral: 0.3, streamParietal: 0.4}
	streamProfile = map[int64][numCategories]float64{
		streamEarly:       {},
		streamMidventral:  {0.3, 0.3, 0.3, 0.3, 0.3, 0.8},
		streamMidlateral:  {0.3, 0.3, 0.3, 0.3, 0.3, 0.8},
		streamMidparietal: {0.3, 0.3, 0.3, 0.3, 0.3, 0.8},
		streamVentral:     {1, 0.8, 0.8, 0.6, 1, 0.3},
		streamLateral:     {0.8, 1, 0.3, 0.3, 0.8, 0.3},
		streamParietal:    {0.2, 0.4, 1, 0.2, 0.6, 0.6},
	}
	// flocSecondary are the weights of other categories in a floc ROI
	// whose own category has weight 1.
	flocSecondary = map[int][numCategories]float64{
		catFace:  {catBody: 0.25},
		catBody:  {catFace: 0.25},
		catPlace: {catObject: 0.1, catTexture: 0.15},
		catWord:  {catFace: 0.1, catObject: 0.2},
	}
)

// flocClassCategory maps floc classes to their category.
var flocClassCategory = map[string]int{"floc-faces": catFace, "floc-bodies": catBody, "floc-places": catPlace, "floc-words": catWord}

// newVertexModel lays out one hemisphere's model. The pRFs of the visual
// ROIs are deterministic (see prfFor); everything else is drawn from r.
func newVertexModel(l *hemiLayout, r *rand.Rand) *vertexModel {
	n := len(l.challenge)
	m := &vertexModel{n: n, prf: make([]float32, 3*n), samp: make([]sampler, n), w: make([]float32, n*numFeatures),
		amp: make([]float32, n), noise: make([]float32, n), ncsnr: make([]float32, n)}
	side := 1.0 // the left hemisphere sees the right visual field
	if l.hemi == "rh" {
		side = -1
	}
	// Rank of each vertex within its visual ROI (or, for early-stream
	// vertices outside them, within that remainder).
	prf := l.challengeMask("prf-visualrois")
	streams := l.challengeMask("streams")
	group := make([]int, n) // 1..7 visual ROIs, 8 other early, 0 none
	for j := range n {
		switch {
		case prf[j] > 0:
			group[j] = int(prf[j])
		case streams[j] == streamEarly:
			group[j] = 8
		}
	}
	count := make([]int, 9)
	for _, g := range group {
		count[g]++
	}
	seen := make([]int, 9)
	floc := make([]int, n) // category+1 of the vertex's floc ROI, 0 none
	for class, cat := range flocClassCategory {
		for j, lab := range l.challengeMask(class) {
			if lab != 0 {
				floc[j] = cat + 1
			}
		}
	}
	for j := range n {
		w := m.w[j*numFeatures : (j+1)*numFeatures]
		var x, y, s, snr float64
		g := group[j]
		switch {
		case g > 0:
			x, y, s = prfFor(g, seen[g], count[g], side)
			seen[g]++
			w[0] = 1
			if g == 7 { // hV4 has a little object and face drive
				w[1+catObject], w[1+catFace] = 0.15, 0.1
			}
			snr = 0.5 + 0.5*r.Float64()
			if g == 8 {
				snr = 0.4 + 0.4*r.Float64()
			}
		case floc[j] > 0:
			cat := floc[j] - 1
			x, y, s = centralPRF(r, side, 2, 4)
			w[0] = 0.3
			jit := 0.8 + 0.4*r.Float64()
			for k, v := range flocSecondary[cat] {
				w[1+k] = float32(v * jit)
			}
			w[1+cat] = float32(jit)
			snr = 0.4 + 0.5*r.Float64()
		default:
			st := streams[j]
			switch st {
			case streamMidventral, streamMidlateral, streamMidparietal:
				x, y, s = centralPRF(r, side, 1, 2.5)
			default:
				x, y, s = centralPRF(r, side, 2, 4)
			}
			w[0] = float32(streamContrast[st])
			prof := streamProfile[st]
			for k := range numCategories {
				w[1+k] = float32(0.5 * math.Abs(r.NormFloat64()) * prof[k])
			}
			snr = 0.1 + 0.4*r.Float64()
		}
		m.prf[3*j], m.prf[3*j+1], m.prf[3*j+2] = float32(x), float32(y), float32(s)
		m.samp[j] = newSampler(sizeClass(s*pixelsPerDegree), x, y)
		amp := 0.6 + 0.8*r.Float64()
		m.amp[j] = float32(amp)
		m.noise[j] = float32(amp / snr)
		m.ncsnr[j] = float32(snr)
	}
	return m
}

// prfFor returns the pRF (x, y, σ in degrees) of the i-th of n vertices (in
// fsaverage index order) of visual group g: 1..7 V1v, V1d, V2v, V2d, V3v,
// V3d, hV4; 8 the early-stream vertices outside them. Eccentricity grows
// with the rank (logarithmically, as cortical magnification has it), the
// polar angle steps by the golden ratio through the ROI's part of the
// contralateral visual field: the upper quadrant for ventral ROIs, the lower
// for dorsal ones, −30°..90° for hV4 and the whole hemifield beyond 2° for
// the other early vertices.
func prfFor(g, i, n int, side float64) (x, y, sigma float64) {
	r := (float64(i) + 0.5) / float64(n)
	frac := math.Mod(float64(i+1)*golden, 1)
	var theta, slope float64
	switch {
	case g <= 6:
		theta = frac * math.Pi / 2
		if g%2 == 0 {
			theta = -theta
		}
		slope = prfSlopes[(g-1)/2]
	case g == 7:
		theta = (-30 + 120*frac) * math.Pi / 180
		slope = prfSlopes[3]
	default:
		theta = (-90 + 180*frac) * math.Pi / 180
		slope = prfSlopes[1]
		r = 0.5 + r/2
	}
	ecc := prfE0 * (math.Pow(1+prfEmax/prfE0, r) - 1)
	return side * ecc * math.Cos(theta), ecc * math.Sin(theta), prfSigma0 + slope*ecc
}

// centralPRF draws a large receptive field near fixation, biased to the
// contralateral field: eccentricity |N(0, 1.5°)| up to 5°, σ uniform in
// [lo, hi] degrees.
func centralPRF(r *rand.Rand, side, lo, hi float64) (x, y, sigma float64) {
	ecc := math.Min(5, math.Abs(1.5*r.NormFloat64()))
	theta := (-100 + 200*r.Float64()) * math.Pi / 180
	return side * ecc * math.Cos(theta), ecc * math.Sin(theta), lo + (hi-lo)*r.Float64()
}

// standardise rescales column j of the row-major rows×cols matrix to mean
// 0 and SD 1 over the rows (a constant column becomes 0).
func standardiseColumns(a []float64, rows, cols int) {
	for j := range cols {
		var s, ss float64
		for i := range rows {
			v := a[i*cols+j]
			s += v
			ss += v * v
		}
		mean := s / float64(rows)
		sd := math.Sqrt(math.Max(0, ss/float64(rows)-mean*mean))
		for i := range rows {
			if sd > 1e-12 {
				a[i*cols+j] = (a[i*cols+j] - mean) / sd
			} else {
				a[i*cols+j] = 0
			}
		}
	}
}
