package render

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cortexcast/meshes"
)

func TestDepthKeyOrder(t *testing.T) {
	// Depth sums within ±3r, from the farthest to the nearest, and beyond.
	const r = 10
	cases := []struct {
		d    float32
		want uint16
	}{
		{1e9, 0}, {30, 0}, {29.9991, 0}, {29.9986, 1}, {0, 32767}, {-29.9986, 65533}, {-30, 65535}, {-1e9, 65535},
	}
	for _, c := range cases {
		if got := depthKey(c.d, r); got != c.want {
			t.Errorf("depthKey(%v, %v) = %d, want %d", c.d, r, got, c.want)
		}
	}
	if got := depthKey(5, 0); got != 0 {
		t.Errorf("depthKey with radius 0 = %d", got)
	}
}

func TestSortByKeyMatchesStableSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 17, 1000, 40000} {
		keys := make([]uint16, n)
		refs := make([]uint32, n)
		for i := range keys {
			// Few distinct keys, spread over both bytes, so that stability
			// and the full key width matter.
			keys[i] = uint16(r.Uint32()%64)<<8 | uint16(r.Uint32()%5)<<14 | uint16(r.Uint32()%7)
			refs[i] = uint32(i)
		}
		want := slices.Clone(refs)
		orig := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint32) int { return int(orig[a]) - int(orig[b]) })
		sortByKey(keys, refs, make([]uint32, n))
		if !slices.Equal(refs, want) {
			t.Fatalf("n=%d: radix sort order differs from a stable sort", n)
		}
		if !slices.IsSorted(keys) {
			t.Fatalf("n=%d: keys not sorted along", n)
		}
	}
}

func TestBackToFront(t *testing.T) {
	// Screen coordinates (y down). Triangle 0 is near (depth −5), triangle 1
	// far (depth +5); both wind clockwise on screen (face the camera).
	// Triangle 2 winds counter-clockwise (a back face) and is culled.
	// Triangle 3 is degenerate (zero area) and is culled.
	sx := []float32{0, 10, 0, 1, 11, 1, 5, 5, 5}
	sy := []float32{0, 0, 10, 1, 1, 11, 5, 6, 7}
	depth := []float32{-5, -5, -5, 5, 5, 5, 0, 0, 0}
	tris := []uint32{
		0, 2, 1, // near: (0,0) → (0,10) → (10,0): clockwise on a y-down screen
		3, 5, 4, // far
		0, 1, 2, // back face
		6, 7, 8, // collinear
	}
	// Check the fixture's windings independently of triKey.
	for k, want := range []float32{-100, -100, 100, 0} {
		i0, i1, i2 := tris[3*k], tris[3*k+1], tris[3*k+2]
		a2 := (sx[i1]-sx[i0])*(sy[i2]-sy[i0]) - (sy[i1]-sy[i0])*(sx[i2]-sx[i0])
		if a2 != want {
			t.Fatalf("fixture triangle %d has doubled signed area %v, want %v", k, a2, want)
		}
	}
	got := BackToFront(sx, sy, depth, tris)
	if !slices.Equal(got, []uint32{1, 0}) {
		t.Fatalf("order %v, want [1 0] (far first, back face and degenerate culled)", got)
	}
	// Swapping the depths swaps the order.
	depth = []float32{5, 5, 5, -5, -5, -5, 0, 0, 0}
	if got := BackToFront(sx, sy, depth, tris); !slices.Equal(got, []uint32{0, 1}) {
		t.Fatalf("order %v, want [0 1]", got)
	}
}

// octaBundle is an octahedron per hemisphere, lh centered at x = −2 and rh
// at x = +2.
func octaBundle() *meshes.Bundle {
	var b meshes.Bundle
	b.Name = "octa"
	for h, dx := range []float32{-2, 2} {
		pos, tris := octahedron()
		for i := 0; i < len(pos); i += 3 {
			pos[i] += dx
		}
		b.Hemis[h] = meshes.HemiMesh{NumVertices: 6, Inflated: pos, Triangles: tris, Sulc: []float32{-1, 1, 0, 0, 0.5, -0.5}}
	}
	return &b
}

func TestViewerOctahedron(t *testing.T) {
	v := NewModel(octaBundle())
	if !v.Ready() {
		t.Fatal("not ready with a bundle")
	}
	if NewModel(nil).Ready() {
		t.Fatal("ready without a bundle")
	}
	// Looking along an axis at an octahedron, exactly the 4 faces on the
	// camera's side face it (the 4 side-on faces have zero screen area).
	for _, view := range []string{"lateral", "medial", "dorsal", "ventral", "anterior", "posterior"} {
		for _, mode := range []LayoutMode{LayoutPanels, LayoutScene} {
			if err := v.SetView(view); err != nil {
				t.Fatal(err)
			}
			v.SetLayoutMode(mode)
			if v.Prepare(); v.Drawn() != 8 {
				n := v.Drawn()
				t.Errorf("%s mode %d: %d triangles drawn, want 4 per hemisphere", view, mode, n)
			}
		}
	}
	v.SetLayoutMode(LayoutPanels)
	v.Reset()
	if v.Prepare(); v.Drawn() < 8 || v.Drawn() > 14 {
		n := v.Drawn()
		t.Errorf("default view: %d triangles drawn, want between 8 and 14 of 16", n)
	}
	if err := v.SetView("upside-down"); err == nil {
		t.Error("unknown view accepted")
	}
}

func TestOverlayColorsAndRange(t *testing.T) {
	v := NewModel(octaBundle())
	if err := v.SetOverlay(0, []float32{1, 2}); err == nil || !strings.Contains(err.Error(), "2 values") {
		t.Fatalf("wrong length: %v", err)
	}
	if err := v.SetOverlay(2, make([]float32, 6)); err == nil {
		t.Fatal("hemisphere 2 accepted")
	}
	if err := NewModel(nil).SetOverlay(0, nil); err == nil {
		t.Fatal("overlay without a mesh accepted")
	}
	nan := float32(math.NaN())
	lh := []float32{-2, 0, 1, nan, 0.5, 4}
	if err := v.SetOverlay(meshes.LH, lh); err != nil {
		t.Fatal(err)
	}
	lh[0] = 100 // the viewer keeps its own copy
	if !v.HasOverlay() {
		t.Fatal("hasOverlay false after SetOverlay")
	}
	if lo, hi := v.Range(); lo != -4 || hi != 4 {
		t.Fatalf("automatic range [%v, %v], want symmetric [-4, 4]", lo, hi)
	}
	v.Prepare()
	sc := v.sc
	cm, _ := ColormapByName("RdBu_r")
	check := func(h, orig int, want [3]float32) {
		t.Helper()
		i := int(sc.surf[h].inv[orig]) // the scene's numbering
		got := [3]float32{sc.base[h][3*i], sc.base[h][3*i+1], sc.base[h][3*i+2]}
		for k := range 3 {
			if !near(got[k], want[k], 1e-6) {
				t.Errorf("hemi %d vertex %d base color %v, want %v", h, i, got, want)
				return
			}
			r := &sc.rec[h][i]
			s := sc.surf[h]
			shade := Lambert(Vec3{s.normals[3*i], s.normals[3*i+1], s.normals[3*i+2]}, lightDir(&sc.basis[h]))
			// Shaded colors are kept with 8 bits per channel.
			if c := float32(r.rgb>>(8*k)&0xff) / 255; !near(c, want[k]*shade, 0.5/255+1e-5) {
				t.Errorf("hemi %d vertex %d shaded color %v, want base × shade %v", h, i, c, want[k]*shade)
			}
		}
	}
	rgb := func(t float32) [3]float32 { r, g, b := cm.AtF(t); return [3]float32{r, g, b} }
	gray := func(h, orig int) [3]float32 { g := sc.surf[h].gray[sc.surf[h].inv[orig]]; return [3]float32{g, g, g} }
	check(0, 0, rgb(0.25)) // −2 in [−4, 4]
	check(0, 1, rgb(0.5))
	check(0, 5, rgb(1))
	check(0, 3, gray(0, 3)) // NaN: underlay
	check(1, 0, gray(1, 0)) // no overlay on rh

	// A color change after a camera change shades with the new light.
	v.Orbit(0, 0, 40, 25)
	v.Prepare()
	v.SetRange(0, 2)
	if lo, hi := v.Range(); lo != 0 || hi != 2 {
		t.Fatalf("range [%v, %v], want [0, 2]", lo, hi)
	}
	v.Prepare()
	check(0, 2, rgb(0.5))
	check(0, 5, rgb(1)) // clamped
	v.SetRange(3, 3)    // invalid: back to automatic
	if lo, hi := v.Range(); lo != -4 || hi != 4 {
		t.Fatalf("range [%v, %v] after an invalid SetRange, want automatic [-4, 4]", lo, hi)
	}
	vir, _ := ColormapByName("viridis")
	v.SetColormap(vir)
	if lo, hi := v.Range(); lo != -2 || hi != 4 {
		t.Fatalf("viridis automatic range [%v, %v], want [min, max] = [-2, 4]", lo, hi)
	}
	v.ClearOverlay()
	if v.HasOverlay() {
		t.Fatal("HasOverlay true after ClearOverlay")
	}
	v.Prepare()
	check(0, 0, gray(0, 0))
}

// fsaverage5 loads the real bundle or skips.
func fsaverage5(t testing.TB) *meshes.Bundle {
	t.Helper()
	dir := filepath.Dir(fsaverage5Dir(t))
	b, err := meshes.BuildBundle(dir, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fsaverage5Dir returns ../shared/data/fsaverage5 beside the checkout or
// skips.
func fsaverage5Dir(t testing.TB) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			t.Skip("no go.mod above the test directory; cannot locate ../shared/data")
		}
		root = filepath.Dir(root)
	}
	dir := filepath.Join(root, "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "fsaverage5")); err != nil {
		t.Skipf("real meshes absent: %s/fsaverage5 not found", dir)
	}
	return filepath.Join(dir, "fsaverage5")
}

func TestFsaverage5Views(t *testing.T) {
	b := fsaverage5(t)
	v := NewModel(b)
	total := 2 * 20480
	for _, view := range ViewNames() {
		if err := v.SetView(view); err != nil {
			t.Fatal(err)
		}
		v.Prepare()
		n := v.Drawn()
		// Roughly half of a closed surface faces the camera.
		if frac := float64(n) / float64(total); frac < 0.33 || frac > 0.67 {
			t.Errorf("%s: %d of %d triangles drawn (%.2f), want about half", view, n, total, frac)
		}
		checkPainters(t, v, view)
	}
	v.SetLayoutMode(LayoutScene)
	for _, zoom := range []float32{1, 3} {
		v.Zoom(zoom)
		v.Prepare()
		checkPainters(t, v, "scene default")
	}
	// The other surfaces: folded (pial, white), convex (sphere) and the
	// two-sided flat map, each with its own normals and cluster bounds.
	v.SetLayoutMode(LayoutPanels)
	v.Reset()
	for _, kind := range []int{meshes.SurfPial, meshes.SurfWhite, meshes.SurfSphere, meshes.SurfFlat} {
		if err := v.SetSurface(kind); err != nil {
			t.Fatal(err)
		}
		if v.Surface() != kind {
			t.Fatalf("the fsaverage5 bundle lacks surface %s", meshes.SurfaceName(kind))
		}
		v.Orbit(10, 10, 40, 25) // off the presets
		v.Prepare()
		checkPainters(t, v, meshes.SurfaceName(kind))
	}
}

// checkPainters checks the model's draw order after Prepare against an
// independent computation: screen positions and depths from Basis.Project,
// the triangles drawn are exactly those that face the camera (clockwise on
// a y-down screen) and meet their panel, and within each segment the
// centroid depths never increase by more than one step of the 16-bit key.
func checkPainters(t *testing.T, m *Model, label string) {
	t.Helper()
	sc := m.sc
	r := sc.panelRadius
	if m.mode == LayoutScene {
		r = sc.sceneRadius
	}
	step := 6 * r / 65535
	var sx, sy, dp [2][]float32
	for h, s := range sc.surf {
		sx[h], sy[h], dp[h] = make([]float32, s.n), make([]float32, s.n), make([]float32, s.n)
		for i := range s.n {
			sx[h][i], sy[h][i], dp[h][i] = sc.basis[h].Project(&sc.vp[h], s.vertex(uint32(i)))
			// Vertices of no drawn triangle may be skipped (stale).
			if rc := sc.rec[h][i]; sc.visible(h, i) && (!near(rc.x, sx[h][i], 1e-3) || !near(rc.y, sy[h][i], 1e-3) || !near(rc.depth, dp[h][i], 1e-3)) {
				t.Fatalf("%s: hemi %d vertex %d at (%v, %v, %v), Basis.Project says (%v, %v, %v)", label, h, i, rc.x, rc.y, rc.depth, sx[h][i], sy[h][i], dp[h][i])
			}
		}
	}
	drawn := [2]map[uint32]bool{{}, {}}
	which := triangleIndex(sc)
	for h, seg := range [2][2]int{{0, sc.segEnd[0]}, {sc.segEnd[0], sc.segEnd[1]}} {
		prev := float32(math.Inf(1))
		for k, dt := range sc.order[seg[0]:seg[1]] {
			ref, ok := which[dt]
			if !ok {
				t.Fatalf("%s: segment %d item %d (%#x) is no triangle of either mesh", label, h, k, dt)
			}
			hh, tri := ref[0], uint32(ref[1])
			if m.mode == LayoutPanels && int(hh) != h {
				t.Fatalf("%s: hemi %d triangle in panel %d", label, hh, h)
			}
			if drawn[hh][tri] {
				t.Fatalf("%s: hemi %d triangle %d drawn twice", label, hh, tri)
			}
			drawn[hh][tri] = true
			tr := sc.surf[hh].tris[3*tri : 3*tri+3]
			d := dp[hh][tr[0]] + dp[hh][tr[1]] + dp[hh][tr[2]]
			if d > prev+step+1e-3 {
				t.Fatalf("%s: segment %d item %d (depth sum %v) is farther than the one before (%v)", label, h, k, d, prev)
			}
			prev = d
		}
	}
	for h, s := range sc.surf {
		c := sc.clip[h]
		for tri := range s.numTriangles() {
			i0, i1, i2 := s.tris[3*tri], s.tris[3*tri+1], s.tris[3*tri+2]
			a2 := (sx[h][i1]-sx[h][i0])*(sy[h][i2]-sy[h][i0]) - (sy[h][i1]-sy[h][i0])*(sx[h][i2]-sx[h][i0])
			if math.Abs(float64(a2)) < 1e-3 {
				continue // too thin to call either way
			}
			facing := a2 < 0 || (s.twoSided && a2 > 0)
			onScreen := max(sx[h][i0], sx[h][i1], sx[h][i2]) >= c.X && min(sx[h][i0], sx[h][i1], sx[h][i2]) <= c.X+c.W &&
				max(sy[h][i0], sy[h][i1], sy[h][i2]) >= c.Y && min(sy[h][i0], sy[h][i1], sy[h][i2]) <= c.Y+c.H
			if want := facing && onScreen; drawn[h][uint32(tri)] != want {
				t.Fatalf("%s: hemi %d triangle %d drawn %v, want %v (area %v, on screen %v)", label, h, tri, drawn[h][uint32(tri)], want, a2, onScreen)
			}
		}
	}
}

// TestFrameAllocations checks that a camera change (projection, culling,
// sorting, vertex fill) allocates nothing.
func TestFrameAllocations(t *testing.T) {
	b := fsaverage5(t)
	v := NewModel(b)
	v.SetOverlay(meshes.LH, b.Hemis[0].Sulc)
	v.Prepare()
	allocs := testing.AllocsPerRun(5, func() {
		v.Orbit(10, 10, 7, 1)
		v.SetRange(-1, float32(1+v.cam.Azimuth/360)) // recolor too
		v.Prepare()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per camera change, want 0", allocs)
	}
}

// rasterize paints the viewer's sorted triangles into an RGBA image with
// Gouraud shading, as DrawTriangles would (without a depth buffer).
func rasterize(v *Model) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, v.screenW, v.screenH))
	for i := range img.Pix {
		img.Pix[i] = 0
	}
	verts, idx, chunks := v.DrawList()
	for _, ch := range chunks {
		for k := ch.I0; k < ch.I1; k += 3 {
			vs := [3]Vertex{verts[ch.V0+int(idx[k])], verts[ch.V0+int(idx[k+1])], verts[ch.V0+int(idx[k+2])]}
			paint(img, vs)
		}
	}
	return img
}

// paint fills one triangle with Gouraud shading.
func paint(img *image.RGBA, vs [3]Vertex) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	{
		x0, x1 := min(vs[0].DstX, vs[1].DstX, vs[2].DstX), max(vs[0].DstX, vs[1].DstX, vs[2].DstX)
		y0, y1 := min(vs[0].DstY, vs[1].DstY, vs[2].DstY), max(vs[0].DstY, vs[1].DstY, vs[2].DstY)
		area := (vs[1].DstX-vs[0].DstX)*(vs[2].DstY-vs[0].DstY) - (vs[1].DstY-vs[0].DstY)*(vs[2].DstX-vs[0].DstX)
		for y := max(0, int(y0)); y <= min(h-1, int(y1)); y++ {
			for x := max(0, int(x0)); x <= min(w-1, int(x1)); x++ {
				px, py := float32(x)+0.5, float32(y)+0.5
				w0 := ((vs[1].DstX-px)*(vs[2].DstY-py) - (vs[1].DstY-py)*(vs[2].DstX-px)) / area
				w1 := ((vs[2].DstX-px)*(vs[0].DstY-py) - (vs[2].DstY-py)*(vs[0].DstX-px)) / area
				w2 := 1 - w0 - w1
				if w0 < 0 || w1 < 0 || w2 < 0 {
					continue
				}
				c := func(a, b, c float32) uint8 { return uint8(min(255, 255*(w0*a+w1*b+w2*c))) }
				img.SetRGBA(x, y, color.RGBA{
					c(vs[0].ColorR, vs[1].ColorR, vs[2].ColorR),
					c(vs[0].ColorG, vs[1].ColorG, vs[2].ColorG),
					c(vs[0].ColorB, vs[1].ColorB, vs[2].ColorB), 255})
			}
		}
	}
}

// TestFsaverage5Picture rasterizes the posterior view in both layouts and
// checks where the hemispheres land: lh left of the middle, rh right of it,
// a background gap between them, and both filling a good part of their
// half. With CORTEXCAST_VIEWER_PNG=dir it also writes the pictures there.
func TestFsaverage5Picture(t *testing.T) {
	b := fsaverage5(t)
	v := NewModel(b)
	v.SetScreen(480, 300, 1)
	overlay := make([]float32, b.Hemis[1].NumVertices)
	for i := range overlay {
		// Occipital (posterior, y < −60) positive, the rest NaN.
		if y := b.Hemis[1].Inflated[3*i+1]; y < -60 {
			overlay[i] = -60 - y
		} else {
			overlay[i] = float32(math.NaN())
		}
	}
	if err := v.SetOverlay(meshes.RH, overlay); err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("CORTEXCAST_VIEWER_PNG")
	for _, c := range []struct {
		name string
		mode LayoutMode
		view string
	}{
		{"panels-posterior", LayoutPanels, "posterior"},
		{"scene-posterior", LayoutScene, "posterior"},
		{"panels-default", LayoutPanels, "default"},
		{"panels-lateral", LayoutPanels, "lateral"},
		{"panels-ventral", LayoutPanels, "ventral"},
	} {
		v.SetLayoutMode(c.mode)
		v.SetView(c.view)
		v.Prepare()
		img := rasterize(v)
		if out != "" {
			f, err := os.Create(filepath.Join(out, c.name+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, img)
			f.Close()
		}
		if c.view != "posterior" {
			continue
		}
		// Column coverage: painted pixels per column.
		cols := make([]int, v.screenW)
		for y := range v.screenH {
			for x := range v.screenW {
				if img.RGBAAt(x, y).A != 0 {
					cols[x]++
				}
			}
		}
		sum := func(a, b int) (s int) {
			for _, n := range cols[a:b] {
				s += n
			}
			return s
		}
		w := v.screenW
		left, right, mid := sum(0, w/2-8), sum(w/2+8, w), sum(w/2-2, w/2+2)
		half := (w/2 - 8) * v.screenH
		if float64(left) < 0.08*float64(half) || float64(right) < 0.08*float64(half) {
			t.Errorf("%s: hemispheres cover %d and %d of %d pixels per half", c.name, left, right, half)
		}
		if mid != 0 {
			t.Errorf("%s: %d pixels painted in the middle gap", c.name, mid)
		}
		// The red overlay (rh occipital, facing this posterior camera) lands
		// in the right half only.
		var redL, redR int
		for y := range v.screenH {
			for x := range w {
				p := img.RGBAAt(x, y)
				if int(p.R) > int(p.B)+60 {
					if x < w/2 {
						redL++
					} else {
						redR++
					}
				}
			}
		}
		if redL != 0 || redR < 500 {
			t.Errorf("%s: overlay pixels left %d right %d, want 0 and many", c.name, redL, redR)
		}
	}
}

// BenchmarkCameraChange measures what a camera change costs per frame
// (projection, shading, culling, sorting and the vertex fill).
func BenchmarkCameraChange(b *testing.B) {
	for _, name := range []string{"fsaverage5", "fsaverage"} {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Dir(fsaverage5Dir(b))
			bundle, err := meshes.BuildBundle(dir, name)
			if err != nil {
				b.Skip(err)
			}
			m := NewModel(bundle)
			m.Prepare()
			b.ResetTimer()
			for range b.N {
				m.Orbit(0, 0, 3, 1)
				m.Prepare()
			}
		})
	}
}

// TestDrawList checks the chunked draw list against the sorted triangle
// order, with the real chunk limit and with a tiny one that forces many
// chunks.
func TestDrawList(t *testing.T) {
	b := fsaverage5(t)
	for _, limit := range []int{MaxChunkVertices, 999} {
		for _, mode := range []LayoutMode{LayoutPanels, LayoutScene} {
			m := NewModel(b)
			m.sc.maxChunk = limit
			m.SetLayoutMode(mode)
			m.Prepare()
			verts, idx, chunks := m.DrawList()
			sc := m.sc
			which := triangleIndex(sc)
			if limit == 999 && len(chunks) < 10 {
				t.Errorf("limit %d: only %d chunks", limit, len(chunks))
			}
			k := 0 // triangle in drawing order
			prevV, prevI, prevPanel := 0, 0, 0
			for ci, ch := range chunks {
				if ch.V0 != prevV || ch.I0 != prevI || ch.Panel < prevPanel {
					t.Fatalf("chunk %d %+v does not follow (%d, %d, panel %d)", ci, ch, prevV, prevI, prevPanel)
				}
				if n := ch.V1 - ch.V0; n > limit || n <= 0 || (ch.I1-ch.I0)%3 != 0 {
					t.Fatalf("chunk %d %+v: %d vertices (limit %d), %d indices", ci, ch, n, limit, ch.I1-ch.I0)
				}
				wantPanel := 0
				if mode == LayoutPanels && k >= sc.segEnd[0] {
					wantPanel = 1
				}
				if ch.Panel != wantPanel {
					t.Fatalf("chunk %d starting at triangle %d has panel %d, want %d", ci, k, ch.Panel, wantPanel)
				}
				for i := ch.I0; i < ch.I1; i += 3 {
					ref := which[sc.order[k]]
					h, tri := ref[0], ref[1]
					for c := range 3 {
						j := int(idx[i+c])
						if j >= ch.V1-ch.V0 {
							t.Fatalf("chunk %d index %d out of its %d vertices", ci, j, ch.V1-ch.V0)
						}
						vx := verts[ch.V0+j]
						vi := sc.surf[h].tris[3*tri+c]
						rc := sc.rec[h][vi]
						if vx.DstX != rc.x || vx.DstY != rc.y || !near(vx.ColorR, float32(rc.rgb&0xff)/255, 1e-7) || !near(vx.ColorG, float32(rc.rgb>>8&0xff)/255, 1e-7) || !near(vx.ColorB, float32(rc.rgb>>16&0xff)/255, 1e-7) || vx.ColorA != 1 {
							t.Fatalf("triangle %d corner %d: vertex %+v, want hemi %d vertex %d %+v", k, c, vx, h, vi, rc)
						}
					}
					k++
				}
				prevV, prevI, prevPanel = ch.V1, ch.I1, ch.Panel
			}
			if k != m.Drawn() {
				t.Fatalf("draw list has %d triangles, Drawn() = %d", k, m.Drawn())
			}
			// Shared vertices: far fewer than 3 per triangle.
			if limit == MaxChunkVertices && prevV > 2*k {
				t.Errorf("%d vertices for %d triangles", prevV, k)
			}
		}
	}
}

// triangleIndex maps each triangle of the scene, as its vertex records
// packed in a drawTri, to its hemisphere and index.
func triangleIndex(sc *scene) map[drawTri][2]int {
	which := map[drawTri][2]int{}
	for h, s := range sc.surf {
		f := uint32(sc.first[h])
		for t := range s.numTriangles() {
			tr := s.tris[3*t : 3*t+3]
			which[packTri(f+tr[0], f+tr[1], f+tr[2])] = [2]int{h, t}
		}
	}
	return which
}
