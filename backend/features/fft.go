package features

import (
	"fmt"
	"math"
)

// fftPlan is a mixed-radix (4, 2, 3) Stockham FFT of length n. It
// transforms batch interleaved sequences at once: element i of sequence q is
// x[i*batch+q], so a row-major n×batch matrix is transformed along its
// columns with contiguous inner loops. A plan is read-only once built and
// may be shared between goroutines.
type fftPlan struct {
	n     int
	radix []int
	// tw[t] holds the twiddles of stage t: for p < m and 1 ≤ k < r,
	// exp(−2πi·p·k/len) at index p*(r−1)+k−1, where len is the stage's length
	// and m = len/r.
	tw [][]complex128
}

// newFFTPlan returns a plan for length n, which must be 2^a·3^b.
func newFFTPlan(n int) (*fftPlan, error) {
	if n < 1 {
		return nil, fmt.Errorf("fft length %d", n)
	}
	pl := &fftPlan{n: n}
	rest := n
	for rest%4 == 0 {
		pl.radix = append(pl.radix, 4)
		rest /= 4
	}
	for rest%2 == 0 {
		pl.radix = append(pl.radix, 2)
		rest /= 2
	}
	for rest%3 == 0 {
		pl.radix = append(pl.radix, 3)
		rest /= 3
	}
	if rest != 1 {
		return nil, fmt.Errorf("fft length %d is not of the form 2^a·3^b", n)
	}
	l := n
	for _, r := range pl.radix {
		m := l / r
		tw := make([]complex128, m*(r-1))
		for p := 0; p < m; p++ {
			for k := 1; k < r; k++ {
				a := -2 * math.Pi * float64(p*k) / float64(l)
				tw[p*(r-1)+k-1] = complex(math.Cos(a), math.Sin(a))
			}
		}
		pl.tw = append(pl.tw, tw)
		l = m
	}
	return pl, nil
}

// transform computes, in place in x, the unnormalised DFT (inverse: with
// exp(+2πi…)) of the batch interleaved sequences in x (len n*batch). scratch
// must hold n*batch values.
func (pl *fftPlan) transform(x, scratch []complex128, batch int, inverse bool) {
	total := pl.n * batch
	x, scratch = x[:total], scratch[:total]
	src, dst := x, scratch
	l, s := pl.n, batch
	for t, r := range pl.radix {
		m := l / r
		tw := pl.tw[t]
		switch r {
		case 4:
			radix4(src, dst, tw, m, s, inverse)
		case 2:
			radix2(src, dst, tw, m, s, inverse)
		case 3:
			radix3(src, dst, tw, m, s, inverse)
		}
		src, dst = dst, src
		l, s = m, s*r
	}
	if &src[0] != &x[0] {
		copy(x, src)
	}
}

func conjIf(c complex128, inverse bool) complex128 {
	if inverse {
		return complex(real(c), -imag(c))
	}
	return c
}

// mulI returns i·c (or −i·c when neg).
func mulI(c complex128, neg bool) complex128 {
	if neg {
		return complex(imag(c), -real(c))
	}
	return complex(-imag(c), real(c))
}

func radix2(x, y, tw []complex128, m, s int, inverse bool) {
	for p := 0; p < m; p++ {
		w := conjIf(tw[p], inverse)
		a0 := x[s*p : s*p+s]
		a1 := x[s*(p+m) : s*(p+m)+s]
		y0 := y[s*2*p : s*2*p+s]
		y1 := y[s*(2*p+1) : s*(2*p+1)+s]
		for q := range a0 {
			a, b := a0[q], a1[q]
			y0[q] = a + b
			y1[q] = (a - b) * w
		}
	}
}

func radix4(x, y, tw []complex128, m, s int, inverse bool) {
	for p := 0; p < m; p++ {
		w1 := conjIf(tw[3*p], inverse)
		w2 := conjIf(tw[3*p+1], inverse)
		w3 := conjIf(tw[3*p+2], inverse)
		a0 := x[s*p : s*p+s]
		a1 := x[s*(p+m) : s*(p+m)+s]
		a2 := x[s*(p+2*m) : s*(p+2*m)+s]
		a3 := x[s*(p+3*m) : s*(p+3*m)+s]
		y0 := y[s*4*p : s*4*p+s]
		y1 := y[s*(4*p+1) : s*(4*p+1)+s]
		y2 := y[s*(4*p+2) : s*(4*p+2)+s]
		y3 := y[s*(4*p+3) : s*(4*p+3)+s]
		if p == 0 {
			for q := range a0 {
				t0, t1 := a0[q]+a2[q], a0[q]-a2[q]
				t2, t3 := a1[q]+a3[q], mulI(a1[q]-a3[q], !inverse)
				y0[q] = t0 + t2
				y1[q] = t1 + t3
				y2[q] = t0 - t2
				y3[q] = t1 - t3
			}
			continue
		}
		for q := range a0 {
			// Forward: y1 = a0 − i·a1 − a2 + i·a3, y3 = a0 + i·a1 − a2 − i·a3.
			t0, t1 := a0[q]+a2[q], a0[q]-a2[q]
			t2, t3 := a1[q]+a3[q], mulI(a1[q]-a3[q], !inverse)
			y0[q] = t0 + t2
			y1[q] = (t1 + t3) * w1
			y2[q] = (t0 - t2) * w2
			y3[q] = (t1 - t3) * w3
		}
	}
}

func radix3(x, y, tw []complex128, m, s int, inverse bool) {
	const h = 0.86602540378443864676 // √3/2
	for p := 0; p < m; p++ {
		w1 := conjIf(tw[2*p], inverse)
		w2 := conjIf(tw[2*p+1], inverse)
		a0 := x[s*p : s*p+s]
		a1 := x[s*(p+m) : s*(p+m)+s]
		a2 := x[s*(p+2*m) : s*(p+2*m)+s]
		y0 := y[s*3*p : s*3*p+s]
		y1 := y[s*(3*p+1) : s*(3*p+1)+s]
		y2 := y[s*(3*p+2) : s*(3*p+2)+s]
		for q := range a0 {
			// Forward: y1 = a0 + ω·a1 + ω²·a2 with ω = −1/2 − i√3/2.
			t1 := a1[q] + a2[q]
			t2 := a0[q] - 0.5*t1
			t3 := mulI(complex(h, 0)*(a1[q]-a2[q]), !inverse)
			y0[q] = a0[q] + t1
			y1[q] = (t2 + t3) * w1
			y2[q] = (t2 - t3) * w2
		}
	}
}
