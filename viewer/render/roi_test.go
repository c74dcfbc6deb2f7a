package render

import (
	"math"
	"slices"
	"testing"

	"cortexcast/meshes"
)

// stripMesh is a 2×3 grid of squares on z = 0, two triangles each:
//
//	8 - 9 -10 -11
//	| / | / | / |
//	4 - 5 - 6 - 7
//	| / | / | / |
//	0 - 1 - 2 - 3
func stripMesh() (pos []float32, tris []uint32) {
	for y := range 3 {
		for x := range 4 {
			pos = append(pos, float32(x), float32(y), 0)
		}
	}
	for y := range 2 {
		for x := range 3 {
			a := uint32(4*y + x)
			tris = append(tris, a, a+1, a+5, a, a+5, a+4)
		}
	}
	return pos, tris
}

func segPoint(pos []float32, p EdgePoint) [2]float32 {
	var x, y float32
	for k := range p.N {
		x += pos[3*p.V[k]]
		y += pos[3*p.V[k]+1]
	}
	return [2]float32{x / float32(p.N), y / float32(p.N)}
}

func TestBoundarySegments(t *testing.T) {
	pos, tris := stripMesh()
	tests := []struct {
		name   string
		labels []uint16
		// want: the segments' end points as sorted pairs of (x, y).
		want [][2][2]float32
	}{
		{"one label", []uint16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, nil},
		{
			// Columns x ≤ 1 are region 1, x ≥ 2 unlabelled: the outline is
			// the vertical line x = 1.5 cut into triangle pieces.
			"vertical split", []uint16{1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0},
			[][2][2]float32{
				{{1.5, 0}, {1.5, 0.5}}, {{1.5, 0.5}, {1.5, 1}},
				{{1.5, 1}, {1.5, 1.5}}, {{1.5, 1.5}, {1.5, 2}},
			},
		},
		{
			// A single vertex (5) labelled: a closed loop around it through
			// the midpoints of its 6 edges.
			"one vertex", []uint16{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0},
			[][2][2]float32{
				// Its neighbours: 0, 1, 6, 10, 9, 4 (the diagonals run
				// from lower left to upper right).
				{{0.5, 0.5}, {1, 0.5}}, {{1, 0.5}, {1.5, 1}}, {{1.5, 1}, {1.5, 1.5}},
				{{1, 1.5}, {1.5, 1.5}}, {{0.5, 1}, {1, 1.5}}, {{0.5, 0.5}, {0.5, 1}},
			},
		},
	}
	for _, tc := range tests {
		segs := BoundarySegments(tris, tc.labels)
		var got [][2][2]float32
		for _, s := range segs {
			a, b := segPoint(pos, s.A), segPoint(pos, s.B)
			if b[0] < a[0] || (b[0] == a[0] && b[1] < a[1]) {
				a, b = b, a
			}
			got = append(got, [2][2]float32{a, b})
			// The segment lies in its triangle's bounding box.
			i := tris[3*s.Tri : 3*s.Tri+3]
			for _, p := range [][2]float32{a, b} {
				lo, hi := [2]float32{9, 9}, [2]float32{-9, -9}
				for _, v := range i {
					for k := range 2 {
						lo[k] = min(lo[k], pos[3*v+uint32(k)])
						hi[k] = max(hi[k], pos[3*v+uint32(k)])
					}
				}
				if p[0] < lo[0] || p[0] > hi[0] || p[1] < lo[1] || p[1] > hi[1] {
					t.Errorf("%s: point %v outside its triangle %d", tc.name, p, s.Tri)
				}
			}
		}
		less := func(a, b [2][2]float32) int {
			for k := range 2 {
				for j := range 2 {
					if a[k][j] != b[k][j] {
						if a[k][j] < b[k][j] {
							return -1
						}
						return 1
					}
				}
			}
			return 0
		}
		slices.SortFunc(got, less)
		slices.SortFunc(tc.want, less)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: segments\n%v\nwant\n%v", tc.name, got, tc.want)
		}
	}
}

func TestBoundaryThreeLabels(t *testing.T) {
	// One triangle with three labels: three segments from the edge
	// midpoints to the centroid.
	segs := BoundarySegments([]uint32{0, 1, 2}, []uint16{1, 2, 3})
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	for _, s := range segs {
		if s.A.N != 2 || s.B.N != 3 {
			t.Errorf("segment %+v: want edge midpoint to centroid", s)
		}
	}
}

// stripBundle is the strip mesh as both hemispheres, with a flat map equal
// to the mesh and two ROI classes.
func stripBundle() *meshes.Bundle {
	var b meshes.Bundle
	for h := range 2 {
		pos, tris := stripMesh()
		// Lift the middle row so that the inflated surface is not flat.
		inflated := slices.Clone(pos)
		for i := 4; i < 8; i++ {
			inflated[3*i+2] = 1
		}
		b.Hemis[h] = meshes.HemiMesh{
			NumVertices: 12, Inflated: inflated, Triangles: tris, Sulc: make([]float32, 12),
			Flat: pos, FlatTriangles: tris[:18],
			Labels: []meshes.LabelMap{
				{Class: "prf-visualrois", Names: []string{"Unknown", "V1v"}, Values: []uint16{1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0}},
				{Class: "streams", Values: []uint16{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0}},
			},
		}
	}
	return &b
}

func TestModelROIsAndPick(t *testing.T) {
	m := NewModel(stripBundle())
	if got := m.ROIClasses(); !slices.Equal(got, []string{"prf-visualrois", "streams"}) {
		t.Fatalf("classes %v", got)
	}
	if err := m.SetView("dorsal"); err != nil {
		t.Fatal(err)
	}
	m.Prepare()
	if _, _, chunks, labels := m.Outlines(); len(labels) != 0 || chunkVerts(chunks) != 0 {
		t.Errorf("outlines drawn while hidden: %d labels", len(labels))
	}
	if !m.SetROIVisible("prf-visualrois", true) || m.SetROIVisible("nope", true) {
		t.Fatal("SetROIVisible")
	}
	if !m.Prepare() {
		t.Fatal("showing a class did not change the frame")
	}
	_, _, chunks, labels := m.Outlines()
	// The dorsal view sees the whole strip: 4 segments per hemisphere, 4
	// vertices each.
	if n := chunkVerts(chunks); n != 2*4*4 {
		t.Errorf("%d outline vertices, want 32", n)
	}
	if len(labels) != 2 || labels[0].Text != "V1v" {
		t.Errorf("labels %+v, want V1v on each hemisphere", labels)
	}
	// Pick the screen position of vertex 5 of the right hemisphere.
	x, y, vis := m.VertexScreen(1, 5)
	if !vis {
		t.Fatal("vertex 5 not visible from above")
	}
	h, v, ok := m.Pick(x+0.5, y-0.5, 10)
	if !ok || h != 1 || v != 5 {
		t.Errorf("pick near rh vertex 5: %d %d %v", h, v, ok)
	}
	if _, _, ok := m.Pick(-1000, -1000, 10); ok {
		t.Error("picked a vertex far off screen")
	}
	vals := make([]float32, 12)
	vals[5] = 0.25
	if err := m.SetOverlay(1, vals); err != nil {
		t.Fatal(err)
	}
	info := m.Info(1, 5)
	if info.Value != 0.25 || !slices.Equal(info.ROIs, []string{"prf-visualrois: V1v", "streams: #2"}) {
		t.Errorf("info %+v", info)
	}
	if info := m.Info(0, 3); !math.IsNaN(float64(info.Value)) || len(info.ROIs) != 0 {
		t.Errorf("info without overlay or ROI: %+v", info)
	}
}

func chunkVerts(chunks []Chunk) int {
	n := 0
	for _, c := range chunks {
		n += c.V1 - c.V0
	}
	return n
}

func TestModelSurfaces(t *testing.T) {
	m := NewModel(stripBundle())
	// The strip is open: from above, the inflated (lifted) strip faces the
	// camera with one winding only.
	if err := m.SetSurface(meshes.SurfFlat); err != nil {
		t.Fatal(err)
	}
	if m.Surface() != meshes.SurfFlat {
		t.Fatalf("surface %d, want flat", m.Surface())
	}
	if c := m.Camera(); c.Elevation != 90 {
		t.Errorf("flat map camera %+v, want from above", c)
	}
	m.Prepare()
	// The flat triangles are drawn whatever their winding: 6 per hemisphere.
	if m.Drawn() != 12 {
		t.Errorf("flat: %d triangles drawn, want 12", m.Drawn())
	}
	// Looking from below, a flat map still shows.
	if err := m.SetView("ventral"); err != nil {
		t.Fatal(err)
	}
	if m.Prepare(); m.Drawn() != 12 {
		t.Errorf("flat from below: %d triangles drawn, want 12", m.Drawn())
	}
	// The bundle has no pial surface: the inflated one is drawn.
	if err := m.SetSurface(meshes.SurfPial); err != nil {
		t.Fatal(err)
	}
	if m.Surface() != meshes.SurfInflated {
		t.Errorf("missing pial: surface %d, want inflated", m.Surface())
	}
	if c, _ := PresetCamera("default"); m.Camera() != c {
		t.Errorf("leaving the flat map: camera %+v, want the default view %+v", m.Camera(), c)
	}
	if err := m.SetSurface(99); err == nil {
		t.Error("surface 99 accepted")
	}
}

func TestThresholdOpacity(t *testing.T) {
	m := NewModel(octaBundle())
	m.SetRange(-1, 1)
	vals := []float32{1, -1, 0.1, -0.1, 0.5, float32(math.NaN())}
	if err := m.SetOverlay(0, vals); err != nil {
		t.Fatal(err)
	}
	m.SetThreshold(0.2)
	m.SetOpacity(0.5)
	m.Prepare()
	base, gray, inv := m.sc.base[0], m.sc.surf[0].gray, m.sc.surf[0].inv
	cm := m.Colormap()
	for orig, v := range vals {
		i := inv[orig] // the scene's numbering
		r, g, b := base[3*i], base[3*i+1], base[3*i+2]
		want := [3]float32{gray[i], gray[i], gray[i]}
		if !math.IsNaN(float64(v)) && math.Abs(float64(v)) >= 0.2 {
			cr, cg, cb := cm.AtF((v + 1) / 2)
			want = [3]float32{(gray[i] + cr) / 2, (gray[i] + cg) / 2, (gray[i] + cb) / 2}
		}
		if d := math.Abs(float64(r-want[0])) + math.Abs(float64(g-want[1])) + math.Abs(float64(b-want[2])); d > 1e-6 {
			t.Errorf("vertex %d value %g: color %v %v %v, want %v", orig, v, r, g, b, want)
		}
	}
	// One-sided automatic range: [min, max] of the finite values.
	m.SetRange(0, 0)
	m.SetSymmetric(false)
	if lo, hi := m.Range(); lo != -1 || hi != 1 {
		t.Errorf("one-sided range %g..%g, want -1..1", lo, hi)
	}
	if err := m.SetOverlay(0, []float32{0.2, 0.5, 0.3, 0.4, 0.25, 0.3}); err != nil {
		t.Fatal(err)
	}
	if lo, hi := m.Range(); lo != 0.2 || hi != 0.5 {
		t.Errorf("one-sided range %g..%g, want 0.2..0.5", lo, hi)
	}
	m.SetSymmetric(true)
	if lo, hi := m.Range(); lo != -0.5 || hi != 0.5 {
		t.Errorf("symmetric range %g..%g, want -0.5..0.5", lo, hi)
	}
}

// TestNothingVisibleBeforePrepare checks that a new model reports no
// visible vertex and picks none before its first Prepare.
func TestNothingVisibleBeforePrepare(t *testing.T) {
	m := NewModel(stripBundle())
	if err := m.SetView("dorsal"); err != nil { // the strip faces up
		t.Fatal(err)
	}
	m.SetLayoutMode(LayoutScene) // Pick looks at the whole screen
	if _, _, vis := m.VertexScreen(1, 5); vis {
		t.Error("vertex visible before Prepare")
	}
	if _, _, ok := m.Pick(400, 300, 1e6); ok {
		t.Error("picked a vertex before Prepare")
	}
	m.Prepare()
	if _, _, ok := m.Pick(400, 300, 1e6); !ok {
		t.Error("no vertex to pick after Prepare")
	}
}
