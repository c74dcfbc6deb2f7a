package render

import (
	"math"
	"slices"
	"testing"
)

// octahedron returns a unit octahedron (vertices ±x, ±y, ±z) with its 8
// faces wound counter-clockwise seen from outside.
func octahedron() ([]float32, []uint32) {
	pos := []float32{1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1}
	// 0:+x 1:−x 2:+y 3:−y 4:+z 5:−z
	tris := []uint32{
		0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4,
		2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5,
	}
	return pos, tris
}

func TestVertexNormalsOctahedron(t *testing.T) {
	pos, tris := octahedron()
	for t2 := range len(tris) / 3 {
		fn := faceNormal(pos, tris, t2)
		i := tris[3*t2]
		if fn.dot(Vec3{pos[3*i], pos[3*i+1], pos[3*i+2]}) <= 0 {
			t.Fatalf("fixture face %d is not wound outward", t2)
		}
	}
	if OrientOutward(pos, tris) {
		t.Fatal("OrientOutward flipped an outward mesh")
	}
	out := make([]float32, len(pos))
	VertexNormals(pos, tris, out)
	// By symmetry each vertex normal is the vertex direction itself.
	for i := range pos {
		if !near(out[i], pos[i], 1e-6) {
			t.Fatalf("normal component %d = %v, want %v (normals %v)", i, out[i], pos[i], out)
		}
	}
	// Inward winding is detected and repaired.
	flipped := slices.Clone(tris)
	for k := 0; k < len(flipped); k += 3 {
		flipped[k+1], flipped[k+2] = flipped[k+2], flipped[k+1]
	}
	if !OrientOutward(pos, flipped) {
		t.Fatal("OrientOutward missed an inward mesh")
	}
	if !slices.Equal(flipped, tris) {
		t.Fatalf("repaired winding %v, want %v", flipped, tris)
	}
}

func TestVertexNormalsAreaWeighted(t *testing.T) {
	// Two triangles sharing vertex 0: one in the z=0 plane (area 2, normal
	// +z), one in the x=0 plane (area 0.5, normal +x).
	pos := []float32{0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1}
	tris := []uint32{0, 1, 2, 0, 3, 4}
	out := make([]float32, len(pos))
	VertexNormals(pos, tris, out)
	// Unnormalized sums: +x face (0,1,0)×(0,0,1) = (1,0,0); +z face (2,0,0)×(0,2,0) = (0,0,4).
	want := Vec3{1 / float32(math.Sqrt(17)), 0, 4 / float32(math.Sqrt(17))}
	for k := range 3 {
		if !near(out[k], want[k], 1e-6) {
			t.Fatalf("vertex 0 normal %v, want %v", out[:3], want)
		}
	}
}

func TestSulcGray(t *testing.T) {
	// 100 values −1..+0.98 and a few special ones; the scale is the 95th
	// percentile of the finite |sulc| values, computed here independently.
	sulc := make([]float32, 0, 104)
	for i := range 100 {
		sulc = append(sulc, -1+float32(i)*0.02)
	}
	sulc = append(sulc, 0, 0.48, -5, float32(math.NaN()))
	out := make([]float32, len(sulc))
	SulcGray(sulc, out)
	abs := make([]float64, 0, 103)
	for _, v := range sulc[:103] {
		abs = append(abs, math.Abs(float64(v)))
	}
	slices.Sort(abs)
	scale := float32(abs[96]) // int(0.95 × (103−1))
	cases := []struct {
		i    int
		want float32
	}{
		{100, grayMid},                         // sulc 0
		{101, grayMid - grayAmp*0.48/scale},    // a sulcus: darker
		{102, grayMid + grayAmp},               // a deep gyrus crown, clamped: lighter
		{103, grayMid},                         // NaN
		{0, grayMid + grayAmp*min(1, 1/scale)}, // sulc −1
	}
	for _, c := range cases {
		if !near(out[c.i], c.want, 1e-6) {
			t.Errorf("sulc %v: gray %v, want %v", sulc[c.i], out[c.i], c.want)
		}
	}
	// Monotone: deeper is darker.
	for i := 1; i < 100; i++ {
		if out[i] > out[i-1] {
			t.Fatalf("gray not decreasing with sulcal depth at %d: %v > %v", i, out[i], out[i-1])
		}
	}
}
