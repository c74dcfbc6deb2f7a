//go:build goexperiment.simd

package features

// simdBuild reports a GOEXPERIMENT=simd build.
const simdBuild = true
