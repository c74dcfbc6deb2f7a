package meshes

import (
	"math"
)

// Position quantisation: coordinates are stored as int16 multiples of a
// step of 0.01·2^e mm, with the smallest e ≥ 0 for which the largest
// absolute coordinate fits (e = 0, a 0.01 mm step, for every fsaverage
// surface: their coordinates stay within ±327.67 mm). The error is at most
// half a step (0.005 mm at e = 0), far below a screen pixel.
const (
	PositionStep = 0.01 // mm, at exponent 0
	maxPosExp    = 127
)

func posStep(e int) float64 { return PositionStep * math.Ldexp(1, e) }

// positionExponent returns the exponent e for the positions p.
func positionExponent(p []float32) int {
	m := 0.0
	for _, v := range p {
		m = max(m, math.Abs(float64(v)))
	}
	e := 0
	for e < maxPosExp && math.Round(m/posStep(e)) > math.MaxInt16 {
		e++
	}
	return e
}

// quantizePositions returns the exponent and the int16 codes of p.
func quantizePositions(p []float32) (int, []int16) {
	e := positionExponent(p)
	s := posStep(e)
	q := make([]int16, len(p))
	for i, v := range p {
		q[i] = int16(math.Round(float64(v) / s))
	}
	return e, q
}

func dequantizePosition(q int16, e int) float32 {
	return float32(float64(q) * posStep(e))
}

// QuantizePositions returns p as a bundle stores it (see PositionStep).
func QuantizePositions(p []float32) []float32 {
	if p == nil {
		return nil
	}
	e, q := quantizePositions(p)
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = dequantizePosition(v, e)
	}
	return out
}

// Float16 converts v to an IEEE 754 half-precision value (round to nearest
// even; NaN stays NaN, values beyond ±65504 become ±Inf). Per-vertex
// scalar maps (sulcal depth, curvature) are stored this way: a relative
// error of at most 2⁻¹¹, invisible in a grey-scale underlay.
func Float16(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00 // NaN
		}
		return sign | 0x7c00
	case exp == 0 && man == 0:
		return sign
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the implicit-1 mantissa.
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: correct rounding
	}
	return sign | uint16(h)
}

// Float32FromHalf converts an IEEE 754 half-precision value to float32.
func Float32FromHalf(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise.
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// QuantizeScalars returns v rounded to half precision, as a bundle stores
// it.
func QuantizeScalars(v []float32) []float32 {
	if v == nil {
		return nil
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = Float32FromHalf(Float16(x))
	}
	return out
}

// NormalScale is the int8 code of a unit normal component: a bundle stores
// each vertex normal as three int8 values n·127 (rounded), about 0.5° of
// error; a vertex in no triangle has the zero normal.
const NormalScale = 127

// ComputeNormals returns the area-weighted vertex normals of the surface
// (positions 3·n, triangles 3·t, counter-clockwise seen from the side the
// normal points to), quantised to int8 (see NormalScale). Vertices in no
// triangle get (0, 0, 0).
func ComputeNormals(pos []float32, tri []uint32) []int8 {
	n := len(pos) / 3
	acc := make([]float64, 3*n)
	for t := 0; t+2 < len(tri); t += 3 {
		a, b, c := int(tri[t]), int(tri[t+1]), int(tri[t+2])
		if a >= n || b >= n || c >= n {
			continue
		}
		var u, v [3]float64
		for k := range 3 {
			u[k] = float64(pos[3*b+k]) - float64(pos[3*a+k])
			v[k] = float64(pos[3*c+k]) - float64(pos[3*a+k])
		}
		cx := u[1]*v[2] - u[2]*v[1]
		cy := u[2]*v[0] - u[0]*v[2]
		cz := u[0]*v[1] - u[1]*v[0]
		for _, i := range [3]int{a, b, c} {
			acc[3*i] += cx
			acc[3*i+1] += cy
			acc[3*i+2] += cz
		}
	}
	out := make([]int8, 3*n)
	for i := range n {
		x, y, z := acc[3*i], acc[3*i+1], acc[3*i+2]
		l := math.Sqrt(x*x + y*y + z*z)
		if l == 0 || math.IsNaN(l) || math.IsInf(l, 0) {
			continue
		}
		for k, c := range [3]float64{x, y, z} {
			out[3*i+k] = int8(math.Round(c / l * NormalScale))
		}
	}
	return out
}

// NormalsFloat32 converts int8 normal codes to float32 (code/127; not
// renormalised).
func NormalsFloat32(q []int8) []float32 {
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = float32(v) / NormalScale
	}
	return out
}
