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
	ambient    = 0.3
	lightUp    = 0.45
	lightLeft  = 0.3
	fitMargin  = 0.95
	hemiBitPos = 31
)

// Rect is a screen rectangle in pixels (y down).
type Rect struct{ X, Y, W, H float32 }

// Contains reports whether (x, y) lies in r.
func (r Rect) Contains(x, y float32) bool {
	return x >= r.X && y >= r.Y && x < r.X+r.W && y < r.Y+r.H
}

// scene holds both prepared hemispheres and the buffers rebuilt when the
// camera or the colors change. Nothing in it allocates after newScene.
type scene struct {
	surf [2]*surface

	sceneCenter [2]Vec3 // LayoutScene: the point of each hemisphere drawn at the middle
	sceneRadius float32
	panelRadius float32

	vp    [2]Viewport
	basis [2]Basis
	clip  [2]Rect // panel of each hemisphere (LayoutPanels)

	sx, sy, depth, shade [2][]float32 // per vertex
	base, col            [2][]float32 // 3 per vertex, RGB 0..1

	items, tmp []uint64  // depth key << 32 | hemisphere << 31 | triangle
	segEnd     [2]int    // items[0:segEnd[0]] and items[segEnd[0]:segEnd[1]]
	front      [2][]bool // per triangle: faces the camera
	vis        [2][]bool // per vertex: in a triangle that faces the camera

	// The draw list: vertices shared within a chunk, uint16 indices.
	verts  []Vertex
	idx    []uint16
	chunks []Chunk
	stamp  []uint32 // per vertex of both hemispheres: gen of the chunk that holds it
	local  []uint16 // its index in that chunk
	gen    uint32
	first  [2]int // index of each hemisphere's first vertex in stamp and local

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
	total := 0
	for h, s := range sc.surf {
		sc.sx[h] = make([]float32, s.n)
		sc.sy[h] = make([]float32, s.n)
		sc.depth[h] = make([]float32, s.n)
		sc.shade[h] = make([]float32, s.n)
		sc.base[h] = make([]float32, 3*s.n)
		sc.col[h] = make([]float32, 3*s.n)
		sc.front[h] = make([]bool, s.numTriangles())
		sc.vis[h] = make([]bool, s.n)
		total += s.numTriangles()
		sc.panelRadius = max(sc.panelRadius, s.radiusAround(s.center()))
	}
	sc.items = make([]uint64, total)
	sc.tmp = make([]uint64, total)
	sc.verts = make([]Vertex, 3*total)
	sc.idx = make([]uint16, 3*total)
	sc.chunks = make([]Chunk, 0, 3*total/(MaxChunkVertices-2)+4)
	sc.stamp = make([]uint32, s0.n+s1.n)
	sc.local = make([]uint16, s0.n+s1.n)
	sc.first = [2]int{0, s0.n}

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

func (sc *scene) numTriangles() int { return len(sc.items) }

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

// project computes screen positions, depths and Lambert shading of every
// vertex.
func (sc *scene) project() {
	for h, s := range sc.surf {
		b, vp := &sc.basis[h], &sc.vp[h]
		// Direction toward the light: toward the camera, up and left.
		l := Vec3{
			-b.Forward[0] + lightUp*b.Up[0] - lightLeft*b.Right[0],
			-b.Forward[1] + lightUp*b.Up[1] - lightLeft*b.Right[1],
			-b.Forward[2] + lightUp*b.Up[2] - lightLeft*b.Right[2],
		}
		ln := l.norm()
		l = Vec3{l[0] / ln, l[1] / ln, l[2] / ln}
		sx, sy, dp, sh := sc.sx[h], sc.sy[h], sc.depth[h], sc.shade[h]
		for i := range s.n {
			sx[i], sy[i], dp[i] = b.Project(vp, Vec3{s.pos[3*i], s.pos[3*i+1], s.pos[3*i+2]})
			n := Vec3{s.normals[3*i], s.normals[3*i+1], s.normals[3*i+2]}
			if s.twoSided && n.dot(l) < 0 {
				n = Vec3{-n[0], -n[1], -n[2]}
			}
			sh[i] = Lambert(n, l)
		}
	}
}

// Lambert returns ambient + (1 − ambient)·max(0, n·l) for unit vectors.
func Lambert(n, l Vec3) float32 {
	return ambient + (1-ambient)*max(0, n.dot(l))
}

// depthKey maps the depth sum d of a triangle's 3 vertices, |d| ≤ 3r for
// vertices within r of the view center, to a 16-bit key that sorts
// ascending from the farthest to the nearest (steps of 6r/65535: 0.01 mm for
// a brain's r ≈ 110 mm).
func depthKey(d, r float32) uint32 {
	if !(r > 0) {
		return 0
	}
	k := (3*r - d) / (6 * r) * 65535
	return uint32(min(max(k, 0), 65535))
}

// sortItems sorts items ascending by bits 32..47 (the depth key) with a
// stable least-significant-digit radix sort (2 passes of 8 bits), using
// tmp (len ≥ len(items)) as scratch. It does not allocate.
func sortItems(items, tmp []uint64) {
	tmp = tmp[:len(items)]
	src, dst := items, tmp
	for shift := uint(32); shift < 48; shift += 8 {
		var count [256]int
		for _, it := range src {
			count[byte(it>>shift)]++
		}
		if count[byte(src[0]>>shift)] == len(src) {
			continue // all equal in this digit
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, it := range src {
			d := byte(it >> shift)
			dst[count[d]] = it
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &items[0] {
		copy(items, src)
	}
}

// BackToFront orders triangles for the painter's algorithm: it returns
// the indices of the triangles whose 3 screen vertices (sx, sy; y down)
// wind clockwise on screen — counter-clockwise in view, i.e. facing the
// camera — sorted from the farthest centroid depth to the nearest.
// It is the allocating, test-friendly form of what the viewer does per
// camera change.
func BackToFront(sx, sy, depth []float32, tris []uint32) []uint32 {
	var r float32
	for _, d := range depth {
		r = max(r, float32(math.Abs(float64(d))))
	}
	items := make([]uint64, 0, len(tris)/3)
	for t := range len(tris) / 3 {
		if k, ok := triKey(sx, sy, depth, tris, t, r, false); ok {
			items = append(items, uint64(k)<<32|uint64(t))
		}
	}
	if len(items) == 0 {
		return nil
	}
	sortItems(items, make([]uint64, len(items)))
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = uint32(it)
	}
	return out
}

// triKey returns the sort key of triangle t (depths within ±r) and whether
// it faces the camera (for a two-sided surface: whether it has an area on
// screen).
func triKey(sx, sy, depth []float32, tris []uint32, t int, r float32, twoSided bool) (uint32, bool) {
	i0, i1, i2 := tris[3*t], tris[3*t+1], tris[3*t+2]
	a2 := (sx[i1]-sx[i0])*(sy[i2]-sy[i0]) - (sy[i1]-sy[i0])*(sx[i2]-sx[i0])
	if !(a2 < 0) && !(twoSided && a2 > 0) {
		return 0, false
	}
	return depthKey(depth[i0]+depth[i1]+depth[i2], r), true
}

// sortVisible culls back faces and sorts the remaining triangles back to
// front: per hemisphere in LayoutPanels, jointly in LayoutScene.
func (sc *scene) sortVisible(mode LayoutMode) {
	r := sc.panelRadius
	if mode == LayoutScene {
		r = sc.sceneRadius
	}
	m := 0
	for h, s := range sc.surf {
		start := m
		front, vis := sc.front[h], sc.vis[h]
		clear(vis)
		for t := range s.numTriangles() {
			k, ok := triKey(sc.sx[h], sc.sy[h], sc.depth[h], s.tris, t, r, s.twoSided)
			front[t] = ok
			if ok {
				sc.items[m] = uint64(k)<<32 | uint64(h)<<hemiBitPos | uint64(t)
				m++
				vis[s.tris[3*t]], vis[s.tris[3*t+1]], vis[s.tris[3*t+2]] = true, true, true
			}
		}
		sc.segEnd[h] = m
		if mode == LayoutPanels && m > start {
			sortItems(sc.items[start:m], sc.tmp)
		}
	}
	if mode == LayoutScene {
		if m > 0 {
			sortItems(sc.items[:m], sc.tmp)
		}
		sc.segEnd[0] = m
		sc.segEnd[1] = m
	}
}

// colorize sets the final per-vertex colors: base color times shading.
func (sc *scene) colorize() {
	for h, s := range sc.surf {
		base, col, sh := sc.base[h], sc.col[h], sc.shade[h]
		for i := range s.n {
			col[3*i] = base[3*i] * sh[i]
			col[3*i+1] = base[3*i+1] * sh[i]
			col[3*i+2] = base[3*i+2] * sh[i]
		}
	}
}

// fill builds the draw list of the sorted visible triangles: chunks of at
// most MaxChunkVertices vertices, a vertex shared by triangles of the same
// chunk written once.
func (sc *scene) fill() {
	sc.chunks = sc.chunks[:0]
	nv, ni := 0, 0
	for seg := range 2 {
		from, to := 0, sc.segEnd[0]
		if seg == 1 {
			from, to = sc.segEnd[0], sc.segEnd[1]
		}
		if from == to {
			continue
		}
		cur := -1
		for _, it := range sc.items[from:to] {
			if cur < 0 || nv-sc.chunks[cur].V0+3 > sc.maxChunk {
				if cur >= 0 {
					sc.chunks[cur].V1, sc.chunks[cur].I1 = nv, ni
				}
				sc.nextGen()
				sc.chunks = append(sc.chunks, Chunk{Panel: seg, V0: nv, I0: ni})
				cur = len(sc.chunks) - 1
			}
			h := int(it>>hemiBitPos) & 1
			t := int(uint32(it) &^ (1 << hemiBitPos))
			s := sc.surf[h]
			sx, sy, col := sc.sx[h], sc.sy[h], sc.col[h]
			v0 := sc.chunks[cur].V0
			for c := range 3 {
				i := s.tris[3*t+c]
				g := sc.first[h] + int(i)
				if sc.stamp[g] != sc.gen {
					sc.stamp[g] = sc.gen
					sc.local[g] = uint16(nv - v0)
					sc.verts[nv] = Vertex{
						DstX: sx[i], DstY: sy[i],
						SrcX: sc.srcX, SrcY: sc.srcY,
						ColorR: col[3*i], ColorG: col[3*i+1], ColorB: col[3*i+2], ColorA: 1,
					}
					nv++
				}
				sc.idx[ni] = sc.local[g]
				ni++
			}
		}
		sc.chunks[cur].V1, sc.chunks[cur].I1 = nv, ni
	}
}

// nextGen starts a new chunk generation for the vertex stamps.
func (sc *scene) nextGen() {
	sc.gen++
	if sc.gen == 0 { // wrapped: forget all stamps
		clear(sc.stamp)
		sc.gen = 1
	}
}

// setBase sets the base colors of hemisphere h: the colormap color of
// overlay values that are not NaN and whose magnitude reaches the
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
	for i := range s.n {
		g := s.gray[i]
		if overlay != nil {
			v := overlay[i]
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
