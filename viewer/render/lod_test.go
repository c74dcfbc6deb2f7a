package render

import (
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"cortexcast/meshes"
)

// canonTris returns the triangles with each rotated to start at its
// lowest vertex (keeping the winding), sorted: equal for equal meshes.
func canonTris(tris []uint32) [][3]uint32 {
	out := make([][3]uint32, len(tris)/3)
	for t := range out {
		a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
		for a > b || a > c {
			a, b, c = b, c, a
		}
		out[t] = [3]uint32{a, b, c}
	}
	slices.SortFunc(out, func(x, y [3]uint32) int { return slices.Compare(x[:], y[:]) })
	return out
}

// TestCoarserTrianglesFsaverage derives fsaverage6 and then fsaverage5 from
// full fsaverage and compares the result with FreeSurfer's own fsaverage5
// mesh, and checks that fsaverage5's coarser level is a closed surface
// whose edges each join two triangles of opposite turn.
func TestCoarserTrianglesFsaverage(t *testing.T) {
	dir := filepath.Dir(fsaverage5Dir(t))
	b5, err := meshes.BuildBundle(dir, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	for h := range 2 {
		tris, nc, ok := coarserTriangles(b5.Hemis[h].Triangles, b5.Hemis[h].NumVertices)
		if !ok || nc != 2562 || len(tris) != 3*5120 {
			t.Fatalf("hemi %d: fsaverage5's coarser level: ok %v, %d vertices, %d triangles; want 2562, 5120", h, ok, nc, len(tris)/3)
		}
		edges := map[[2]uint32]int{}
		for t := 0; t < len(tris); t += 3 {
			for k := range 3 {
				edges[[2]uint32{tris[t+k], tris[t+(k+1)%3]}]++
			}
		}
		for e, c := range edges {
			if c != 1 || edges[[2]uint32{e[1], e[0]}] != 1 {
				t.Fatalf("hemi %d: directed edge %v used %d times, reverse %d; want 1 and 1", h, e, c, edges[[2]uint32{e[1], e[0]}])
			}
		}
	}
	if _, _, ok := coarserTriangles([]uint32{0, 1, 2, 0, 2, 3}, 46); ok {
		t.Error("a mesh that is no subdivided icosahedron accepted")
	}
	if testing.Short() {
		t.Skip("-short: full fsaverage not loaded")
	}
	if !meshes.HasResolution(dir, "fsaverage") {
		t.Skipf("%s has no fsaverage/", dir)
	}
	bf, err := meshes.BuildBundle(dir, "fsaverage")
	if err != nil {
		t.Fatal(err)
	}
	for h := range 2 {
		t6, n6, ok := coarserTriangles(bf.Hemis[h].Triangles, bf.Hemis[h].NumVertices)
		if !ok || n6 != 40962 {
			t.Fatalf("hemi %d: fsaverage6 from fsaverage: ok %v, %d vertices", h, ok, n6)
		}
		t5, n5, ok := coarserTriangles(t6, n6)
		if !ok || n5 != 10242 {
			t.Fatalf("hemi %d: fsaverage5 from fsaverage6: ok %v, %d vertices", h, ok, n5)
		}
		if !slices.Equal(canonTris(t5), canonTris(b5.Hemis[h].Triangles)) {
			t.Errorf("hemi %d: fsaverage5 derived from fsaverage differs from fsaverage5's own triangles", h)
		}
	}
}

// TestMotionLOD checks the level of detail on fsaverage5 (its coarser level
// has 2562 vertices): while the camera moves the draw list is the one a
// Model of the coarser meshes alone draws, with the same overlay values;
// once the camera has rested for motionSettle it is the full mesh's, as
// without the level of detail; and neither allocates per frame.
func TestMotionLOD(t *testing.T) {
	b := fsaverage5(t)
	var coarse meshes.Bundle
	coarse.Hemis = b.Hemis
	for h := range 2 {
		c, ok := coarserHemi(&b.Hemis[h])
		if !ok {
			t.Fatalf("hemi %d: fsaverage5 has no coarser level", h)
		}
		coarse.Hemis[h] = *c
	}
	clock := time.Unix(1000, 0)
	m := NewModel(nil)
	m.lodMin = 0 // fsaverage5 qualifies
	m.now = func() time.Time { return clock }
	m.SetBundle(b)
	m.SetMotionLOD(true)
	full, small := NewModel(b), NewModel(&coarse)
	models := []*Model{m, full, small}
	for _, x := range models {
		x.SetScreen(1280, 720, 1)
		for h := range 2 {
			vals := make([]float32, x.nVert[h])
			for i := range vals {
				vals[i] = float32(math.Sin(float64(i) * 0.05))
			}
			if err := x.SetOverlay(h, vals); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range x.ROIClasses() {
			x.SetROIVisible(c, true)
		}
	}
	same := func(what string, a, b *Model) {
		t.Helper()
		av, ai, ac := a.DrawList()
		bv, bi, bc := b.DrawList()
		n := bc[len(bc)-1].V1
		if !slices.Equal(ac, bc) || !slices.Equal(ai[:bc[len(bc)-1].I1], bi[:bc[len(bc)-1].I1]) || !slices.Equal(av[:n], bv[:n]) || a.Drawn() != b.Drawn() {
			t.Fatalf("%s: draw lists differ (%d and %d triangles)", what, a.Drawn(), b.Drawn())
		}
		_, _, _, al := a.Outlines()
		_, _, _, bl := b.Outlines()
		if !slices.Equal(al, bl) {
			t.Fatalf("%s: labels differ: %v and %v", what, al, bl)
		}
	}
	m.Prepare() // the camera has not moved: full detail
	if m.Coarse() {
		t.Fatal("coarse before any camera change")
	}
	for step := range 3 {
		for _, x := range models {
			x.Orbit(0, 0, 25, 9)
			x.Prepare()
		}
		if !m.Coarse() {
			t.Fatalf("step %d: full detail while the camera moves", step)
		}
		same("moving", m, small)
		if m.Drawn() >= full.Drawn()/3 {
			t.Errorf("moving: %d triangles drawn, full mesh %d", m.Drawn(), full.Drawn())
		}
		clock = clock.Add(motionSettle / 4)
	}
	hemi, v, ok := m.Pick(320, 360, 20)
	if !ok || v >= 2562 {
		t.Errorf("pick while moving: hemi %d vertex %d ok %v, want a vertex of the coarser level", hemi, v, ok)
	}
	if _, _, vis := m.VertexScreen(0, 5000); vis {
		t.Error("a vertex of the full mesh only is visible while moving")
	}
	if m.Prepare() {
		t.Error("Prepare changed the draw list before the camera rested")
	}
	clock = clock.Add(motionSettle)
	if !m.Prepare() || m.Coarse() {
		t.Fatal("no full detail after the camera rested")
	}
	full.Prepare()
	same("rested", m, full)

	allocs := testing.AllocsPerRun(5, func() {
		m.Orbit(10, 10, 7, 1)
		m.Prepare() // coarse
		clock = clock.Add(2 * motionSettle)
		m.Prepare() // full
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per camera change and rest, want 0", allocs)
	}
	m.SetMotionLOD(false)
	m.Orbit(0, 0, 5, 5)
	if m.Prepare(); m.Coarse() {
		t.Error("coarse with the level of detail off")
	}
}
