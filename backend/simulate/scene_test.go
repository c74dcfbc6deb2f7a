package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCategorySignal checks the category drive against its closed form.
func TestCategorySignal(t *testing.T) {
	tests := []struct {
		name string
		lb   Labels
		want []float64
	}{
		{"empty plain", Labels{Background: "plain"}, []float64{0, 0, 0, 0, 0, 0}},
		{"central face of size 0.4", Labels{Background: "plain", Items: []Item{{Kind: "face", X: 0.5, Y: 0.5, Size: 0.4}}},
			[]float64{1, 0, 0, 0, 0, 0}},
		{"corner word of size 0.1 on a street", Labels{Background: "place-street", Items: []Item{{Kind: "word", X: 0.2, Y: 0.9, Size: 0.1}}},
			[]float64{0, 0, 1, (0.5 + 0.5*math.Sqrt(0.25)) * (1 - 0.6*0.5), 0, 0}},
		{"capped objects on texture", Labels{Background: "texture-noise", Items: []Item{
			{Kind: "object", X: 0.5, Y: 0.5, Size: 0.4}, {Kind: "object", X: 0.5, Y: 0.5, Size: 0.4}}},
			[]float64{0, 0, 0, 0, 1.5, 0.8}},
	}
	for _, tt := range tests {
		got := categorySignal(tt.lb)
		for k := range got {
			if math.Abs(got[k]-tt.want[k]) > 1e-12 {
				t.Errorf("%s: signal %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

// TestScenes checks scenes are 425×425, deterministic for a seed, labelled
// consistently, and that every category occurs over 300 scenes.
func TestScenes(t *testing.T) {
	count := make([]int, numCategories)
	for i := range 300 {
		img, lb := scene(nil, rand.New(rand.NewPCG(uint64(i), 1)))
		if img.Rect.Dx() != ImageSize || img.Rect.Dy() != ImageSize {
			t.Fatalf("scene %d is %v", i, img.Rect)
		}
		if len(lb.Signal) != numCategories {
			t.Fatalf("scene %d: %d signals", i, len(lb.Signal))
		}
		for k, s := range lb.Signal {
			if (s > 0) != slices.Contains(lb.Present, categories[k]) {
				t.Fatalf("scene %d: signal %v but present %v", i, lb.Signal, lb.Present)
			}
			if s > 0 {
				count[k]++
			}
		}
		if i < 5 {
			img2, lb2 := scene(nil, rand.New(rand.NewPCG(uint64(i), 1)))
			if !slices.Equal(img.Pix, img2.Pix) || lb.Background != lb2.Background || len(lb.Items) != len(lb2.Items) {
				t.Fatalf("scene %d differs between two draws with the same seed", i)
			}
		}
	}
	for k, c := range count {
		if c < 40 {
			t.Errorf("%s in %d of 300 scenes, want ≥ 40", categories[k], c)
		}
	}
	t.Logf("category counts over 300 scenes: %v", count)
}
