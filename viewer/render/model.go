package render

import (
	"fmt"
	"math"

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
// range or colormap changed, and allocates nothing. A Model is not safe for
// concurrent use.
type Model struct {
	sc      *scene
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

	geomDirty, colorDirty bool
}

// NewModel returns a model of b (nil: no mesh yet) from the default view,
// with the RdBu_r colormap, an automatic range and an 800×600 screen.
func NewModel(b *meshes.Bundle) *Model {
	cm, _ := ColormapByName("RdBu_r")
	m := &Model{cmap: cm, auto: true, vmin: -1, vmax: 1, screenW: 800, screenH: 600, textScale: 1}
	m.cam, _ = PresetCamera("default")
	m.SetBundle(b)
	return m
}

// SetBundle replaces the meshes and clears the overlays.
func (m *Model) SetBundle(b *meshes.Bundle) {
	m.sc = nil
	m.nVert = [2]int{}
	m.overlay = [2][]float32{}
	m.hasOver = [2]bool{}
	m.geomDirty, m.colorDirty = true, true
	if b == nil {
		return
	}
	m.sc = newScene(newSurface(&b.Hemis[0]), newSurface(&b.Hemis[1]))
	for h := range 2 {
		m.nVert[h] = b.Hemis[h].NumVertices
		m.overlay[h] = make([]float32, m.nVert[h])
	}
}

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
	m.colorDirty = true
	return nil
}

// ClearOverlay removes both overlays.
func (m *Model) ClearOverlay() {
	m.hasOver = [2]bool{}
	m.colorDirty = true
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
	m.colorDirty = true
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
		m.colorDirty = true
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
	m.geomDirty = true
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
	m.geomDirty = true
}

// Zoom multiplies the zoom by f.
func (m *Model) Zoom(f float32) {
	m.cam = m.cam.Zoomed(f)
	m.geomDirty = true
}

// SetLayoutMode selects panels or one shared scene.
func (m *Model) SetLayoutMode(mode LayoutMode) {
	m.mode = mode
	m.geomDirty = true
}

// SetScreen sets the screen size in pixels and the integer text scale.
func (m *Model) SetScreen(w, h int, textScale float32) {
	if w != m.screenW || h != m.screenH || textScale != m.textScale {
		m.screenW, m.screenH, m.textScale = w, h, max(1, textScale)
		m.geomDirty = true
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
	if m.sc == nil {
		return [2]Rect{m.area, m.area}
	}
	return m.sc.clip
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
	case m.cmap.Name() == "viridis":
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
	sc := m.sc
	if sc == nil || !(m.geomDirty || m.colorDirty) {
		return false
	}
	if m.colorDirty {
		m.updateRange()
		for h := range 2 {
			var ov []float32
			if m.hasOver[h] {
				ov = m.overlay[h]
			}
			sc.setBase(h, ov, m.cmap, m.vmin, m.vmax)
		}
	}
	if m.geomDirty {
		m.layoutBands()
		sc.setViewports(m.mode, m.area, m.cam)
		sc.project()
		sc.sortVisible(m.mode)
	}
	sc.colorize()
	sc.fill()
	m.geomDirty, m.colorDirty = false, false
	return true
}

// DrawList returns the draw list after Prepare: vertices, uint16 indices
// and the chunks to pass to one DrawTriangles call each, in drawing order
// (back to front). It stays valid until the next Prepare.
func (m *Model) DrawList() (verts []Vertex, indices []uint16, chunks []Chunk) {
	if m.sc == nil {
		return nil, nil, nil
	}
	return m.sc.verts, m.sc.idx, m.sc.chunks
}

// Drawn returns the number of visible triangles after Prepare.
func (m *Model) Drawn() int {
	if m.sc == nil {
		return 0
	}
	return m.sc.segEnd[1]
}
