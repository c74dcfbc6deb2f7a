package render

import (
	"math"
	"slices"

	"cortexcast/meshes"
)

// surface is one hemisphere prepared for drawing: triangles wound so that
// face normals point outward, unit vertex normals and the underlay gray.
//
// Its vertices and triangles are renumbered along a space-filling curve
// (perm[j] is the bundle's index of vertex j, inv the inverse): the
// per-frame passes visit triangles back to front, which jumps across the
// mesh, and with neighbours near each other in memory most of those visits
// hit the cache (at full fsaverage resolution this halves a camera
// change). Everything inside package render uses the new numbering;
// Model's methods translate at the API.
type surface struct {
	n         int
	pos       []float32 // 3n
	tris      []uint32  // 3t
	normals   []float32 // 3n
	gray      []float32 // n
	perm, inv []uint32  // n each
	fnq       []int8    // 4 per triangle: unit outward face normal × 127, 0
	// Bounds of the quantised face normals of each cluster of
	// clusterSize consecutive triangles (tbox) and of the triangles
	// around each cluster of clusterSize consecutive vertices (vbox):
	// a camera change skips clusters that face away. Nil for two-sided
	// surfaces.
	tbox, vbox []normalBox
	lo, hi     Vec3 // bounding box of the vertices in triangles
	// twoSided surfaces (the flat map) have no outside: both windings are
	// drawn and lit.
	twoSided bool
}

func (s *surface) vertex(i uint32) Vec3 {
	return Vec3{s.pos[3*i], s.pos[3*i+1], s.pos[3*i+2]}
}

func (s *surface) numTriangles() int { return len(s.tris) / 3 }

// newSurface prepares the surface kind (meshes.SurfInflated…SurfFlat) of
// h; a kind the bundle lacks falls back to the inflated surface, and the
// returned kind says which one was prepared. It copies what it changes.
func newSurface(h *meshes.HemiMesh, kind int) (*surface, int) {
	pos, tris := h.Positions(kind), h.Triangles
	if kind == meshes.SurfFlat {
		tris = h.FlatTriangles
	}
	if len(pos) != 3*h.NumVertices || len(tris) == 0 {
		kind, pos, tris = meshes.SurfInflated, h.Inflated, h.Triangles
	}
	n := h.NumVertices
	s := &surface{
		n:        n,
		normals:  make([]float32, 3*n),
		gray:     make([]float32, n),
		twoSided: kind == meshes.SurfFlat,
	}
	s.perm, s.inv = spatialOrder(pos[:3*n])
	s.pos = make([]float32, 3*n)
	for j, i := range s.perm {
		copy(s.pos[3*j:3*j+3], pos[3*i:3*i+3])
	}
	s.tris = renumberTriangles(tris, s.inv)
	if !s.twoSided {
		OrientOutward(s.pos, s.tris) // flips the winding of our copy when needed
	}
	VertexNormals(s.pos, s.tris, s.normals)
	s.fnq = make([]int8, 4*s.numTriangles())
	for t := range s.numTriangles() {
		fn := faceNormal(s.pos, s.tris, t)
		if l := fn.norm(); l > 0 {
			for k := range 3 {
				s.fnq[4*t+k] = int8(math.Round(float64(127 * fn[k] / l)))
			}
		}
	}
	if !s.twoSided {
		s.tbox = make([]normalBox, (s.numTriangles()+clusterSize-1)/clusterSize)
		s.vbox = make([]normalBox, (n+clusterSize-1)/clusterSize)
		for i := range s.tbox {
			s.tbox[i] = emptyNormalBox()
		}
		for i := range s.vbox {
			s.vbox[i] = emptyNormalBox()
		}
		for t := range s.numTriangles() {
			q := s.fnq[4*t : 4*t+3]
			s.tbox[t/clusterSize].add(q)
			for _, v := range s.tris[3*t : 3*t+3] {
				s.vbox[v/clusterSize].add(q)
			}
		}
	}
	gray := make([]float32, n)
	SulcGray(h.Sulc, gray)
	for j, i := range s.perm {
		s.gray[j] = gray[i]
	}
	inf := float32(math.Inf(1))
	s.lo, s.hi = Vec3{inf, inf, inf}, Vec3{-inf, -inf, -inf}
	// Only vertices of triangles count: the flat map leaves the others at
	// the origin.
	used := make([]bool, s.n)
	for _, i := range s.tris {
		used[i] = true
	}
	for i := range s.n {
		if !used[i] {
			continue
		}
		for k := range 3 {
			s.lo[k] = min(s.lo[k], s.pos[3*i+k])
			s.hi[k] = max(s.hi[k], s.pos[3*i+k])
		}
	}
	if s.lo[0] > s.hi[0] {
		s.lo, s.hi = Vec3{}, Vec3{}
	}
	return s, kind
}

// center returns the bounding box center.
func (s *surface) center() Vec3 {
	return Vec3{(s.lo[0] + s.hi[0]) / 2, (s.lo[1] + s.hi[1]) / 2, (s.lo[2] + s.hi[2]) / 2}
}

// radiusAround returns the largest distance of a triangle's vertex from c.
func (s *surface) radiusAround(c Vec3) float32 {
	var r2 float32
	for _, i := range s.tris {
		d := Vec3{s.pos[3*i], s.pos[3*i+1], s.pos[3*i+2]}.sub(c)
		r2 = max(r2, d.dot(d))
	}
	return float32(math.Sqrt(float64(r2)))
}

// faceNormal returns the unnormalized normal (v1−v0)×(v2−v0) of triangle t,
// whose length is twice the triangle's area.
func faceNormal(pos []float32, tris []uint32, t int) Vec3 {
	i0, i1, i2 := tris[3*t], tris[3*t+1], tris[3*t+2]
	p0 := Vec3{pos[3*i0], pos[3*i0+1], pos[3*i0+2]}
	p1 := Vec3{pos[3*i1], pos[3*i1+1], pos[3*i1+2]}
	p2 := Vec3{pos[3*i2], pos[3*i2+1], pos[3*i2+2]}
	return p1.sub(p0).cross(p2.sub(p0))
}

// OrientOutward makes the triangles of a closed surface wind
// counter-clockwise seen from outside (face normals pointing away from the
// centroid, by an area-weighted vote). It swaps two indices of every
// triangle when needed and reports whether it did.
func OrientOutward(pos []float32, tris []uint32) bool {
	var c Vec3
	n := len(pos) / 3
	if n == 0 {
		return false
	}
	for i := 0; i < len(pos); i += 3 {
		c[0] += pos[i]
		c[1] += pos[i+1]
		c[2] += pos[i+2]
	}
	c = Vec3{c[0] / float32(n), c[1] / float32(n), c[2] / float32(n)}
	var vote float64
	for t := range len(tris) / 3 {
		fn := faceNormal(pos, tris, t)
		i0 := tris[3*t]
		p0 := Vec3{pos[3*i0], pos[3*i0+1], pos[3*i0+2]}
		vote += float64(fn.dot(p0.sub(c)))
	}
	if vote >= 0 {
		return false
	}
	for t := 0; t+2 < len(tris); t += 3 {
		tris[t+1], tris[t+2] = tris[t+2], tris[t+1]
	}
	return true
}

// VertexNormals writes unit vertex normals (area-weighted averages of the
// adjacent face normals) into out (3·N). A vertex with no triangles gets
// (0, 0, 0).
func VertexNormals(pos []float32, tris []uint32, out []float32) {
	clear(out)
	for t := range len(tris) / 3 {
		fn := faceNormal(pos, tris, t)
		for c := range 3 {
			i := tris[3*t+c]
			out[3*i] += fn[0]
			out[3*i+1] += fn[1]
			out[3*i+2] += fn[2]
		}
	}
	for i := 0; i < len(out); i += 3 {
		v := Vec3{out[i], out[i+1], out[i+2]}
		if l := v.norm(); l > 0 {
			out[i], out[i+1], out[i+2] = v[0]/l, v[1]/l, v[2]/l
		}
	}
}

// Underlay gray levels: a vertex at sulcal depth 0 gets grayMid; the
// deepest sulci (sulc ≥ the 95th percentile of |sulc|) grayMid−grayAmp and
// the crowns of gyri grayMid+grayAmp, as nilearn and pycortex shade sulci
// darker than gyri.
const (
	grayMid = 0.62
	grayAmp = 0.22
)

// SulcGray writes the underlay gray level (0..1) of each vertex into out:
// grayMid − grayAmp·clamp(sulc/s, −1, 1), s the 95th percentile of |sulc|.
// NaN sulcal depth gets grayMid.
func SulcGray(sulc, out []float32) {
	abs := make([]float32, 0, len(sulc))
	for _, v := range sulc {
		if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
			abs = append(abs, float32(math.Abs(float64(v))))
		}
	}
	var scale float32 = 1
	if len(abs) > 0 {
		slices.Sort(abs)
		if p := abs[int(0.95*float64(len(abs)-1))]; p > 0 {
			scale = p
		}
	}
	for i, v := range sulc {
		if math.IsNaN(float64(v)) {
			out[i] = grayMid
			continue
		}
		out[i] = grayMid - grayAmp*min(max(v/scale, -1), 1)
	}
}

// spatialOrder returns a vertex order along a Morton (Z-order) curve
// through the positions' bounding box, perm[j] = old index of new vertex j,
// and its inverse.
func spatialOrder(pos []float32) (perm, inv []uint32) {
	n := len(pos) / 3
	inf := float32(math.Inf(1))
	lo, hi := Vec3{inf, inf, inf}, Vec3{-inf, -inf, -inf}
	for i := range n {
		for k := range 3 {
			lo[k] = min(lo[k], pos[3*i+k])
			hi[k] = max(hi[k], pos[3*i+k])
		}
	}
	var scale Vec3
	for k := range 3 {
		if hi[k] > lo[k] {
			scale[k] = 1023 / (hi[k] - lo[k])
		}
	}
	codes := make([]uint64, n)
	for i := range n {
		var c uint64
		for k := range 3 {
			q := uint64(min(max((pos[3*i+k]-lo[k])*scale[k], 0), 1023)) // NaN → 0
			c |= spread3(q) << k
		}
		codes[i] = c<<32 | uint64(i)
	}
	slices.Sort(codes)
	perm, inv = make([]uint32, n), make([]uint32, n)
	for j, c := range codes {
		perm[j] = uint32(c)
		inv[uint32(c)] = uint32(j)
	}
	return perm, inv
}

// spread3 moves bit b of a 10-bit x to bit 3b.
func spread3(x uint64) uint64 {
	x &= 0x3ff
	x = (x | x<<16) & 0x30000ff
	x = (x | x<<8) & 0x300f00f
	x = (x | x<<4) & 0x30c30c3
	x = (x | x<<2) & 0x9249249
	return x
}

// renumberTriangles returns the triangles with vertex i renamed inv[i],
// ordered by their smallest new vertex index (each keeps its winding).
func renumberTriangles(tris, inv []uint32) []uint32 {
	nt := len(tris) / 3
	keys := make([]uint64, nt)
	for t := range nt {
		a, b, c := inv[tris[3*t]], inv[tris[3*t+1]], inv[tris[3*t+2]]
		keys[t] = uint64(min(a, b, c))<<32 | uint64(t)
	}
	slices.Sort(keys)
	out := make([]uint32, 3*nt)
	for j, k := range keys {
		t := uint32(k)
		out[3*j], out[3*j+1], out[3*j+2] = inv[tris[3*t]], inv[tris[3*t+1]], inv[tris[3*t+2]]
	}
	return out
}

// clusterSize is the number of consecutive triangles or vertices (near
// each other in space after spatialOrder) culled together.
const clusterSize = 64

// normalBox bounds quantised normals: the minima, then the maxima, of the
// x, y and z components.
type normalBox [6]int8

func emptyNormalBox() normalBox { return normalBox{127, 127, 127, -127, -127, -127} }

func (b *normalBox) add(q []int8) {
	for k := range 3 {
		b[k] = min(b[k], q[k])
		b[3+k] = max(b[3+k], q[k])
	}
}

// facesAway reports whether every normal q in the box has
// q·fwd > backFaceEps (with a margin for rounding), so that cullAndKey
// would drop every triangle with such a normal. An empty box faces away.
func (b *normalBox) facesAway(fwd Vec3) bool {
	var lo float32 // the smallest q·fwd over the box
	for k := range 3 {
		if fwd[k] >= 0 {
			lo += float32(b[k]) * fwd[k]
		} else {
			lo += float32(b[3+k]) * fwd[k]
		}
	}
	return lo > backFaceEps+0.01
}
