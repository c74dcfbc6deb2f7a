//go:build !goexperiment.simd || !amd64

package features

// vectorExp is false: expSlice is expf per value.
const vectorExp = false

// expSlice writes e^src[i] into dst[i] (dst may be src).
func expSlice(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = expf(v)
	}
}
