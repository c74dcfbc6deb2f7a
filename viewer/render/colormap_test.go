package render

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestColormapsMatchMatplotlib compares every colormap with matplotlib's
// 256-entry lookup table (scripts/fixtures/viewer.py): entry i is
// matplotlib's color at i/255.
func TestColormapsMatchMatplotlib(t *testing.T) {
	raw, err := os.ReadFile("testdata/colormaps.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, name := range ColormapNames() {
		var lut [][3]float64
		if err := json.Unmarshal(fx[name], &lut); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(lut) != 256 {
			t.Fatalf("%s: fixture has %d entries", name, len(lut))
		}
		cm, ok := ColormapByName(name)
		if !ok {
			t.Fatalf("%s: not found", name)
		}
		for i, want := range lut {
			r, g, b := cm.AtF(float32(i) / 255)
			got := [3]float32{r, g, b}
			for k := range 3 {
				if math.Abs(float64(got[k])-want[k]) > 2e-6 {
					t.Errorf("%s at %d/255 channel %d: %v, matplotlib %v", name, i, k, got[k], want[k])
				}
			}
		}
	}
}

func TestColormapAt(t *testing.T) {
	rdbu, _ := ColormapByName("RdBu_r")
	vir, _ := ColormapByName("viridis")
	nan := float32(math.NaN())
	cases := []struct {
		cm      *Colormap
		t       float32
		r, g, b uint8
	}{
		// ColorBrewer RdBu anchors (reversed): dark blue, near white, dark red.
		{rdbu, 0, 5, 48, 97},
		{rdbu, 0.5, 247, 247, 247},
		{rdbu, 1, 103, 0, 31},
		{rdbu, 0.1, 33, 102, 172},
		{rdbu, 0.9, 178, 24, 43},
		// A quarter of the way between the last two anchors: 178−75/4, 24−24/4, 43−12/4.
		{rdbu, 0.925, 159, 18, 40},
		// Clamping and NaN.
		{rdbu, -3, 5, 48, 97},
		{rdbu, 7, 103, 0, 31},
		{rdbu, nan, 5, 48, 97},
		// viridis ends: matplotlib's (0.267004, 0.004874, 0.329415) and (0.993248, 0.906157, 0.143936).
		{vir, 0, 68, 1, 84},
		{vir, 1, 253, 231, 37},
	}
	for _, c := range cases {
		r, g, b := c.cm.At(c.t)
		if r != c.r || g != c.g || b != c.b {
			t.Errorf("%s.At(%v) = (%d,%d,%d), want (%d,%d,%d)", c.cm.Name(), c.t, r, g, b, c.r, c.g, c.b)
		}
	}
	if _, ok := ColormapByName("jet"); ok {
		t.Error("unknown colormap accepted")
	}
}
