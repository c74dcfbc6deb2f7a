package algonauts

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// permutation returns a permutation of 0..n-1 determined by seed alone: a
// Fisher–Yates shuffle driven by PCG-DXSM seeded with (seed, splitStream),
// with unbiased bounded draws (Lemire's method). Both algorithms are fixed
// here, so the result does not change with the Go version.
func permutation(n int, seed int64) []int {
	src := rand.NewPCG(uint64(seed), splitStream)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(bounded(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// splitStream is the second PCG seed word of the split shuffles.
const splitStream = 0x616c676f6e617574 // "algonaut"

// bounded returns a uniform value in [0, n) (Lemire, "Fast random integer
// generation in an interval", 2019).
func bounded(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// TrainValSplit splits the indices 0..n-1 into a training and a validation
// set, deterministically for a given (n, seed, valFraction). The validation
// set has round(valFraction·n) elements, at least 1 and at most n-1 when
// 0 < valFraction < 1 and n ≥ 2; valFraction ≤ 0 (or NaN) puts everything
// in train, ≥ 1 everything in val. The validation set is the first
// elements of the seeded permutation; both sets are returned ascending.
func TrainValSplit(n int, seed int64, valFraction float64) (train, val []int) {
	if n <= 0 {
		return []int{}, []int{}
	}
	var nv int
	switch {
	case !(valFraction > 0):
		nv = 0
	case valFraction >= 1:
		nv = n
	default:
		nv = int(math.Round(valFraction * float64(n)))
		if n >= 2 {
			nv = min(max(nv, 1), n-1)
		}
	}
	p := permutation(n, seed)
	val = slices.Clone(p[:nv])
	train = slices.Clone(p[nv:])
	slices.Sort(val)
	slices.Sort(train)
	return train, val
}

// KFold partitions 0..n-1 into k validation folds, deterministically for a
// given (n, k, seed): the seeded permutation is cut into k consecutive
// pieces, the first n mod k of them one element longer (as scikit-learn's
// KFold sizes them). Fold f's training set is every index not in fold f.
// Each fold is returned ascending. KFold panics unless 1 ≤ k ≤ n.
func KFold(n, k int, seed int64) [][]int {
	if k < 1 || k > n {
		panic(fmt.Sprintf("algonauts: KFold with k=%d folds for n=%d items (want 1 ≤ k ≤ n)", k, n))
	}
	p := permutation(n, seed)
	folds := make([][]int, k)
	start := 0
	for f := range k {
		size := n / k
		if f < n%k {
			size++
		}
		folds[f] = slices.Clone(p[start : start+size])
		slices.Sort(folds[f])
		start += size
	}
	return folds
}
