package render

import (
	"fmt"
	"math"
	"slices"
	"time"

	"cortexcast/meshes"
)

// Screen layout in pixels at text scale 1.
const (
	TitleBand = 24 // top band for the title
	BarBand   = 48 // bottom band for the colorbar and its labels
	BarHeight = 12
)

// Model is the viewer's state without drawing: the prepared meshes, the
// overlays, the color range, the camera and the screen layout. Prepare
// brings the vertex buffer up to date; it recomputes projection and order
// only when the camera or the screen changed, colors only when the overlay,
// range or colormap changed, and allocates nothing (but for growing the
// draw list the first time a view needs more vertices than any before:
// its buffers start at the usual size for the mesh). A Model is not safe for
// concurrent use.
type Model struct {
	b       *meshes.Bundle
	sc      *scene
	surf    int
	classes []string
	shown   []bool
	thresh  float32
	opacity float32
	oneSide bool
	nVert   [2]int
	cam     Camera
	mode    LayoutMode
	overlay [2][]float32
	hasOver [2]bool
	cmap    *Colormap
	vmin    float32
	vmax    float32
	auto    bool

	screenW, screenH int
	textScale        float32
	area, bar        Rect

	// dirty says what each scene (0: sc, 1: lod) must redo at its next
	// Prepare.
	dirty [2]dirt

	// Level of detail while the camera moves (lod.go): lod is the scene
	// of the next coarser mesh level (nil when the meshes are not
	// subdivided icosahedra of at least lodMin triangles per hemisphere,
	// or the flat map is shown), view the scene drawn, moved when the
	// camera last changed, now the clock.
	lodOn  bool
	lod    *scene
	view   *scene
	lodMin int
	moved  time.Time
	now    func() time.Time
}

// dirt is a set of what a scene must redo.
type dirt uint8

const (
	dirtGeom  dirt = 1 << iota // camera or screen: projection, order, draw list
	dirtColor                  // overlay, range or colormap: colors, draw list
	dirtOut                    // shown outlines
)

// lodMinTriangles is the fewest triangles per hemisphere for which a
// Model draws the coarser level while the camera moves: full fsaverage
// (327,680) but not fsaverage6 or fsaverage5, which are fast enough.
const lodMinTriangles = 1 << 17

// motionSettle is how long the camera must rest before the full mesh is
// drawn again after coarser frames.
const motionSettle = 200 * time.Millisecond

// mark makes both scenes redo d.
func (m *Model) mark(d dirt) {
	m.dirty[0] |= d
	m.dirty[1] |= d
}

// cameraMoved marks a camera change: geometry, and the time for the level
// of detail.
func (m *Model) cameraMoved() {
	m.mark(dirtGeom)
	m.moved = m.now()
}

// NewModel returns a model of b (nil: no mesh yet) from the default view,
// with the RdBu_r colormap, an automatic range and an 800×600 screen.
func NewModel(b *meshes.Bundle) *Model {
	cm, _ := ColormapByName("RdBu_r")
	m := &Model{cmap: cm, auto: true, vmin: -1, vmax: 1, screenW: 800, screenH: 600, textScale: 1, opacity: 1, lodMin: lodMinTriangles, now: time.Now}
	m.cam, _ = PresetCamera("default")
	m.SetBundle(b)
	return m
}

// SetBundle replaces the meshes and clears the overlays; the surface
// kind stays when the bundle has it. The ROI classes are those of either
// hemisphere, in the left hemisphere's order; all start hidden. A bundle
// with more than MaxSceneVertices vertices is not shown (Ready reports
// false).
func (m *Model) SetBundle(b *meshes.Bundle) {
	if b != nil && b.Hemis[0].NumVertices+b.Hemis[1].NumVertices > MaxSceneVertices {
		b = nil
	}
	m.b = b
	m.sc, m.lod, m.view = nil, nil, nil
	m.nVert = [2]int{}
	m.overlay = [2][]float32{}
	m.hasOver = [2]bool{}
	m.classes, m.shown = nil, nil
	m.mark(dirtGeom | dirtColor | dirtOut)
	if b == nil {
		return
	}
	for h := range 2 {
		m.nVert[h] = b.Hemis[h].NumVertices
		m.overlay[h] = make([]float32, m.nVert[h])
		for _, lm := range b.Hemis[h].Labels {
			if !slices.Contains(m.classes, lm.Class) {
				m.classes = append(m.classes, lm.Class)
			}
		}
	}
	m.shown = make([]bool, len(m.classes))
	m.buildScene()
}

// buildScene prepares the current surface kind of both hemispheres.
func (m *Model) buildScene() {
	b := m.b
	s0, k0 := newSurface(&b.Hemis[0], m.surf)
	s1, k1 := newSurface(&b.Hemis[1], k0)
	if k1 != k0 { // the right hemisphere lacks it: both inflated
		s0, k0 = newSurface(&b.Hemis[0], k1)
	}
	m.surf = k0
	m.sc = m.newScene(s0, s1, [2]*meshes.HemiMesh{&b.Hemis[0], &b.Hemis[1]})
	m.view, m.lod = m.sc, nil
	if m.surf != meshes.SurfFlat && min(s0.numTriangles(), s1.numTriangles()) >= m.lodMin {
		c0, ok0 := coarserHemi(&b.Hemis[0])
		c1, ok1 := coarserHemi(&b.Hemis[1])
		if ok0 && ok1 {
			l0, _ := newSurface(c0, m.surf)
			l1, _ := newSurface(c1, m.surf)
			m.lod = m.newScene(l0, l1, [2]*meshes.HemiMesh{c0, c1})
		}
	}
	m.mark(dirtGeom | dirtColor | dirtOut)
}

// newScene returns the scene of two prepared surfaces with the ROI classes
// of their meshes.
func (m *Model) newScene(s0, s1 *surface, hm [2]*meshes.HemiMesh) *scene {
	sc := newScene(s0, s1)
	for h, s := range sc.surf {
		sc.roi[h] = make([]*roiClass, len(m.classes))
		for ci, name := range m.classes {
			sc.roi[h][ci] = newROIClass(hm[h].Label(name), s)
		}
	}
	return sc
}

// SetMotionLOD turns the level of detail on or off: when on, and the
// meshes are large subdivided icosahedra (full fsaverage), Prepare draws
// the next coarser level (fsaverage6: the same vertices at the same places
// with their own values, a quarter of the triangles) while the camera
// moves, and the full mesh once it has rested for motionSettle. Pick and
// VertexScreen then see only the coarser level's vertices. Off by default.
func (m *Model) SetMotionLOD(on bool) { m.lodOn = on }

// MotionLOD reports whether the level of detail is on.
func (m *Model) MotionLOD() bool { return m.lodOn }

// Coarse reports whether the last Prepare drew the coarser level.
func (m *Model) Coarse() bool { return m.view != nil && m.view == m.lod }

// SetSurface selects the surface kind drawn (meshes.SurfInflated…
// SurfFlat). A kind the bundle lacks draws the inflated surface; Surface
// says which one is drawn. Choosing the flat map turns the camera to look
// at it from above (the "dorsal" preset), leaving it returns to the
// default view; both keep the zoom.
func (m *Model) SetSurface(kind int) error {
	if kind < 0 || kind >= meshes.NumSurfaces {
		return fmt.Errorf("viewer: surface kind %d, want 0..%d", kind, meshes.NumSurfaces-1)
	}
	if kind == m.surf && m.sc != nil {
		return nil
	}
	wasFlat := m.surf == meshes.SurfFlat
	m.surf = kind
	if m.b != nil {
		m.buildScene()
	}
	switch {
	case m.surf == meshes.SurfFlat:
		_ = m.SetView("dorsal")
	case wasFlat:
		_ = m.SetView("default")
	}
	return nil
}

// Surface returns the surface kind drawn.
func (m *Model) Surface() int { return m.surf }

// ROIClasses returns the names of the bundle's ROI classes.
func (m *Model) ROIClasses() []string { return m.classes }

// SetROIVisible shows or hides the outlines and labels of an ROI class;
// it reports whether the class exists.
func (m *Model) SetROIVisible(class string, on bool) bool {
	i := slices.Index(m.classes, class)
	if i < 0 {
		return false
	}
	if m.shown[i] != on {
		m.shown[i] = on
		m.mark(dirtOut)
	}
	return true
}

// ROIVisible reports whether the class's outlines are shown.
func (m *Model) ROIVisible(class string) bool {
	i := slices.Index(m.classes, class)
	return i >= 0 && m.shown[i]
}

// SetThreshold hides overlay values with |value| < t (the underlay shows
// instead); t ≤ 0 shows every value.
func (m *Model) SetThreshold(t float32) {
	if math.IsNaN(float64(t)) || t < 0 {
		t = 0
	}
	m.thresh = t
	m.mark(dirtColor)
}

// Threshold returns the overlay threshold.
func (m *Model) Threshold() float32 { return m.thresh }

// SetOpacity sets the overlay's opacity over the underlay, clamped to
// [0, 1].
func (m *Model) SetOpacity(a float32) {
	if math.IsNaN(float64(a)) {
		a = 1
	}
	m.opacity = min(max(a, 0), 1)
	m.mark(dirtColor)
}

// Opacity returns the overlay opacity.
func (m *Model) Opacity() float32 { return m.opacity }

// SetSymmetric chooses the automatic range: symmetric about zero
// (±max|value|, the default) or one-sided ([min, max]).
func (m *Model) SetSymmetric(on bool) {
	m.oneSide = !on
	m.mark(dirtColor)
}

// Symmetric reports whether the automatic range is symmetric.
func (m *Model) Symmetric() bool { return !m.oneSide }

// Ready reports whether a mesh is loaded.
func (m *Model) Ready() bool { return m.sc != nil }

// NumTriangles returns the number of triangles of both hemispheres.
func (m *Model) NumTriangles() int {
	if m.sc == nil {
		return 0
	}
	return m.sc.numTriangles()
}

// SetOverlay copies values (one per vertex of hemisphere hemi; NaN = no
// data) as that hemisphere's overlay.
func (m *Model) SetOverlay(hemi int, values []float32) error {
	if m.sc == nil {
		return fmt.Errorf("viewer: set overlay: no mesh loaded")
	}
	if hemi != meshes.LH && hemi != meshes.RH {
		return fmt.Errorf("viewer: set overlay: hemisphere %d, want %d (lh) or %d (rh)", hemi, meshes.LH, meshes.RH)
	}
	if len(values) != m.nVert[hemi] {
		return fmt.Errorf("viewer: set overlay %s: %d values, the mesh has %d vertices", meshes.HemiName(hemi), len(values), m.nVert[hemi])
	}
	copy(m.overlay[hemi], values)
	m.hasOver[hemi] = true
	m.mark(dirtColor)
	return nil
}

// ClearOverlay removes both overlays.
func (m *Model) ClearOverlay() {
	m.hasOver = [2]bool{}
	m.mark(dirtColor)
}

// HasOverlay reports whether either hemisphere has an overlay.
func (m *Model) HasOverlay() bool { return m.hasOver[0] || m.hasOver[1] }

// SetRange fixes the values at the ends of the colormap. vmin ≥ vmax or a
// non-finite end returns to the automatic range: ±max|value| for diverging
// colormaps, [min, max] for viridis.
func (m *Model) SetRange(vmin, vmax float32) {
	finite := !math.IsNaN(float64(vmin)) && !math.IsNaN(float64(vmax)) && !math.IsInf(float64(vmin), 0) && !math.IsInf(float64(vmax), 0)
	m.auto = !(finite && vmin < vmax)
	if !m.auto {
		m.vmin, m.vmax = vmin, vmax
	}
	m.mark(dirtColor)
}

// Range returns the values at the ends of the colormap.
func (m *Model) Range() (vmin, vmax float32) {
	m.updateRange()
	return m.vmin, m.vmax
}

// SetColormap selects the overlay colormap (nil is ignored).
func (m *Model) SetColormap(c *Colormap) {
	if c != nil {
		m.cmap = c
		m.mark(dirtColor)
	}
}

// Colormap returns the overlay colormap.
func (m *Model) Colormap() *Colormap { return m.cmap }

// Camera returns the (left hemisphere) camera.
func (m *Model) Camera() Camera { return m.cam }

// SetCamera sets the camera, wrapping azimuth and clamping elevation and
// zoom.
func (m *Model) SetCamera(c Camera) {
	m.cam = Camera{Azimuth: wrapDegrees(c.Azimuth), Elevation: min(max(c.Elevation, -90), 90), Zoom: 1}.Zoomed(c.Zoom)
	m.cameraMoved()
}

// SetView moves the camera to a preset, keeping the zoom.
func (m *Model) SetView(name string) error {
	c, err := PresetCamera(name)
	if err != nil {
		return err
	}
	c.Zoom = m.cam.Zoom
	m.SetCamera(c)
	return nil
}

// Reset returns to the default view and zoom.
func (m *Model) Reset() {
	c, _ := PresetCamera("default")
	m.SetCamera(c)
}

// Orbit turns the camera by a drag of (dx, dy) screen pixels that started
// at (x, y): a drag across the shorter side of the drawing area turns it by
// 180°. In LayoutPanels a drag in the right hemisphere's (mirrored) panel
// turns the other way, so that the surface under the pointer follows it.
func (m *Model) Orbit(x, y, dx, dy float32) {
	if dx == 0 && dy == 0 {
		return
	}
	m.layoutBands()
	unit := 180 / max(1, min(m.area.W, m.area.H))
	if m.mode == LayoutPanels && m.sc != nil {
		m.sc.setViewports(m.mode, m.area, m.cam)
		if m.sc.clip[1].Contains(x, y) {
			dx = -dx
		}
	}
	m.cam = m.cam.Orbit(-dx*unit, dy*unit)
	m.cameraMoved()
}

// Zoom multiplies the zoom by f.
func (m *Model) Zoom(f float32) {
	m.cam = m.cam.Zoomed(f)
	m.cameraMoved()
}

// SetLayoutMode selects panels or one shared scene.
func (m *Model) SetLayoutMode(mode LayoutMode) {
	m.mode = mode
	m.mark(dirtGeom)
}

// SetScreen sets the screen size in pixels and the integer text scale.
func (m *Model) SetScreen(w, h int, textScale float32) {
	if w != m.screenW || h != m.screenH || textScale != m.textScale {
		m.screenW, m.screenH, m.textScale = w, h, max(1, textScale)
		m.mark(dirtGeom)
	}
}

// Screen returns the screen size and text scale.
func (m *Model) Screen() (w, h int, textScale float32) { return m.screenW, m.screenH, m.textScale }

// layoutBands splits the screen into the title band, the drawing area and
// the colorbar band (dropped on very small screens).
func (m *Model) layoutBands() {
	s := m.textScale
	w, h := float32(m.screenW), float32(m.screenH)
	top, bottom := TitleBand*s, BarBand*s
	if top+bottom > h/2 {
		top, bottom = 0, 0
	}
	m.area = Rect{X: 0, Y: top, W: w, H: max(1, h-top-bottom)}
	bw := min(w*0.5, 480*s)
	m.bar = Rect{X: (w - bw) / 2, Y: h - bottom + 6*s, W: bw, H: BarHeight * s}
}

// BarRect returns where the colorbar goes.
func (m *Model) BarRect() Rect {
	m.layoutBands()
	return m.bar
}

// Panels returns the drawing rectangle of each hemisphere (both the whole
// area in LayoutScene). Valid after Prepare.
func (m *Model) Panels() [2]Rect {
	if m.view == nil {
		return [2]Rect{m.area, m.area}
	}
	return m.view.clip
}

// Mode returns the layout mode.
func (m *Model) Mode() LayoutMode { return m.mode }

// updateRange computes the automatic range when it is on.
func (m *Model) updateRange() {
	if !m.auto {
		return
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for h := range 2 {
		if !m.hasOver[h] {
			continue
		}
		for _, x := range m.overlay[h] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				continue
			}
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	switch {
	case lo > hi:
		m.vmin, m.vmax = -1, 1
	case m.oneSide || m.cmap.Name() == "viridis":
		if lo == hi {
			lo, hi = lo-1, hi+1
		}
		m.vmin, m.vmax = lo, hi
	default:
		a := max(-lo, hi)
		if a <= 0 {
			a = 1
		}
		m.vmin, m.vmax = -a, a
	}
}

// Prepare brings the vertex buffer up to date and reports whether it
// changed.
func (m *Model) Prepare() bool {
	if m.sc == nil {
		return false
	}
	sc, i := m.sc, 0
	if m.lod != nil && m.lodOn && m.now().Sub(m.moved) < motionSettle {
		sc, i = m.lod, 1
	}
	changed := m.view != sc
	m.view = sc
	d := m.dirty[i]
	if d == 0 {
		return changed
	}
	m.dirty[i] = 0
	if d == dirtOut {
		m.fillOutlines(sc)
		return true
	}
	if d&dirtColor != 0 {
		m.updateRange()
		for h := range 2 {
			var ov []float32
			if m.hasOver[h] {
				ov = m.overlay[h]
			}
			sc.setBase(h, ov, m.cmap, m.vmin, m.vmax, m.thresh, m.opacity)
		}
	}
	if d&dirtGeom != 0 {
		m.layoutBands()
		sc.setViewports(m.mode, m.area, m.cam)
		sc.project() // positions and shaded colors
		sc.sortVisible(m.mode)
	} else {
		sc.colorize()
	}
	sc.fill()
	if d&(dirtGeom|dirtOut) != 0 {
		m.fillOutlines(sc)
	}
	return true
}

// DrawList returns the draw list after Prepare: vertices, uint16 indices
// and the chunks to pass to one DrawTriangles call each, in drawing order
// (back to front). It stays valid until the next Prepare.
func (m *Model) DrawList() (verts []Vertex, indices []uint16, chunks []Chunk) {
	if m.view == nil {
		return nil, nil, nil
	}
	return m.view.verts, m.view.idx, m.view.chunks
}

// Drawn returns the number of visible triangles after Prepare.
func (m *Model) Drawn() int {
	if m.view == nil {
		return 0
	}
	return m.view.segEnd[1]
}

// fillOutlines rebuilds the outline draw list and labels of sc.
func (m *Model) fillOutlines(sc *scene) {
	// Regions smaller than this many visible vertices get no label.
	labelMin := max(1, sc.surf[0].n/1000)
	sc.fillOutlines(m.shown, 0.75*m.textScale, labelMin)
}

// Outlines returns the ROI outline draw list after Prepare (quads, in
// chunks like DrawList's) and the labels of the shown classes.
func (m *Model) Outlines() (verts []Vertex, indices []uint16, chunks []Chunk, labels []Label) {
	if m.view == nil {
		return nil, nil, nil, nil
	}
	return m.view.lverts, m.view.lidx, m.view.lchunks, m.view.labels
}

// Pick returns the visible vertex whose projection is nearest to the
// screen point (x, y), within maxDist pixels, after Prepare: its
// hemisphere and index, and ok false when there is none.
func (m *Model) Pick(x, y, maxDist float32) (hemi, vertex int, ok bool) {
	sc := m.view
	if sc == nil {
		return 0, 0, false
	}
	best := maxDist * maxDist
	hemi, vertex = -1, -1
	for h := range 2 {
		if m.mode == LayoutPanels && !sc.clip[h].Contains(x, y) {
			continue
		}
		rec, slot := sc.rec[h], sc.slot[sc.first[h]:][:len(sc.rec[h])]
		for i := range rec {
			if slot[i]>>16 < sc.frameGen { // not visible
				continue
			}
			r := &rec[i]
			dx, dy := r.x-x, r.y-y
			if d := dx*dx + dy*dy; d <= best {
				// Equal distances: the nearer one to the camera wins.
				if d == best && vertex >= 0 && r.depth >= sc.rec[hemi][vertex].depth {
					continue
				}
				best, hemi, vertex = d, h, i
			}
		}
	}
	if vertex < 0 {
		return 0, 0, false
	}
	return hemi, int(sc.surf[hemi].perm[vertex]), true
}

// VertexScreen returns where vertex v of hemisphere h is drawn after
// Prepare, and whether it is visible.
func (m *Model) VertexScreen(h, v int) (x, y float32, visible bool) {
	sc := m.view
	if sc == nil || h < 0 || h > 1 || v < 0 || v >= len(sc.rec[h]) {
		return 0, 0, false
	}
	i := sc.surf[h].inv[v]
	return sc.rec[h][i].x, sc.rec[h][i].y, sc.visible(h, int(i))
}

// VertexInfo describes one vertex for a readout.
type VertexInfo struct {
	Hemi, Vertex int
	// Value is the overlay value (NaN: none).
	Value float32
	// ROIs lists "class: name" for every ROI class whose label at the
	// vertex is not 0.
	ROIs []string
}

// Info returns the readout of vertex v of hemisphere h.
func (m *Model) Info(h, v int) VertexInfo {
	info := VertexInfo{Hemi: h, Vertex: v, Value: float32(math.NaN())}
	if m.sc == nil || h < 0 || h > 1 || v < 0 || v >= m.nVert[h] {
		return info
	}
	if m.hasOver[h] {
		info.Value = m.overlay[h][v]
	}
	for ci, c := range m.sc.roi[h] {
		if c == nil {
			continue
		}
		if k := c.values[m.sc.surf[h].inv[v]]; k != 0 {
			info.ROIs = append(info.ROIs, m.classes[ci]+": "+c.name(k))
		}
	}
	return info
}
