package algonauts

import (
	"slices"
	"testing"
)

func TestTrainValSplit(t *testing.T) {
	for _, tc := range []struct {
		n       int
		frac    float64
		wantVal int
	}{
		{10, 0.2, 2}, {10, 0.25, 3}, {9841, 0.1, 984}, {3, 0.01, 1}, {3, 0.99, 2},
		{5, 0, 0}, {5, -1, 0}, {5, 1, 5}, {1, 0.5, 1}, {0, 0.5, 0},
	} {
		train, val := TrainValSplit(tc.n, 7, tc.frac)
		if len(val) != tc.wantVal || len(train) != tc.n-tc.wantVal {
			t.Errorf("n=%d frac=%v: %d train, %d val; want %d val", tc.n, tc.frac, len(train), len(val), tc.wantVal)
		}
		if !slices.IsSorted(train) || !slices.IsSorted(val) {
			t.Errorf("n=%d: not ascending", tc.n)
		}
		all := slices.Sorted(slices.Values(append(slices.Clone(train), val...)))
		for i, x := range all {
			if x != i {
				t.Fatalf("n=%d: train ∪ val is not a partition of 0..n-1: %v", tc.n, all)
			}
		}
		t2, v2 := TrainValSplit(tc.n, 7, tc.frac)
		if !slices.Equal(train, t2) || !slices.Equal(val, v2) {
			t.Errorf("n=%d: not deterministic", tc.n)
		}
	}
	_, a := TrainValSplit(1000, 1, 0.1)
	_, b := TrainValSplit(1000, 2, 0.1)
	if slices.Equal(a, b) {
		t.Error("seeds 1 and 2 give the same split")
	}
}

// TestPermutationUniform checks that every permutation of 4 items is about
// equally likely over 24,000 seeds (expected 1000 each; the bounds are
// about ±5 standard deviations).
func TestPermutationUniform(t *testing.T) {
	counts := map[[4]int]int{}
	for seed := range int64(24000) {
		counts[[4]int(permutation(4, seed))]++
	}
	if len(counts) != 24 {
		t.Fatalf("%d distinct permutations, want 24", len(counts))
	}
	for p, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("permutation %v drawn %d times, want about 1000", p, c)
		}
	}
}

// TestPermutationPinned pins the split algorithm: a change here changes
// every stored validation split, so it must be deliberate.
func TestPermutationPinned(t *testing.T) {
	got := permutation(10, 42)
	want := []int{1, 7, 0, 9, 4, 5, 8, 2, 3, 6}
	if !slices.Equal(got, want) {
		t.Errorf("permutation(10, 42) = %#v", got)
	}
}

func TestKFold(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{10, 3}, {9841, 5}, {7, 7}, {5, 1}} {
		folds := KFold(tc.n, tc.k, 3)
		if len(folds) != tc.k {
			t.Fatalf("%d folds, want %d", len(folds), tc.k)
		}
		seen := make([]bool, tc.n)
		for f, fold := range folds {
			want := tc.n / tc.k
			if f < tc.n%tc.k {
				want++
			}
			if len(fold) != want || !slices.IsSorted(fold) {
				t.Errorf("n=%d k=%d fold %d: %d items (want %d), sorted=%v", tc.n, tc.k, f, len(fold), want, slices.IsSorted(fold))
			}
			for _, i := range fold {
				if seen[i] {
					t.Fatalf("index %d in two folds", i)
				}
				seen[i] = true
			}
		}
		if slices.Contains(seen, false) {
			t.Errorf("n=%d k=%d: folds do not cover 0..n-1", tc.n, tc.k)
		}
		if !slices.EqualFunc(folds, KFold(tc.n, tc.k, 3), slices.Equal) {
			t.Error("KFold is not deterministic")
		}
	}
	for _, bad := range [][2]int{{5, 0}, {5, 6}, {0, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KFold(%d, %d) did not panic", bad[0], bad[1])
				}
			}()
			KFold(bad[0], bad[1], 1)
		}()
	}
}
