package openblas

import (
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func TestBetterCore(t *testing.T) {
	skx := cpuFeatures{avx2: true, fma: true, avx512: true}
	hsw := cpuFeatures{avx2: true, fma: true}
	old := cpuFeatures{}
	cases := []struct {
		detected string
		f        cpuFeatures
		want     string
	}{
		{"Prescott", skx, "SkylakeX"}, // the unrecognised-Xeon case this package is for
		{"Prescott", hsw, "Haswell"},
		{"Sandybridge", hsw, "Haswell"},
		{"Prescott", old, ""}, // nothing better on a pre-AVX2 CPU
		{"SkylakeX", skx, ""}, // detection was right
		{"Cooperlake", skx, ""},
		{"Zen", hsw, ""},
		{"Haswell", hsw, ""},
		{"Haswell", skx, ""}, // a known core is trusted even if the CPU could do more
	}
	for _, c := range cases {
		if got := betterCore(c.detected, c.f); got != c.want {
			t.Errorf("betterCore(%q, %+v) = %q, want %q", c.detected, c.f, got, c.want)
		}
	}
}

// TestSgemm checks the process-wide float32 product this package selects
// (OpenBLAS or pure Go) against a hand-computed one.
func TestSgemm(t *testing.T) {
	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	b := blas32.General{Rows: 3, Cols: 2, Stride: 2, Data: []float32{7, 8, 9, 10, 11, 12}}
	c := blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	want := []float32{58, 64, 139, 154}
	for i := range want {
		if c.Data[i] != want[i] {
			t.Fatalf("Gemm = %v, want %v (core %q)", c.Data, want, CoreName())
		}
	}
	if Enabled && CoreName() == "" {
		t.Error("OpenBLAS build reports no core name")
	}
}
