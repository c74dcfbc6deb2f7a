// Package metrics scores encoding models the way the Algonauts 2023 challenge does: Pearson r per vertex
// between predicted and measured responses over held-out images, per-ROI summaries of r, the noise
// ceiling from ncsnr, and the noise-normalised challenge score.
//
// Conventions, chosen to match scipy and numpy:
//   - A column whose prediction or measurement is constant has an undefined correlation; like
//     scipy.stats.pearsonr (which returns NaN with a warning) its r is NaN.
//   - A column holding a NaN or an infinity in either input has r = NaN.
//   - Summaries skip NaN values (numpy's nanmean/nanmedian) and report how many values they used.
//
// No function here panics on bad input: mismatched lengths give NaN results (or nil where a slice
// of results has no defined length).
package metrics

import (
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Pearson returns the Pearson correlation of a and b, computed with float64 accumulators in two
// passes (means first) so that large offsets do not cost precision. It returns NaN when the lengths
// differ, when there are fewer than two values, when either input is constant, or when either holds
// a NaN or an infinity.
func Pearson(a, b []float32) float32 {
	if len(a) != len(b) || len(a) < 2 {
		return float32(math.NaN())
	}
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var sab, saa, sbb float64
	for i := range a {
		da := float64(a[i]) - ma
		db := float64(b[i]) - mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return corr(sab, saa, sbb)
}

// corr turns centred sums into r, NaN for a zero (or non-finite) variance, clamped to [-1, 1].
func corr(sab, saa, sbb float64) float32 {
	if !(saa > 0) || !(sbb > 0) || math.IsInf(saa, 0) || math.IsInf(sbb, 0) || math.IsNaN(sab) {
		return float32(math.NaN())
	}
	r := sab / math.Sqrt(saa*sbb)
	return float32(max(-1, min(1, r)))
}

// columnBlock is the number of columns one worker handles at a time: its float64 accumulators stay
// in L1 while the rows stream through.
const columnBlock = 256

// PearsonColumns returns, for each of the v columns of the row-major n×v matrices pred and meas,
// the Pearson r over the n rows (the per-vertex encoding accuracy when rows are images and columns
// are vertices). Each column follows the rules of Pearson. When the lengths do not match n×v every
// entry is NaN; when n or v is negative the result is nil. Columns are processed in blocks in
// parallel, with float64 accumulators.
func PearsonColumns(pred, meas []float32, n, v int) []float32 {
	if n < 0 || v < 0 {
		return nil
	}
	r := make([]float32, v)
	if n < 2 || len(pred) != n*v || len(meas) != n*v {
		for j := range r {
			r[j] = float32(math.NaN())
		}
		return r
	}
	blocks := (v + columnBlock - 1) / columnBlock
	workers := min(runtime.GOMAXPROCS(0), blocks)
	next := make(chan int, blocks)
	for b := range blocks {
		next <- b * columnBlock
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acc [5][columnBlock]float64
			for j0 := range next {
				pearsonBlock(r, pred, meas, n, v, j0, min(v, j0+columnBlock), &acc)
			}
		}()
	}
	wg.Wait()
	return r
}

// pearsonBlock computes r for columns [j0, j1) in two passes over the rows.
func pearsonBlock(r, pred, meas []float32, n, v, j0, j1 int, acc *[5][columnBlock]float64) {
	w := j1 - j0
	sa, sb, sab, saa, sbb := acc[0][:w], acc[1][:w], acc[2][:w], acc[3][:w], acc[4][:w]
	clear(sa)
	clear(sb)
	clear(sab)
	clear(saa)
	clear(sbb)
	for i := range n {
		pa := pred[i*v+j0 : i*v+j1]
		pb := meas[i*v+j0 : i*v+j1]
		for j := range w {
			sa[j] += float64(pa[j])
			sb[j] += float64(pb[j])
		}
	}
	inv := 1 / float64(n)
	for j := range w {
		sa[j] *= inv // now the means
		sb[j] *= inv
	}
	for i := range n {
		pa := pred[i*v+j0 : i*v+j1]
		pb := meas[i*v+j0 : i*v+j1]
		for j := range w {
			da := float64(pa[j]) - sa[j]
			db := float64(pb[j]) - sb[j]
			sab[j] += da * db
			saa[j] += da * da
			sbb[j] += db * db
		}
	}
	for j := range w {
		r[j0+j] = corr(sab[j], saa[j], sbb[j])
	}
}

// Summary returns the mean and median of the non-NaN values of r and how many there are. The median
// of an even count is the mean of the two middle values (as numpy's). With no non-NaN value the
// mean and median are NaN and the count is 0.
func Summary(r []float32) (mean, median float32, count int) {
	vals := make([]float64, 0, len(r))
	for _, x := range r {
		if !math.IsNaN(float64(x)) {
			vals = append(vals, float64(x))
		}
	}
	m, med := summary(vals)
	return float32(m), float32(med), len(vals)
}

// summary returns the mean and median of vals (NaN for none); it sorts vals in place.
func summary(vals []float64) (mean, median float64) {
	if len(vals) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range vals {
		s += x
	}
	slices.Sort(vals)
	h := len(vals) / 2
	if len(vals)%2 == 1 {
		median = vals[h]
	} else {
		median = (vals[h-1] + vals[h]) / 2
	}
	return s / float64(len(vals)), median
}

// ROIStat summarises r over the vertices of one ROI label. N counts the vertices with a non-NaN r;
// Mean and Median are NaN when N is 0.
type ROIStat struct {
	Label        int
	Name         string
	Mean, Median float32
	N            int
}

// ROISummary summarises r per ROI: labels[i] is the ROI label of vertex i (0 or negative: in no ROI,
// as in the Algonauts masks). It returns one ROIStat per positive label that occurs in labels or is
// named in names, in ascending label order; a named label with no vertex has N 0. Names come from
// names (empty for an unnamed label). It returns nil when len(labels) != len(r).
func ROISummary(r []float32, labels []int32, names map[int]string) []ROIStat {
	if len(labels) != len(r) {
		return nil
	}
	groups := map[int][]float64{}
	for lab := range names {
		if lab > 0 {
			groups[lab] = nil
		}
	}
	for i, lab := range labels {
		if lab <= 0 {
			continue
		}
		g := groups[int(lab)]
		if !math.IsNaN(float64(r[i])) {
			g = append(g, float64(r[i]))
		}
		groups[int(lab)] = g
	}
	keys := make([]int, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]ROIStat, 0, len(keys))
	for _, k := range keys {
		vals := groups[k]
		m, med := summary(vals)
		out = append(out, ROIStat{Label: k, Name: names[k], Mean: float32(m), Median: float32(med), N: len(vals)})
	}
	return out
}

// NoiseCeiling returns the noise ceiling of each vertex as a fraction in [0, 1] (not a percentage):
// NC = ncsnr² / (ncsnr² + k) with k = (A/3 + B/2 + C/1) / (A+B+C), where a, b and c count the test
// images seen three times, twice and once (the Algonauts 2023 / NSD formula). A NaN ncsnr gives NaN;
// negative counts or a zero total give NaN everywhere.
func NoiseCeiling(ncsnr []float32, a, b, c int) []float32 {
	nc := make([]float32, len(ncsnr))
	total := a + b + c
	if a < 0 || b < 0 || c < 0 || total == 0 {
		for i := range nc {
			nc[i] = float32(math.NaN())
		}
		return nc
	}
	k := (float64(a)/3 + float64(b)/2 + float64(c)) / float64(total)
	for i, s := range ncsnr {
		s2 := float64(s) * float64(s)
		nc[i] = float32(s2 / (s2 + k))
	}
	return nc
}

// ChallengeScore returns the Algonauts 2023 challenge score of per-vertex correlations r against
// noise ceilings nc (fractions, as NoiseCeiling returns): the mean over vertices of
// min(100, max(r,0)² / NC × 100), a percentage of the explainable variance. To score several
// subjects and hemispheres, concatenate their vertices. Vertices whose NC is NaN or not positive are
// left out (their ceiling is undefined); a NaN r (a constant prediction) counts as 0. It returns NaN
// when the lengths differ or no vertex counts.
func ChallengeScore(r, nc []float32) float32 {
	if len(r) != len(nc) {
		return float32(math.NaN())
	}
	var sum float64
	count := 0
	for i := range r {
		c := float64(nc[i])
		if !(c > 0) {
			continue
		}
		x := float64(r[i])
		if math.IsNaN(x) || x < 0 {
			x = 0
		}
		sum += min(100, x*x/c*100)
		count++
	}
	if count == 0 {
		return float32(math.NaN())
	}
	return float32(sum / float64(count))
}
