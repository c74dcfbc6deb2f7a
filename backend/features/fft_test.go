package features

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// naiveDFT is the O(n²) definition, evaluated in float64.
func naiveDFT(x []complex128, inverse bool) []complex128 {
	n := len(x)
	sign := -1.0
	if inverse {
		sign = 1
	}
	out := make([]complex128, n)
	for k := range out {
		var s complex128
		for j, v := range x {
			a := sign * 2 * math.Pi * float64((j*k)%n) / float64(n)
			s += v * complex(math.Cos(a), math.Sin(a))
		}
		out[k] = s
	}
	return out
}

func TestFFTAgainstDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 6, 8, 9, 12, 16, 24, 36, 48, 96, 192} {
		pl, err := newFFTPlan(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 5} {
			for _, inv := range []bool{false, true} {
				t.Run(fmt.Sprintf("n%d_b%d_inv%v", n, batch, inv), func(t *testing.T) {
					x := make([]complex128, n*batch)
					for i := range x {
						x[i] = complex(r.NormFloat64(), r.NormFloat64())
					}
					seqs := make([][]complex128, batch)
					for q := range seqs {
						for i := 0; i < n; i++ {
							seqs[q] = append(seqs[q], x[i*batch+q])
						}
					}
					pl.transform(x, make([]complex128, n*batch), batch, inv)
					for q, s := range seqs {
						want := naiveDFT(s, inv)
						for i, w := range want {
							if d := cmplx.Abs(x[i*batch+q] - w); d > 1e-12*float64(n) {
								t.Fatalf("sequence %d coefficient %d: %v, want %v", q, i, x[i*batch+q], w)
							}
						}
					}
				})
			}
		}
	}
	if _, err := newFFTPlan(20); err == nil {
		t.Error("length 20 accepted")
	}
}
