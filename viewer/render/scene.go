// Package render is the drawing-library-free core of the brain viewer:
// orbit camera and orthographic projection, vertex normals and sulcal
// underlay, colormaps, back-face culling and back-to-front triangle order,
// and the Model that turns a mesh bundle, an overlay and a camera into
// ready-to-draw triangle vertices. Package viewer draws them with Ebiten;
// keeping this part free of Ebiten lets it be tested on machines without a
// display.
package render

import (
	"math"
	"slices"
)

// Vertex has the fields and layout of ebiten.Vertex (package viewer checks
// this at compile time by converting one to the other), so that the vertex
// buffer built here is handed to DrawTriangles without copying.
type Vertex struct {
	DstX, DstY                         float32
	SrcX, SrcY                         float32
	ColorR, ColorG, ColorB, ColorA     float32
	Custom0, Custom1, Custom2, Custom3 float32
}

// LayoutMode says how the two hemispheres share the screen.
type LayoutMode int

const (
	// LayoutPanels draws each hemisphere in its own half of the view (lh
	// left or top, rh right or bottom) with the right hemisphere's camera
	// mirrored through the mid-sagittal plane, so that every preset shows
	// the same anatomical side of both hemispheres.
	LayoutPanels LayoutMode = iota
	// LayoutScene draws both hemispheres in one 3-D scene, side by side
	// along x (lh on the left), seen by one camera.
	LayoutScene
)

// MaxChunkVertices is the most vertices one chunk (one DrawTriangles call
// with uint16 indices) holds.
const MaxChunkVertices = 1<<16 - 1

// Chunk is a run of the draw list for one DrawTriangles call:
// vertices [V0, V1) and indices [I0, I1) (relative to V0) of the triangles
// of Panel (0: lh, 1: rh; in LayoutScene every chunk has Panel 0 and is
// drawn on the whole area).
type Chunk struct {
	Panel  int
	V0, V1 int
	I0, I1 int
}

// sceneGap is the gap in mm between the hemispheres in LayoutScene.
const sceneGap = 6

// Lighting: a headlight from the viewer's upper left.
const (
	ambient   = 0.3
	lightUp   = 0.45
	lightLeft = 0.3
	fitMargin = 0.95
)

// Rect is a screen rectangle in pixels (y down).
type Rect struct{ X, Y, W, H float32 }

// Contains reports whether (x, y) lies in r.
func (r Rect) Contains(x, y float32) bool {
	return x >= r.X && y >= r.Y && x < r.X+r.W && y < r.Y+r.H
}

// vrec is the per-vertex state for the current camera: screen position,
// depth and shaded color. It is 16 bytes, so that the random reads of the
// per-frame passes touch a quarter of a cache line per vertex instead of
// one line per field array. Vertices of clusters that face away are not
// projected: their records are stale, and no drawn triangle uses them.
type vrec struct {
	x, y, depth float32 // screen pixels (y down); depth along the view, larger is farther
	rgb         uint32  // base color × shading, 8 bits per channel (R lowest), what the screen shows
}

// packRGB packs color components in [0, 1] into 8 bits each, rounded.
func packRGB(r, g, b float32) uint32 {
	return uint32(r*255+0.5) | uint32(g*255+0.5)<<8 | uint32(b*255+0.5)<<16
}

// drawTri is a triangle to draw: its vertices as indices into the scene's
// vertex records of both hemispheres, vertexBits each. The sort moves
// whole drawTris, 8 bytes, so that fill reads them in order instead of
// looking each triangle up.
type drawTri uint64

// vertexBits is the width of a vertex index in a drawTri.
const vertexBits = 21

// MaxSceneVertices is the most vertices both hemispheres of a bundle may
// have together (full fsaverage has 2 × 163842).
const MaxSceneVertices = 1 << vertexBits

// packFaceNormal packs a quantised face normal (3 int8) into the low 3
// bytes of a uint32, x lowest: one load per triangle in cullCluster.
func packFaceNormal(q []int8) uint32 {
	return uint32(uint8(q[0])) | uint32(uint8(q[1]))<<8 | uint32(uint8(q[2]))<<16
}

func packTri(a, b, c uint32) drawTri {
	return drawTri(a) | drawTri(b)<<vertexBits | drawTri(c)<<(2*vertexBits)
}

// packTris returns the drawTris of triangles (3 vertex indices each) with
// first added to every index.
func packTris(tris []uint32, first uint32) []drawTri {
	out := make([]drawTri, len(tris)/3)
	for t := range out {
		out[t] = packTri(first+tris[3*t], first+tris[3*t+1], first+tris[3*t+2])
	}
	return out
}

// vertex returns the record index of corner c (0..2).
func (d drawTri) vertex(c int) uint32 {
	return uint32(d>>(c*vertexBits)) & (1<<vertexBits - 1)
}

// scene holds both prepared hemispheres and the buffers rebuilt when the
// camera or the colors change. Nothing in it allocates after newScene
// once the draw list has reached its working size.
type scene struct {
	surf [2]*surface

	sceneCenter [2]Vec3 // LayoutScene: the point of each hemisphere drawn at the middle
	sceneRadius float32
	panelRadius float32

	vp    [2]Viewport
	basis [2]Basis
	clip  [2]Rect // panel of each hemisphere (LayoutPanels)

	recAll []vrec    // per vertex of both hemispheres
	rec    [2][]vrec // those of each hemisphere: recAll[first[h]:][:n]
	first  [2]int
	light  [2]Vec3      // per hemisphere: toward the light at the last projection, for recoloring
	base   [2][]float32 // 3 per vertex, RGB 0..1
	front  [2][]bool    // per triangle: drawn (faces the camera, on screen)
	// dtris holds each hemisphere's triangles as drawTris: what culling
	// reads and copies to the draw order, 8 bytes instead of 12 and no
	// packing per frame.
	dtris [2][]drawTri
	// fnw holds each hemisphere's quantised face normals packed per
	// triangle (packFaceNormal), all 0 on two-sided surfaces.
	fnw [2][]uint32

	// The triangles drawn: culled and keys in mesh order, order back to
	// front (order[0:segEnd[0]] and order[segEnd[0]:segEnd[1]], one
	// segment per panel, both in the first in LayoutScene); hist counts
	// the keys.
	keys          []uint16
	culled, order []drawTri
	hist          *[1 << 16]uint32
	segEnd        [2]int

	// The draw list: vertices shared within a chunk, uint16 indices.
	verts  []Vertex
	idx    []uint16
	chunks []Chunk
	// slot holds, per vertex record, gen << 16 | the vertex's index in
	// the chunk of generation gen (1..65535) that holds it: a 4-byte
	// array that stays in cache where the records would not. The chunks
	// of the current draw list have generations frameGen..gen, so a
	// vertex is in a drawn triangle when its slot's generation is at
	// least frameGen (see visible).
	slot     []uint32
	gen      uint32
	frameGen uint32

	// ROI outlines: per hemisphere, one entry per class (nil when the
	// hemisphere lacks it); the outline draw list and labels.
	roi     [2][]*roiClass
	lverts  []Vertex
	lidx    []uint16
	lchunks []Chunk
	labels  []Label
	lsum    []float32

	srcX, srcY float32 // white source pixel
	maxChunk   int     // MaxChunkVertices; smaller in tests
}

func newScene(s0, s1 *surface) *scene {
	// The source is the middle pixel (1,1)-(2,2) of a 3×3 white image.
	sc := &scene{surf: [2]*surface{s0, s1}, srcX: 1.5, srcY: 1.5, maxChunk: MaxChunkVertices}
	sc.frameGen = 1 // no vertex is visible before the first fill
	total := 0
	sc.recAll = make([]vrec, s0.n+s1.n)
	sc.first = [2]int{0, s0.n}
	for h, s := range sc.surf {
		sc.rec[h] = sc.recAll[sc.first[h] : sc.first[h]+s.n : sc.first[h]+s.n]
		sc.base[h] = make([]float32, 3*s.n)
		sc.front[h] = make([]bool, s.numTriangles())
		sc.dtris[h] = packTris(s.tris, uint32(sc.first[h]))
		sc.fnw[h] = make([]uint32, s.numTriangles())
		if !s.twoSided {
			for t := range sc.fnw[h] {
				sc.fnw[h][t] = packFaceNormal(s.fnq[4*t : 4*t+3])
			}
		}
		total += s.numTriangles()
		sc.panelRadius = max(sc.panelRadius, s.radiusAround(s.center()))
	}
	sc.keys = make([]uint16, total)
	sc.culled = make([]drawTri, total)
	sc.order = make([]drawTri, total)
	sc.hist = new([1 << 16]uint32)
	sc.slot = make([]uint32, s0.n+s1.n)
	// About half of a closed surface faces the camera, and the drawn
	// triangles share their vertices (about one vertex per two triangles
	// in a chunk): the vertices of both meshes plus a margin cover the
	// usual views; fill grows the buffer when a view needs more.
	sc.growVerts(s0.n + s1.n + s0.n/4 + s1.n/4 + 64)
	sc.idx = make([]uint16, 3*total)
	sc.chunks = make([]Chunk, 0, 2*(s0.n+s1.n)/(MaxChunkVertices-2)+4)

	// LayoutScene: shift lh so that its right edge is at −gap/2 and rh so
	// that its left edge is at +gap/2; center the pair in y and z.
	lo := Vec3{min(s0.lo[0], s1.lo[0]), min(s0.lo[1], s1.lo[1]), min(s0.lo[2], s1.lo[2])}
	hi := Vec3{max(s0.hi[0], s1.hi[0]), max(s0.hi[1], s1.hi[1]), max(s0.hi[2], s1.hi[2])}
	cy, cz := (lo[1]+hi[1])/2, (lo[2]+hi[2])/2
	offX := [2]float32{-sceneGap/2 - s0.hi[0], sceneGap/2 - s1.lo[0]}
	for h, s := range sc.surf {
		// A vertex p is drawn at p + offset; the screen middle shows −offset.
		off := Vec3{offX[h], -cy, -cz}
		sc.sceneCenter[h] = Vec3{-off[0], -off[1], -off[2]}
		sc.sceneRadius = max(sc.sceneRadius, s.radiusAround(sc.sceneCenter[h]))
	}
	return sc
}

func (sc *scene) numTriangles() int { return len(sc.keys) }

// setViewports computes the viewport and camera frame of each hemisphere
// for a drawing area.
func (sc *scene) setViewports(mode LayoutMode, area Rect, cam Camera) {
	cams := [2]Camera{cam, cam}
	if mode == LayoutScene {
		scale := FitScale(area.W, area.H, sc.sceneRadius, cam.Zoom, fitMargin)
		for h := range sc.surf {
			sc.vp[h] = Viewport{X: area.X, Y: area.Y, W: area.W, H: area.H, Scale: scale, Center: sc.sceneCenter[h]}
			sc.clip[h] = area
		}
	} else {
		cams[1] = cam.Mirrored()
		p0, p1 := area, area
		if area.W >= area.H {
			p0.W, p1.W = area.W/2, area.W/2
			p1.X = area.X + area.W/2
		} else {
			p0.H, p1.H = area.H/2, area.H/2
			p1.Y = area.Y + area.H/2
		}
		sc.clip = [2]Rect{p0, p1}
		scale := FitScale(p0.W, p0.H, sc.panelRadius, cam.Zoom, fitMargin)
		for h, s := range sc.surf {
			p := sc.clip[h]
			sc.vp[h] = Viewport{X: p.X, Y: p.Y, W: p.W, H: p.H, Scale: scale, Center: s.center()}
		}
	}
	for h := range sc.surf {
		sc.basis[h] = cams[h].Basis()
	}
}

// lightDir returns the unit direction toward the light for a camera frame:
// toward the camera, up and left.
func lightDir(b *Basis) Vec3 {
	l := Vec3{
		-b.Forward[0] + lightUp*b.Up[0] - lightLeft*b.Right[0],
		-b.Forward[1] + lightUp*b.Up[1] - lightLeft*b.Right[1],
		-b.Forward[2] + lightUp*b.Up[2] - lightLeft*b.Right[2],
	}
	ln := l.norm()
	return Vec3{l[0] / ln, l[1] / ln, l[2] / ln}
}

// project computes the screen position, depth, Lambert shading and shaded
// color of every vertex in a cluster that may face the camera (what
// Basis.Project, Lambert and colorize compute, in one pass with the
// frame's constants hoisted), and clears the vertex visibility that
// sortVisible sets.
func (sc *scene) project() {
	for h, s := range sc.surf {
		b, vp := &sc.basis[h], &sc.vp[h]
		l := lightDir(b)
		sc.light[h] = l
		// Screen x, y and depth as affine functions of the position, the
		// viewport's center and middle folded into the constant terms.
		c := vp.Center
		ox, oy := vp.X+vp.W/2, vp.Y+vp.H/2
		sr, su := b.Right, b.Up
		for k := range 3 {
			sr[k] *= vp.Scale
			su[k] *= vp.Scale
		}
		xf := projection{
			x: [4]float32{sr[0], sr[1], sr[2], ox - sr.dot(c)},
			y: [4]float32{-su[0], -su[1], -su[2], oy + su.dot(c)},
			d: [4]float32{b.Forward[0], b.Forward[1], b.Forward[2], -b.Forward.dot(c)},
			l: l, twoSided: s.twoSided,
		}
		n := len(sc.rec[h])
		for c0 := 0; c0 < n; c0 += clusterSize {
			if s.vbox != nil && s.vbox[c0/clusterSize].facesAway(b.Forward) {
				continue
			}
			c1 := min(c0+clusterSize, n)
			xf.apply(s.pos[3*c0:3*c1], s.normals[3*c0:3*c1], sc.base[h][3*c0:3*c1], sc.rec[h][c0:c1])
		}
	}
}

// projection is one frame's map from positions and normals to vertex
// records.
type projection struct {
	x, y, d  [4]float32 // screen x, screen y, depth: coefficients of x, y, z and 1
	l        Vec3       // unit direction toward the light
	twoSided bool
}

// apply fills rec from positions, normals and base colors (3 per vertex
// each); apart from project so that its constants stay in registers.
func (xf *projection) apply(pos, nrm, base []float32, rec []vrec) {
	x0, x1, x2, x3 := xf.x[0], xf.x[1], xf.x[2], xf.x[3]
	y0, y1, y2, y3 := xf.y[0], xf.y[1], xf.y[2], xf.y[3]
	d0, d1, d2, d3 := xf.d[0], xf.d[1], xf.d[2], xf.d[3]
	lx, ly, lz := xf.l[0], xf.l[1], xf.l[2]
	twoSided := xf.twoSided
	for i := range rec {
		p := pos[3*i : 3*i+3 : 3*i+3]
		nr := nrm[3*i : 3*i+3 : 3*i+3]
		bs := base[3*i : 3*i+3 : 3*i+3]
		px, py, pz := p[0], p[1], p[2]
		sh := lambert(nr[0]*lx+nr[1]*ly+nr[2]*lz, twoSided)
		r := &rec[i]
		r.x = px*x0 + py*x1 + pz*x2 + x3
		r.y = px*y0 + py*y1 + pz*y2 + y3
		r.depth = px*d0 + py*d1 + pz*d2 + d3
		r.rgb = packRGB(bs[0]*sh, bs[1]*sh, bs[2]*sh)
	}
}

// lambert is Lambert's shading for n·l = d; a two-sided surface (the
// flat map) is lit from either side.
func lambert(d float32, twoSided bool) float32 {
	if twoSided && d < 0 {
		d = -d
	}
	if d < 0 { // not max(0, d): Go's float max costs NaN checks
		d = 0
	}
	return ambient + (1-ambient)*d
}

// Lambert returns ambient + (1 − ambient)·max(0, n·l) for unit vectors.
func Lambert(n, l Vec3) float32 {
	return ambient + (1-ambient)*max(0, n.dot(l))
}

// depthKeyer maps the depth sum d of a triangle's 3 vertices, |d| ≤ 3r
// for vertices within r of the view center, to a 16-bit key that sorts
// ascending from the farthest to the nearest (steps of 6r/65535: 0.01 mm
// for a brain's r ≈ 110 mm). Quantised keys are exact enough for the
// painter's algorithm: triangles whose centroids lie within a few µm of
// each other in depth do not visibly occlude one another.
type depthKeyer struct{ off, scale float32 }

func newDepthKeyer(r float32) depthKeyer {
	if !(r > 0) {
		return depthKeyer{}
	}
	s := 65535 / (6 * r)
	return depthKeyer{off: 3 * r * s, scale: s}
}

func (k depthKeyer) key(d float32) uint16 {
	x := k.off - d*k.scale
	switch {
	case !(x > 0): // also NaN
		return 0
	case x > 65535:
		return 65535
	}
	return uint16(x)
}

// depthKey is newDepthKeyer(r).key(d).
func depthKey(d, r float32) uint16 { return newDepthKeyer(r).key(d) }

// scatterByKey writes items into out ordered by ascending keys, keeping
// the input order among equal keys. hist (len 65536) holds the number of
// items with each key (cullAndKey counts them); scatterByKey turns it into
// positions. One pass that writes every item once to its place costs
// about half of a 2-pass radix sort here (the radix passes wait on their
// counters whenever neighbouring items share a digit, which spatially
// ordered triangles often do). It does not allocate.
func scatterByKey[T any](keys []uint16, items, out []T, hist *[1 << 16]uint32) {
	var pos uint32
	for k, c := range hist {
		hist[k] = pos
		pos += c
	}
	items, out = items[:len(keys)], out[:len(keys)]
	for j, k := range keys {
		p := hist[k]
		out[p] = items[j]
		hist[k] = p + 1
	}
}

// sortByKey sorts items by ascending keys (stable), using out as scratch;
// the test-friendly form of counting in cullAndKey and scatterByKey.
func sortByKey[T any](keys []uint16, items, out []T) {
	hist := new([1 << 16]uint32)
	for _, k := range keys {
		hist[k]++
	}
	scatterByKey(keys, items, out, hist)
	copy(items, out[:len(keys)])
	slices.Sort(keys)
}

// backFaceEps is the face-normal component along the view direction
// (with normals quantised to int8, times 127) above which a triangle faces
// away from the camera whatever the quantisation error (at most
// √3·0.5 ≈ 0.87), and below whose negative it faces the camera:
// cullAndKey drops the first without reading their vertices, keeps the
// second without computing their winding, and decides the rest (nearly
// edge-on) by their winding on screen.
const backFaceEps = 2.5

// cullInput is one hemisphere's input to cullAndKey.
type cullInput struct {
	rec      []vrec      // of both hemispheres: dtris index them
	dtris    []drawTri   // per triangle, packTri of its vertices' record indices
	fnw      []uint32    // per triangle: packFaceNormal of its quantised outward normal, or 0: the winding decides
	tbox     []normalBox // per cluster of triangles (nil: none)
	fwd      Vec3        // view direction
	twoSided bool
	clip     Rect
	inside   bool // every vertex projects inside clip: no off-screen test
	front    []bool
}

// cullAndKey appends the triangles of one hemisphere that are drawn to
// keys and out (at m),
// counts their keys in hist and returns the new count. A triangle is drawn
// when its 3 screen vertices wind clockwise on screen (y down) —
// counter-clockwise in view, i.e. facing the camera — or, on a two-sided
// surface, when it has an area on screen; and when its bounding box meets
// the clip rectangle. Triangles that clearly face away by their quantised
// normals are dropped without reading their vertices, whole clusters of
// them by the clusters' normal boxes. It marks front per triangle.
func cullAndKey(in *cullInput, dk depthKeyer, keys []uint16, out []drawTri, hist *[1 << 16]uint32, m int) int {
	nt := len(in.front)
	tbox := in.tbox
	if in.twoSided {
		tbox = nil
	}
	for t0 := 0; t0 < nt; t0 += clusterSize {
		t1 := min(t0+clusterSize, nt)
		if tbox != nil && tbox[t0/clusterSize].facesAway(in.fwd) {
			clear(in.front[t0:t1])
			continue
		}
		m = cullCluster(in, t0, t1, dk, keys, out, hist, m)
	}
	return m
}

// fwdBits is the fixed-point precision of the view direction in the
// integer back-face test: with q·f summed in int32 (|q| ≤ 127 per
// component, f < 2^fwdBits) the rounding error of f shifts q·fwd by at most
// 127·√3·0.5/2^fwdBits ≈ 1e-4, far inside backFaceEps's margin.
const fwdBits = 20

// cullCluster is cullAndKey for triangles t0 to t1; apart so that the
// loop's values fit in registers.
func cullCluster(in *cullInput, t0, t1 int, dk depthKeyer, keys []uint16, out []drawTri, hist *[1 << 16]uint32, m int) int {
	rec, fnw, dtris, front := in.rec, in.fnw[t0:t1], in.dtris[t0:t1], in.front[t0:t1]
	twoSided, inside := in.twoSided, in.inside
	x0, y0, x1, y1 := in.clip.X, in.clip.Y, in.clip.X+in.clip.W, in.clip.Y+in.clip.H
	// The normal test in integers: no int-to-float conversions.
	const one = 1 << fwdBits
	fx, fy, fz := int32(math.Round(float64(in.fwd[0]*one))), int32(math.Round(float64(in.fwd[1]*one))), int32(math.Round(float64(in.fwd[2]*one)))
	const eps = int32(backFaceEps * one)
	dtris, front = dtris[:len(fnw)], front[:len(fnw)] // no bounds checks below
	for t, w := range fnw {
		d := int32(int8(w))*fx + int32(int8(w>>8))*fy + int32(int8(w>>16))*fz
		if d > eps {
			front[t] = false
			continue
		}
		facing := d < -eps // surely faces the camera
		dt := dtris[t]
		a, b, c := &rec[dt.vertex(0)], &rec[dt.vertex(1)], &rec[dt.vertex(2)]
		if !facing || !inside {
			ax, ay, bx, by, cx, cy := a.x, a.y, b.x, b.y, c.x, c.y
			a2 := (bx-ax)*(cy-ay) - (by-ay)*(cx-ax)
			// Plain comparisons, not min/max: Go's float min and max
			// handle NaN and signed zeros at several times the cost.
			if !facing && !(a2 < 0) && !(twoSided && a2 > 0) || !inside && (ax < x0 && bx < x0 && cx < x0 || ax > x1 && bx > x1 && cx > x1 ||
				ay < y0 && by < y0 && cy < y0 || ay > y1 && by > y1 && cy > y1) {
				front[t] = false
				continue
			}
		}
		front[t] = true
		k := dk.key(a.depth + b.depth + c.depth)
		keys[m] = k
		hist[k]++
		out[m] = dt
		m++
	}
	return m
}

// BackToFront orders triangles for the painter's algorithm: it returns
// the indices of the triangles whose 3 screen vertices (sx, sy; y down)
// wind clockwise on screen — counter-clockwise in view, i.e. facing the
// camera — sorted from the farthest centroid depth to the nearest (equal
// quantised depths in mesh order). It is the allocating, test-friendly
// form of what the viewer does per camera change.
func BackToFront(sx, sy, depth []float32, tris []uint32) []uint32 {
	var r float32
	for _, d := range depth {
		r = max(r, float32(math.Abs(float64(d))))
	}
	rec := make([]vrec, len(sx))
	for i := range rec {
		rec[i] = vrec{x: sx[i], y: sy[i], depth: depth[i]}
	}
	nt := len(tris) / 3
	inf := float32(math.Inf(1))
	keys, dt := make([]uint16, nt), make([]drawTri, nt)
	hist := new([1 << 16]uint32)
	in := &cullInput{rec: rec, dtris: packTris(tris, 0), fnw: make([]uint32, nt), clip: Rect{-inf, -inf, inf, inf}, inside: true, front: make([]bool, nt)}
	m := cullAndKey(in, newDepthKeyer(r), keys, dt, hist, 0)
	if m == 0 {
		return nil
	}
	sorted := make([]drawTri, m)
	scatterByKey(keys[:m], dt[:m], sorted, hist)
	index := make(map[drawTri]uint32, nt)
	for t := range nt {
		index[packTri(tris[3*t], tris[3*t+1], tris[3*t+2])] = uint32(t)
	}
	out := make([]uint32, m)
	for i, d := range sorted {
		out[i] = index[d]
	}
	return out
}

// sortVisible culls back faces and off-screen triangles and sorts the rest
// back to front: per hemisphere in LayoutPanels, jointly in LayoutScene.
func (sc *scene) sortVisible(mode LayoutMode) {
	r := sc.panelRadius
	if mode == LayoutScene {
		r = sc.sceneRadius
	}
	dk := newDepthKeyer(r)
	m := 0
	clear(sc.hist[:])
	for h, s := range sc.surf {
		start := m
		in := &cullInput{
			rec: sc.recAll, dtris: sc.dtris[h], fnw: sc.fnw[h], tbox: s.tbox, fwd: sc.basis[h].Forward,
			twoSided: s.twoSided,
			clip:     sc.clip[h], inside: sc.inside(h, r), front: sc.front[h],
		}
		m = cullAndKey(in, dk, sc.keys, sc.culled, sc.hist, m)
		sc.segEnd[h] = m
		if mode == LayoutPanels {
			scatterByKey(sc.keys[start:m], sc.culled[start:m], sc.order[start:m], sc.hist)
			clear(sc.hist[:])
		}
	}
	if mode == LayoutScene {
		scatterByKey(sc.keys[:m], sc.culled[:m], sc.order[:m], sc.hist)
		sc.segEnd[0] = m
	}
}

// inside reports whether every vertex of hemisphere h projects inside its
// clip rectangle (when r is the radius around the viewport center that
// holds them): the common zoomed-out case, where culling skips the
// off-screen test.
func (sc *scene) inside(h int, r float32) bool {
	vp, c := &sc.vp[h], sc.clip[h]
	px, py, pr := vp.X+vp.W/2, vp.Y+vp.H/2, r*vp.Scale
	return px-pr >= c.X && px+pr <= c.X+c.W && py-pr >= c.Y && py+pr <= c.Y+c.H
}

// colorize sets the final per-vertex colors, base color times shading,
// when the colors change without the camera (project does it otherwise,
// and does not keep the shading: recomputing it here is cheaper than
// writing it on every camera change).
func (sc *scene) colorize() {
	for h, s := range sc.surf {
		rec := sc.rec[h]
		n := len(rec)
		base, nrm := sc.base[h][:3*n], s.normals[:3*n]
		l, twoSided := sc.light[h], s.twoSided
		for i := range rec {
			sh := lambert(nrm[3*i]*l[0]+nrm[3*i+1]*l[1]+nrm[3*i+2]*l[2], twoSided)
			rec[i].rgb = packRGB(base[3*i]*sh, base[3*i+1]*sh, base[3*i+2]*sh)
		}
	}
}

// fill builds the draw list of the sorted visible triangles: chunks of at
// most maxChunk vertices, a vertex shared by triangles of the same chunk
// written once.
func (sc *scene) fill() {
	sc.chunks = sc.chunks[:0]
	if sc.gen >= 1<<15 { // start over long before a frame could wrap
		clear(sc.slot)
		sc.gen = 0
	}
	sc.frameGen = sc.gen + 1
	nv, ni := 0, 0
	rec := sc.recAll[:len(sc.slot)]
	for seg := range 2 {
		from, to := 0, sc.segEnd[0]
		if seg == 1 {
			from, to = sc.segEnd[0], sc.segEnd[1]
		}
		for from < to {
			// A new chunk; fillChunk stops when it is full or the buffer
			// needs to grow.
			if len(sc.chunks) == 0 || sc.chunks[len(sc.chunks)-1].Panel != seg || nv-sc.chunks[len(sc.chunks)-1].V0+3 > sc.maxChunk {
				sc.nextGen()
				sc.chunks = append(sc.chunks, Chunk{Panel: seg, V0: nv, I0: ni})
			}
			if nv+3 > len(sc.verts) { // a view with more vertices than any before
				sc.growVerts(nv + 3)
			}
			cur := &sc.chunks[len(sc.chunks)-1]
			vend := min(cur.V0+sc.maxChunk, len(sc.verts))
			k, lv := fillChunk(sc.order[from:to], rec, sc.slot, sc.verts[cur.V0:vend], sc.idx[ni:], sc.gen<<16, nv-cur.V0)
			from += k
			nv, ni = cur.V0+lv, ni+3*k
			cur.V1, cur.I1 = nv, ni
		}
	}
}

// fillChunk appends triangles of order to a chunk whose vertices are
// written to verts from nv (relative to the chunk's first vertex, with
// generation gen << 16 in slot) and whose indices are written to idx from
// 0, until order ends or verts lacks room for 3 more vertices (verts ends
// where the chunk's vertex limit or the buffer does). It returns the
// number of triangles written and the new nv. Kept apart from fill, with
// as few live values as possible, so that they stay in registers.
func fillChunk(order []drawTri, rec []vrec, slot []uint32, verts []Vertex, idx []uint16, gen uint32, nv int) (k, nv1 int) {
	end := len(verts) - 3 // room for 3 more vertices while nv ≤ end
	idx = idx[:3*len(order)]
	for k = 0; k < len(order) && nv <= end; k++ {
		dt := order[k]
		g0, g1, g2 := dt.vertex(0), dt.vertex(1), dt.vertex(2)
		s0, s1, s2 := slot[g0], slot[g1], slot[g2]
		// The corners one by one (no loop: the compiler keeps fewer
		// values in registers through one); a corner seen earlier in
		// the chunk reuses its vertex.
		if s0&^0xffff != gen {
			s0 = gen | uint32(nv)
			slot[g0] = s0
			putVertex(&verts[nv], &rec[g0])
			nv++
		}
		if s1&^0xffff != gen {
			s1 = gen | uint32(nv)
			slot[g1] = s1
			putVertex(&verts[nv], &rec[g1])
			nv++
		}
		if s2&^0xffff != gen {
			s2 = gen | uint32(nv)
			slot[g2] = s2
			putVertex(&verts[nv], &rec[g2])
			nv++
		}
		ix := idx[3*k : 3*k+3 : 3*k+3]
		ix[0], ix[1], ix[2] = uint16(s0), uint16(s1), uint16(s2)
	}
	return k, nv
}

// putVertex writes the fields of v that change: the buffer holds the
// white source pixel and opaque alpha already (growVerts).
func putVertex(v *Vertex, r *vrec) {
	v.DstX, v.DstY = r.x, r.y
	v.ColorR = float32(r.rgb&0xff) * (1.0 / 255)
	v.ColorG = float32(r.rgb>>8&0xff) * (1.0 / 255)
	v.ColorB = float32(r.rgb>>16&0xff) * (1.0 / 255)
}

// growVerts makes the vertex buffer hold at least n vertices, each new one
// sampling the white source pixel with alpha 1 (fill writes only
// positions and colors), and returns it.
func (sc *scene) growVerts(n int) []Vertex {
	old := len(sc.verts)
	if n > old {
		sc.verts = slices.Grow(sc.verts, max(n, old+old/4)-old)
		sc.verts = sc.verts[:cap(sc.verts)]
		for i := range sc.verts[old:] {
			sc.verts[old+i] = Vertex{SrcX: sc.srcX, SrcY: sc.srcY, ColorA: 1}
		}
	}
	return sc.verts
}

// nextGen starts a new chunk generation for the vertex slots.
func (sc *scene) nextGen() { sc.gen++ }

// visible reports whether vertex i of hemisphere h is in a drawn triangle
// (after fill).
func (sc *scene) visible(h, i int) bool {
	return sc.slot[sc.first[h]+i]>>16 >= sc.frameGen
}

// setBase sets the base colors of hemisphere h from overlay (in the
// bundle's vertex order): the colormap color of overlay values that are not NaN and whose magnitude reaches the
// threshold, mixed over the underlay gray with the given opacity (0..1);
// else the underlay gray.
func (sc *scene) setBase(h int, overlay []float32, cm *Colormap, vmin, vmax, threshold, opacity float32) {
	s := sc.surf[h]
	base := sc.base[h]
	inv := float32(0)
	if vmax > vmin {
		inv = 1 / (vmax - vmin)
	}
	a := min(max(opacity, 0), 1)
	for i, orig := range s.perm {
		g := s.gray[i]
		if overlay != nil {
			v := overlay[orig]
			if !math.IsNaN(float64(v)) && !(v < threshold && v > -threshold) {
				r, gg, b := cm.AtF((v - vmin) * inv)
				base[3*i] = g + a*(r-g)
				base[3*i+1] = g + a*(gg-g)
				base[3*i+2] = g + a*(b-g)
				continue
			}
		}
		base[3*i], base[3*i+1], base[3*i+2] = g, g, g
	}
}
