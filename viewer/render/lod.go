package render

import "cortexcast/meshes"

// Level of detail while the camera moves. FreeSurfer's fsaverage meshes are
// subdivided icosahedra: the first (n−2)/4+2 vertices of a level are the
// vertices of the level below, and each coarse triangle (a, b, c) is split
// into 4 by the midpoints of its edges. Drawing the coarse level — the same
// vertices at the same places, with their own values, a quarter of the
// triangles — while the camera moves keeps full fsaverage interactive; the
// full mesh is drawn as soon as the camera rests (Model.SetMotionLOD).

// coarserTriangles returns the triangles of the next coarser level of an
// icosahedral mesh with n vertices (vertex indices below nc, the same
// winding), nc, and whether tris is such a mesh: every vertex from nc on is
// the midpoint of exactly one coarse edge (it has exactly 2 neighbours below
// nc) and the coarse triangles close into a sphere (2·nc − 4 of them).
func coarserTriangles(tris []uint32, n int) (coarse []uint32, nc int, ok bool) {
	if n < 42 || (n-2)%4 != 0 || len(tris)%3 != 0 {
		return nil, 0, false
	}
	nc = (n-2)/4 + 2
	// ends[2(v−nc)], ends[2(v−nc)+1]: the coarse neighbours of midpoint v.
	ends := make([]int32, 2*(n-nc))
	for i := range ends {
		ends[i] = -1
	}
	addEnd := func(mid, end uint32) bool {
		e := ends[2*(int(mid)-nc):][:2]
		switch {
		case e[0] == int32(end) || e[1] == int32(end):
		case e[0] < 0:
			e[0] = int32(end)
		case e[1] < 0:
			e[1] = int32(end)
		default:
			return false // a third coarse neighbour: not a midpoint
		}
		return true
	}
	for t := 0; t < len(tris); t += 3 {
		for k := range 3 {
			u, w := tris[t+k], tris[t+(k+1)%3]
			if int(u) >= n || int(w) >= n {
				return nil, 0, false
			}
			if int(u) >= nc && int(w) < nc && !addEnd(u, w) || int(w) >= nc && int(u) < nc && !addEnd(w, u) {
				return nil, 0, false
			}
		}
	}
	for _, e := range ends {
		if e < 0 {
			return nil, 0, false
		}
	}
	// other returns the end of midpoint m's edge that is not a.
	other := func(m, a uint32) (uint32, bool) {
		e := ends[2*(int(m)-nc):][:2]
		switch {
		case e[0] == int32(a):
			return uint32(e[1]), true
		case e[1] == int32(a):
			return uint32(e[0]), true
		}
		return 0, false
	}
	coarse = make([]uint32, 0, 3*(2*nc-4))
	for t := 0; t < len(tris); t += 3 {
		// A corner triangle (a, m1, m2) of coarse triangle (a, b, c):
		// one vertex below nc, m1 on ab and m2 on ac, in the same turn.
		for k := range 3 {
			a, m1, m2 := tris[t+k], tris[t+(k+1)%3], tris[t+(k+2)%3]
			if int(a) >= nc || int(m1) < nc || int(m2) < nc {
				continue
			}
			b, ok1 := other(m1, a)
			c, ok2 := other(m2, a)
			if !ok1 || !ok2 || b == c {
				return nil, 0, false
			}
			if a < b && a < c { // each coarse triangle once, from its lowest corner
				coarse = append(coarse, a, b, c)
			}
		}
	}
	if len(coarse) != 3*(2*nc-4) {
		return nil, 0, false
	}
	return coarse, nc, true
}

// coarserHemi returns the next coarser level of h (see coarserTriangles)
// for the closed surfaces: positions, sulcal depth, curvature and labels of
// its first vertices, and no flat map. It shares h's arrays.
func coarserHemi(h *meshes.HemiMesh) (*meshes.HemiMesh, bool) {
	tris, nc, ok := coarserTriangles(h.Triangles, h.NumVertices)
	if !ok {
		return nil, false
	}
	sub := func(x []float32, per int) []float32 {
		if len(x) < per*nc {
			return nil
		}
		return x[: per*nc : per*nc]
	}
	c := &meshes.HemiMesh{
		NumVertices: nc,
		Inflated:    sub(h.Inflated, 3),
		Pial:        sub(h.Pial, 3),
		White:       sub(h.White, 3),
		Sphere:      sub(h.Sphere, 3),
		Triangles:   tris,
		Sulc:        sub(h.Sulc, 1),
		Curv:        sub(h.Curv, 1),
	}
	if len(c.Inflated) != 3*nc || len(c.Sulc) != nc {
		return nil, false
	}
	for _, lm := range h.Labels {
		if len(lm.Values) == h.NumVertices {
			c.Labels = append(c.Labels, meshes.LabelMap{Class: lm.Class, Names: lm.Names, Values: lm.Values[:nc:nc]})
		}
	}
	return c, true
}
