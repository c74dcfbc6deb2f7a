//go:build goexperiment.simd && amd64

package features

import "simd/archsimd"

// vectorExp says whether expSlice runs 8 lanes at a time (AVX2 and FMA).
var vectorExp = archsimd.X86.AVX2() && archsimd.X86.FMA()

// expSlice writes e^src[i] into dst[i] (dst may be src), 8 lanes at a time
// with AVX2/FMA: Cephes' expf (x = k·ln2 + r, a degree-7 polynomial in r,
// 2^k built in the exponent bits), relative error under 2e-7. Inputs
// below −87.3 give e^−87.3 ≈ 1.2e−38 instead of a denormal or 0, which no
// sum or ratio the engine takes can tell apart. The tail, and machines
// without AVX2, use expf.
func expSlice(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	if vectorExp {
		var (
			hi    = archsimd.BroadcastFloat32x8(88.37626)
			lo    = archsimd.BroadcastFloat32x8(-87.33654)
			log2e = archsimd.BroadcastFloat32x8(1.44269504088896341)
			c1    = archsimd.BroadcastFloat32x8(-0.693359375)
			c2    = archsimd.BroadcastFloat32x8(2.12194440e-4)
			p0    = archsimd.BroadcastFloat32x8(1.9875691500e-4)
			p1    = archsimd.BroadcastFloat32x8(1.3981999507e-3)
			p2    = archsimd.BroadcastFloat32x8(8.3334519073e-3)
			p3    = archsimd.BroadcastFloat32x8(4.1665795894e-2)
			p4    = archsimd.BroadcastFloat32x8(1.6666665459e-1)
			p5    = archsimd.BroadcastFloat32x8(5.0000001201e-1)
			one   = archsimd.BroadcastFloat32x8(1)
			bias  = archsimd.BroadcastInt32x8(127)
		)
		for ; i+8 <= len(src); i += 8 {
			x := archsimd.LoadFloat32x8Slice(src[i:]).Min(hi).Max(lo)
			k := x.Mul(log2e).RoundToEven()
			r := k.MulAdd(c1, x) // x − k·0.693359375
			r = k.MulAdd(c2, r)  // + k·2.12e−4: k·ln2 in two parts
			z := r.Mul(r)
			y := p0.MulAdd(r, p1)
			y = y.MulAdd(r, p2)
			y = y.MulAdd(r, p3)
			y = y.MulAdd(r, p4)
			y = y.MulAdd(r, p5)
			y = y.MulAdd(z, r).Add(one)
			pow2 := k.ConvertToInt32().Add(bias).ShiftAllLeft(23).AsFloat32x8()
			y.Mul(pow2).StoreSlice(dst[i:])
		}
		// Leave no dirty upper halves behind: SSE code after AVX runs
		// many times slower otherwise (see expf).
		archsimd.ClearAVXUpperBits()
	}
	for ; i < len(src); i++ {
		dst[i] = expf(src[i])
	}
}
