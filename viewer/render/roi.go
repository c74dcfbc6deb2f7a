package render

import (
	"math"

	"cortexcast/meshes"
)

// EdgePoint is a point on a mesh: the mean of the positions of its first N
// (2 or 3) vertices V — an edge midpoint or a triangle centroid.
type EdgePoint struct {
	V [3]uint32
	N uint8
}

// Segment is a piece of an ROI outline inside triangle Tri, from A to B.
type Segment struct {
	A, B EdgePoint
	Tri  uint32
}

// BoundarySegments returns the outline between regions of a per-vertex
// labelling (0 = no region): in each triangle whose vertices carry
// different labels, a segment joins the midpoints of the two edges whose
// ends differ; a triangle with three different labels gets three segments
// from those edge midpoints to its centroid. The segments of all
// triangles form closed curves around each labelled region (the region's
// boundary is cut through the middle of the edges that leave it).
func BoundarySegments(tris []uint32, labels []uint16) []Segment {
	var out []Segment
	for t := range len(tris) / 3 {
		i := [3]uint32{tris[3*t], tris[3*t+1], tris[3*t+2]}
		l := [3]uint16{labels[i[0]], labels[i[1]], labels[i[2]]}
		if l[0] == l[1] && l[1] == l[2] {
			continue
		}
		mid := func(a, b int) EdgePoint { return EdgePoint{V: [3]uint32{i[a], i[b], 0}, N: 2} }
		// The edges opposite each vertex: e0 = (1,2), e1 = (2,0), e2 = (0,1).
		var cut []EdgePoint
		for _, e := range [3][2]int{{0, 1}, {1, 2}, {2, 0}} {
			if l[e[0]] != l[e[1]] {
				cut = append(cut, mid(e[0], e[1]))
			}
		}
		if len(cut) == 2 {
			out = append(out, Segment{A: cut[0], B: cut[1], Tri: uint32(t)})
			continue
		}
		c := EdgePoint{V: i, N: 3}
		for _, p := range cut {
			out = append(out, Segment{A: p, B: c, Tri: uint32(t)})
		}
	}
	return out
}

// roiClass is the outline and label data of one ROI class on one
// hemisphere, in the surface's vertex numbering.
type roiClass struct {
	segs     []Segment
	values   []uint16 // per vertex
	labelled []uint32 // the vertices whose value is not 0
	maxValue uint16
	names    []string
}

// newROIClass prepares a label map for a surface.
func newROIClass(lm *meshes.LabelMap, s *surface) *roiClass {
	if lm == nil || len(lm.Values) != s.n {
		return nil
	}
	c := &roiClass{values: make([]uint16, s.n), names: lm.Names}
	for j, i := range s.perm {
		k := lm.Values[i]
		c.values[j] = k
		if k != 0 {
			c.labelled = append(c.labelled, uint32(j))
			c.maxValue = max(c.maxValue, k)
		}
	}
	c.segs = BoundarySegments(s.tris, c.values)
	return c
}

// name returns the name of label k ("" for 0, "#k" when unnamed).
func (c *roiClass) name(k uint16) string {
	if k == 0 {
		return ""
	}
	if int(k) < len(c.names) && c.names[k] != "" {
		return c.names[k]
	}
	return "#" + itoa(int(k))
}

func itoa(k int) string {
	if k == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := k < 0
	if neg {
		k = -k
	}
	for k > 0 {
		i--
		b[i] = byte('0' + k%10)
		k /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// point returns the screen position of an edge point of hemisphere h.
func (sc *scene) point(h int, p EdgePoint) (x, y float32) {
	rec := sc.rec[h]
	for k := range p.N {
		r := &rec[p.V[k]]
		x += r.x
		y += r.y
	}
	return x / float32(p.N), y / float32(p.N)
}

// OutlineColor returns the outline color of the i-th ROI class (the
// colors repeat after seven classes).
func OutlineColor(i int) (r, g, b float32) {
	colors := [...][3]float32{
		{1, 1, 1}, {0.1, 0.1, 0.1}, {1, 0.85, 0.2}, {0.3, 1, 0.5}, {0.3, 0.9, 1}, {1, 0.5, 1}, {1, 0.6, 0.3},
	}
	c := colors[i%len(colors)]
	return c[0], c[1], c[2]
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// Label is an ROI name to draw centered at (X, Y).
type Label struct {
	Text string
	X, Y float32
	// Class is the index of the label's ROI class.
	Class int
}

// fillOutlines builds quads of the given half-width for the visible
// segments of the shown classes, and the label positions (the mean screen
// position of each region's visible vertices).
func (sc *scene) fillOutlines(shown []bool, halfW float32, labelMin int) {
	sc.lverts = sc.lverts[:0]
	sc.lidx = sc.lidx[:0]
	sc.lchunks = sc.lchunks[:0]
	sc.labels = sc.labels[:0]
	v0 := 0
	for h := range 2 {
		if n := len(sc.lchunks); n > 0 {
			sc.lchunks[n-1].V1, sc.lchunks[n-1].I1 = len(sc.lverts), len(sc.lidx)
		}
		v0 = len(sc.lverts)
		sc.lchunks = append(sc.lchunks, Chunk{Panel: h, V0: v0, I0: len(sc.lidx)})
		for ci, c := range sc.roi[h] {
			if c == nil || ci >= len(shown) || !shown[ci] {
				continue
			}
			r, g, b := OutlineColor(ci)
			for _, s := range c.segs {
				if !sc.front[h][s.Tri] {
					continue
				}
				if len(sc.lverts)-v0+4 > sc.maxChunk {
					cur := &sc.lchunks[len(sc.lchunks)-1]
					cur.V1, cur.I1 = len(sc.lverts), len(sc.lidx)
					v0 = len(sc.lverts)
					sc.lchunks = append(sc.lchunks, Chunk{Panel: h, V0: v0, I0: len(sc.lidx)})
				}
				ax, ay := sc.point(h, s.A)
				bx, by := sc.point(h, s.B)
				dx, dy := bx-ax, by-ay
				l := sqrt32(dx*dx + dy*dy)
				if l == 0 {
					continue
				}
				// Extend by half the width so that segments join without gaps.
				ux, uy := dx/l*halfW, dy/l*halfW
				nx, ny := -uy, ux
				base := uint16(len(sc.lverts) - v0)
				for _, p := range [4][2]float32{{ax - ux + nx, ay - uy + ny}, {ax - ux - nx, ay - uy - ny}, {bx + ux + nx, by + uy + ny}, {bx + ux - nx, by + uy - ny}} {
					sc.lverts = append(sc.lverts, Vertex{DstX: p[0], DstY: p[1], SrcX: sc.srcX, SrcY: sc.srcY, ColorR: r, ColorG: g, ColorB: b, ColorA: 1})
				}
				sc.lidx = append(sc.lidx, base, base+1, base+2, base+1, base+3, base+2)
			}
			sc.addLabels(h, ci, c, labelMin)
		}
	}
	cur := &sc.lchunks[len(sc.lchunks)-1]
	cur.V1, cur.I1 = len(sc.lverts), len(sc.lidx)
}

// addLabels appends the label of each region of class c on hemisphere h
// with at least labelMin visible vertices.
func (sc *scene) addLabels(h, ci int, c *roiClass, labelMin int) {
	n := max(len(c.names), int(c.maxValue)+1)
	if cap(sc.lsum) < 3*n {
		sc.lsum = make([]float32, 3*n)
	}
	sum := sc.lsum[:3*n]
	clear(sum)
	rec := sc.rec[h]
	for _, i := range c.labelled {
		if r := &rec[i]; sc.visible(h, int(i)) {
			k := c.values[i]
			sum[3*k] += r.x
			sum[3*k+1] += r.y
			sum[3*k+2]++
		}
	}
	for k := 1; k < n; k++ {
		if cnt := sum[3*k+2]; cnt >= float32(max(1, labelMin)) {
			sc.labels = append(sc.labels, Label{Text: c.name(uint16(k)), X: sum[3*k] / cnt, Y: sum[3*k+1] / cnt, Class: ci})
		}
	}
}
