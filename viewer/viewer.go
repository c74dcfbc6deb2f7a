// Package viewer is the Ebiten brain viewer: it draws both hemispheres of
// an inflated cortical surface with a sulcal-depth underlay and an optional
// per-vertex overlay (colormap, range, colorbar) and a title, with an orbit
// camera driven by mouse, wheel, touch and keyboard. It builds natively and
// for js/wasm.
//
// Ebiten has no depth buffer here, so back faces are culled and triangles
// sorted back to front whenever the camera changes (package render does
// that, without Ebiten); each frame only replays preallocated vertex
// buffers in DrawTriangles calls of fewer than 65536 vertices.
//
// Natively on Linux, Ebiten needs an X display as soon as it is imported
// (it panics in its init without DISPLAY): tests of the drawing-free logic
// live in package render.
package viewer

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"

	"cortexcast/meshes"
	"cortexcast/viewer/render"
)

// render.Vertex must have ebiten.Vertex's fields, in order: this
// conversion does not compile otherwise.
var _ = ebiten.Vertex(render.Vertex{})

const (
	barSegments = 64
	// Text sizes in pixels at text scale 1 (Go Regular, the one face the
	// viewer uses: a second family would add to the download).
	labelPx = 14
	roiPx   = 12
)

// Viewer is an ebiten.Game that shows a mesh bundle. All exported methods
// are safe to call from any goroutine (for example a websocket reader)
// while ebiten runs Update and Draw.
type Viewer struct {
	mu       sync.Mutex
	m        *render.Model
	title    string
	devScale float64
	barDirty bool

	// Input state.
	dragging     bool
	dragX, dragY float32 // where the drag started
	lastX, lastY int
	touchBuf     []ebiten.TouchID
	touchPrev    [2]ebiten.TouchID
	touchPos     [2][2]float32
	touchStart   [2]float32
	touchCount   int
	cursorX      int
	cursorY      int
	hoverOK      bool
	hover        render.VertexInfo
	pinned       bool
	pin          [2]int  // hemisphere, vertex
	autoRotate   float32 // degrees per second
	textMul      float32 // large type: 2
	offX, offY   float64 // where the canvas starts in the window, in window pixels
	barText      string
	exportFn     func(*image.RGBA)
	inputOff     bool // camera input ignored (a linked second view)

	// Ebiten resources, created on the first Draw.
	white      *ebiten.Image
	whiteSub   *ebiten.Image
	triOpts    ebiten.DrawTrianglesOptions
	imgOpts    ebiten.DrawImageOptions
	background color.Color
	clipFor    *ebiten.Image
	clipRect   [2]image.Rectangle
	clipImg    [2]*ebiten.Image
	barVerts   []ebiten.Vertex
	barIdx     []uint16
	labels     [6]textLabel // title, min, mid, max, message, bar label
	midAt      float32      // position of the mid label along the bar, 0..1
	roiLabels  map[string]*textLabel
	font       *opentype.Font
	faceScale  float32 // text scale the faces were made for
	labelFace  *text.GoXFace
	roiFace    *text.GoXFace
	placed     []render.Rect // label boxes drawn this frame
	markVerts  []ebiten.Vertex
	markIdx    []uint16
	offscreen  *ebiten.Image
}

// Label slots.
const (
	lblTitle = iota
	lblMin
	lblMid
	lblMax
	lblMessage
	lblBar
)

// New returns a viewer showing b (nil: nothing yet, see SetBundle) from the
// default posterior-lateral view, each hemisphere in its own panel, with
// the RdBu_r colormap and an automatic symmetric range.
func New(b *meshes.Bundle) *Viewer {
	m := render.NewModel(b)
	// Full fsaverage draws its fsaverage6 level while the camera moves (a
	// quarter of the triangles: drag frames in a few ms) and the full mesh
	// once the camera rests; smaller meshes are always drawn in full.
	m.SetMotionLOD(true)
	return &Viewer{
		m:          m,
		devScale:   1,
		textMul:    1,
		barDirty:   true,
		touchBuf:   make([]ebiten.TouchID, 0, 16),
		background: color.RGBA{R: 20, G: 22, B: 28, A: 255},
	}
}

// SetBundle replaces the meshes (and clears any overlay).
func (v *Viewer) SetBundle(b *meshes.Bundle) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetBundle(b)
	v.barDirty = true
}

// Ready reports whether a mesh is loaded.
func (v *Viewer) Ready() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.Ready()
}

// Stats returns the number of triangles drawn for the current camera and
// screen (the front-facing ones), and whether an overlay is shown.
func (v *Viewer) Stats() (drawnTriangles int, hasOverlay bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.Prepare()
	return v.m.Drawn(), v.m.HasOverlay()
}

// SetOverlay shows values (one per vertex of hemisphere hemi, meshes.LH or
// meshes.RH; NaN = no data, underlay only) on that hemisphere. The values
// are copied. It fails when no mesh is loaded or the length is wrong.
func (v *Viewer) SetOverlay(hemi int, values []float32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.barDirty = true
	return v.m.SetOverlay(hemi, values)
}

// ClearOverlay removes the overlays of both hemispheres.
func (v *Viewer) ClearOverlay() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.ClearOverlay()
	v.barDirty = true
}

// SetRange fixes the values mapped to the ends of the colormap. A range
// with vmin ≥ vmax or a non-finite end returns to the automatic range:
// ±max|value| for diverging colormaps, [min, max] for viridis.
func (v *Viewer) SetRange(vmin, vmax float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetRange(vmin, vmax)
	v.barDirty = true
}

// Range returns the values currently mapped to the ends of the colormap.
func (v *Viewer) Range() (vmin, vmax float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.Range()
}

// SetColormap selects the overlay colormap (see render.ColormapByName).
func (v *Viewer) SetColormap(c *render.Colormap) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetColormap(c)
	v.barDirty = true
}

// SetTitle sets the line shown at the top.
func (v *Viewer) SetTitle(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.title = s
}

// SetView moves the camera to a preset (render.ViewNames: "lateral",
// "medial", "dorsal", "ventral", "anterior", "posterior", "default"),
// keeping the zoom.
func (v *Viewer) SetView(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.SetView(name)
}

// Reset returns to the default view and zoom.
func (v *Viewer) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.Reset()
}

// SetLayoutMode selects render.LayoutPanels (default) or render.LayoutScene.
func (v *Viewer) SetLayoutMode(mode render.LayoutMode) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetLayoutMode(mode)
}

// Camera returns the current (left hemisphere) camera.
func (v *Viewer) Camera() render.Camera {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.Camera()
}

// SetCamera sets the camera.
func (v *Viewer) SetCamera(c render.Camera) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetCamera(c)
}

// SetSurface selects the surface drawn by name ("inflated", "pial",
// "white", "sphere", "flat"); a surface the bundle lacks draws the
// inflated one (see Surface).
func (v *Viewer) SetSurface(name string) error {
	for k := range meshes.NumSurfaces {
		if meshes.SurfaceName(k) == name {
			v.mu.Lock()
			defer v.mu.Unlock()
			return v.m.SetSurface(k)
		}
	}
	return fmt.Errorf("viewer: unknown surface %q", name)
}

// Surface returns the name of the surface drawn.
func (v *Viewer) Surface() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return meshes.SurfaceName(v.m.Surface())
}

// SetThreshold hides overlay values with |value| < t.
func (v *Viewer) SetThreshold(t float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetThreshold(t)
}

// SetOpacity sets the overlay opacity (0..1).
func (v *Viewer) SetOpacity(a float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetOpacity(a)
}

// SetSymmetric chooses a symmetric (true) or one-sided automatic range.
func (v *Viewer) SetSymmetric(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.SetSymmetric(on)
	v.barDirty = true
}

// ROIClasses returns the names of the bundle's ROI classes.
func (v *Viewer) ROIClasses() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.m.ROIClasses()...)
}

// SetROIVisible shows or hides the outlines and labels of an ROI class.
func (v *Viewer) SetROIVisible(class string, on bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m.SetROIVisible(class, on)
}

// SetBarLabel sets the line under the colorbar (the map's kind and units).
func (v *Viewer) SetBarLabel(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.barText = s
}

// SetAutoRotate turns the camera by degPerSec degrees of azimuth per
// second while nobody drags (0 stops).
func (v *Viewer) SetAutoRotate(degPerSec float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.autoRotate = degPerSec
}

// Readout returns the vertex under the pointer, or the pinned one (pinned
// true) after a click; ok is false when there is neither.
func (v *Viewer) Readout() (info render.VertexInfo, pinned, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pinned {
		return v.m.Info(v.pin[0], v.pin[1]), true, true
	}
	if v.hoverOK {
		return v.m.Info(v.hover.Hemi, v.hover.Vertex), false, true
	}
	return render.VertexInfo{}, false, false
}

// PinAt pins the readout to the visible vertex nearest to the screen
// point (x, y) (canvas pixels, as drawn), or unpins when there is none
// nearby; it reports whether a vertex was pinned.
func (v *Viewer) PinAt(x, y float32) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m.Prepare()
	h, i, ok := v.m.Pick(x, y, 12*v.textScale())
	v.pinned = ok
	v.pin = [2]int{h, i}
	return ok
}

// SetCursorOffset tells the viewer where its canvas starts in the browser
// window (CSS pixels): Ebiten reports the cursor relative to the window.
func (v *Viewer) SetCursorOffset(x, y float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.offX, v.offY = x, y
}

// DeviceScale returns the device pixels per CSS pixel that the viewer
// draws with.
func (v *Viewer) DeviceScale() float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.devScale
}

// Unpin forgets the pinned vertex.
func (v *Viewer) Unpin() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pinned = false
}

// RequestExport asks for the next frame: f receives a copy of it (with the
// colorbar and labels) from a new goroutine.
func (v *Viewer) RequestExport(f func(*image.RGBA)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.exportFn = f
}

// textScale is the factor applied to text sizes and the bands around the
// drawing: device pixels per CSS pixel (at least 1) times 2 in large type.
func (v *Viewer) textScale() float32 {
	return float32(max(1, v.devScale)) * v.textMul
}

// ensureFaces makes the text faces for the text scale s (once per scale:
// each face caches its glyphs). The faces are x/image ones behind
// text/v2's GoXFace: text/v2's own GoTextFace shapes text with a
// HarfBuzz port that adds about 3 MB to the wasm binary, which labels of
// Latin text do not need.
func (v *Viewer) ensureFaces(s float32) {
	if v.faceScale == s && v.labelFace != nil {
		return
	}
	v.faceScale = s
	v.labelFace = v.newFace(labelPx * s)
	v.roiFace = v.newFace(roiPx * s)
}

func (v *Viewer) newFace(px float32) *text.GoXFace {
	f, err := opentype.NewFace(v.font, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil { // only for a size that is not positive
		panic(fmt.Sprintf("viewer: Go Regular at %v px: %v", px, err))
	}
	return text.NewGoXFace(f)
}

// SetLargeText doubles the size of the title, colorbar and labels (for
// presentations) or returns to normal.
func (v *Viewer) SetLargeText(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.textMul = 1
	if on {
		v.textMul = 2
	}
}

// Update handles input: drag to orbit, wheel or pinch to zoom, keys L M D V
// A P for the presets, 0 or R for the default view, arrows to orbit, + and
// - to zoom.
func (v *Viewer) Update() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.m

	// Mouse drag.
	x, y := ebiten.CursorPosition()
	x -= int(math.Round(v.offX * v.devScale))
	y -= int(math.Round(v.offY * v.devScale))
	if v.inputOff {
		v.updateHover(x, y)
		return nil
	}
	if ebiten.IsMouseButtonPressed(ebiten.MouseButtonLeft) {
		if v.dragging {
			m.Orbit(v.dragX, v.dragY, float32(x-v.lastX), float32(y-v.lastY))
		} else {
			v.dragging = true
			v.dragX, v.dragY = float32(x), float32(y)
		}
		v.lastX, v.lastY = x, y
	} else {
		v.dragging = false
	}
	v.updateHover(x, y)
	if v.autoRotate != 0 && !v.dragging {
		m.SetCamera(m.Camera().Orbit(v.autoRotate/float32(ebiten.TPS()), 0))
	}

	// Wheel.
	if _, wy := ebiten.Wheel(); wy != 0 {
		m.Zoom(float32(math.Exp(0.12 * min(max(wy, -3), 3))))
	}

	// Touch: one finger orbits, two fingers pinch-zoom.
	v.touchBuf = ebiten.AppendTouchIDs(v.touchBuf[:0])
	n := min(len(v.touchBuf), 2)
	var pos [2][2]float32
	for i := range n {
		x, y := ebiten.TouchPosition(v.touchBuf[i])
		pos[i] = [2]float32{float32(x), float32(y)}
	}
	same := n == v.touchCount && n > 0
	for i := 0; i < n && same; i++ {
		same = v.touchBuf[i] == v.touchPrev[i]
	}
	switch {
	case same && n == 1:
		m.Orbit(v.touchStart[0], v.touchStart[1], pos[0][0]-v.touchPos[0][0], pos[0][1]-v.touchPos[0][1])
	case same && n == 2:
		d0 := math.Hypot(float64(v.touchPos[0][0]-v.touchPos[1][0]), float64(v.touchPos[0][1]-v.touchPos[1][1]))
		d1 := math.Hypot(float64(pos[0][0]-pos[1][0]), float64(pos[0][1]-pos[1][1]))
		if d0 > 1 && d1 > 1 && d0 != d1 {
			m.Zoom(float32(d1 / d0))
		}
	case n == 1:
		v.touchStart = pos[0]
	}
	v.touchCount = n
	for i := range n {
		v.touchPrev[i] = v.touchBuf[i]
		v.touchPos[i] = pos[i]
	}

	// Keyboard.
	presets := [...]struct {
		key  ebiten.Key
		name string
	}{
		{ebiten.KeyL, "lateral"}, {ebiten.KeyM, "medial"}, {ebiten.KeyD, "dorsal"},
		{ebiten.KeyV, "ventral"}, {ebiten.KeyA, "anterior"}, {ebiten.KeyP, "posterior"},
		{ebiten.Key0, "default"},
	}
	for _, p := range presets {
		if inpututil.IsKeyJustPressed(p.key) {
			m.SetView(p.name)
		}
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyR) {
		m.Reset()
	}
	const step = 2 // degrees per frame while an arrow is held
	c := m.Camera()
	switch {
	case ebiten.IsKeyPressed(ebiten.KeyArrowLeft):
		m.SetCamera(c.Orbit(step, 0))
	case ebiten.IsKeyPressed(ebiten.KeyArrowRight):
		m.SetCamera(c.Orbit(-step, 0))
	case ebiten.IsKeyPressed(ebiten.KeyArrowUp):
		m.SetCamera(c.Orbit(0, -step))
	case ebiten.IsKeyPressed(ebiten.KeyArrowDown):
		m.SetCamera(c.Orbit(0, step))
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyEqual) || inpututil.IsKeyJustPressed(ebiten.KeyNumpadAdd) {
		m.Zoom(1.2)
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyMinus) || inpututil.IsKeyJustPressed(ebiten.KeyNumpadSubtract) {
		m.Zoom(1 / 1.2)
	}
	return nil
}

// updateHover picks the vertex under the cursor when it moved.
func (v *Viewer) updateHover(x, y int) {
	if x == v.cursorX && y == v.cursorY {
		return
	}
	v.cursorX, v.cursorY = x, y
	w, h, _ := v.m.Screen()
	if x < 0 || y < 0 || x >= w || y >= h {
		v.hoverOK = false
		return
	}
	v.m.Prepare()
	hemi, i, ok := v.m.Pick(float32(x), float32(y), 12*v.textScale())
	v.hoverOK = ok
	v.hover = render.VertexInfo{Hemi: hemi, Vertex: i}
}

// SetInput turns the camera's mouse, touch and keyboard input on or off
// (off for a second view whose camera follows the first); the hover
// readout works either way.
func (v *Viewer) SetInput(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inputOff = !on
}

// DrawAt draws the viewer into the rectangle r of screen (through an
// offscreen image of r's size), for layouts with several views.
func (v *Viewer) DrawAt(screen *ebiten.Image, r image.Rectangle) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ensureResources()
	if v.offscreen == nil || v.offscreen.Bounds().Size() != r.Size() {
		if v.offscreen != nil {
			v.offscreen.Deallocate()
		}
		v.offscreen = ebiten.NewImage(r.Dx(), r.Dy())
	}
	v.draw(v.offscreen)
	var op ebiten.DrawImageOptions
	op.GeoM.Translate(float64(r.Min.X), float64(r.Min.Y))
	screen.DrawImage(v.offscreen, &op)
}

// Layout is not used (LayoutF is); it returns the outside size.
func (v *Viewer) Layout(outsideWidth, outsideHeight int) (int, int) {
	return outsideWidth, outsideHeight
}

// LayoutF returns the outside size times the device scale factor, so that
// the viewer draws at the display's full resolution at any window size.
func (v *Viewer) LayoutF(outsideWidth, outsideHeight float64) (float64, float64) {
	s := 1.0
	if mon := ebiten.Monitor(); mon != nil {
		s = mon.DeviceScaleFactor()
	}
	v.mu.Lock()
	v.devScale = s
	v.mu.Unlock()
	return math.Ceil(outsideWidth * s), math.Ceil(outsideHeight * s)
}

// ensureResources creates the ebiten images and constant buffers once.
func (v *Viewer) ensureResources() {
	if v.white != nil {
		return
	}
	v.white = ebiten.NewImage(3, 3)
	v.white.Fill(color.White)
	// The embedded Go Regular font cannot fail to parse.
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		panic(fmt.Sprintf("viewer: parse Go Regular: %v", err))
	}
	v.font = f
	// Vertices sample the middle pixel, (1.5, 1.5), away from the edges.
	v.whiteSub = v.white.SubImage(image.Rect(1, 1, 2, 2)).(*ebiten.Image)
	v.barVerts = make([]ebiten.Vertex, 2*(barSegments+1))
	v.barIdx = make([]uint16, 0, 6*barSegments)
	for i := range barSegments {
		a := uint16(2 * i)
		v.barIdx = append(v.barIdx, a, a+1, a+2, a+1, a+3, a+2)
	}
}

// Draw draws the surfaces, the colorbar and the labels; when an export
// was requested, it draws into an offscreen image first and hands a copy
// of its pixels to the export function.
func (v *Viewer) Draw(screen *ebiten.Image) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ensureResources()
	if v.exportFn == nil {
		v.draw(screen)
		return
	}
	b := screen.Bounds()
	if v.offscreen == nil || v.offscreen.Bounds().Size() != b.Size() {
		if v.offscreen != nil {
			v.offscreen.Deallocate()
		}
		v.offscreen = ebiten.NewImage(b.Dx(), b.Dy())
	}
	v.draw(v.offscreen)
	img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	v.offscreen.ReadPixels(img.Pix)
	screen.DrawImage(v.offscreen, nil)
	f := v.exportFn
	v.exportFn = nil
	go f(img)
}

func (v *Viewer) draw(screen *ebiten.Image) {
	screen.Fill(v.background)
	b := screen.Bounds()
	s := v.textScale()
	if w, h, ts := v.m.Screen(); w != b.Dx() || h != b.Dy() || ts != s {
		v.m.SetScreen(b.Dx(), b.Dy(), s)
		v.barDirty = true
	}
	v.ensureFaces(s)
	if !v.m.Ready() {
		v.labels[lblMessage].set("loading brain meshes…", v.labelFace)
		v.drawLabel(screen, lblMessage, float32(b.Dx())/2, float32(b.Dy())/2, 0.5)
		return
	}
	v.m.Prepare()
	v.drawSurfaces(screen)
	v.drawOutlines(screen)
	v.drawMarker(screen)
	if v.m.HasOverlay() {
		v.drawColorbar(screen)
	}
	if v.title != "" {
		v.labels[lblTitle].set(v.title, v.labelFace)
		v.drawLabel(screen, lblTitle, 8*s, 4*s, 0)
	}
}

func (v *Viewer) drawSurfaces(screen *ebiten.Image) {
	rv, idx, chunks := v.m.DrawList()
	v.drawChunks(screen, rv, idx, chunks)
}

// drawOutlines draws the ROI outlines and their labels.
func (v *Viewer) drawOutlines(screen *ebiten.Image) {
	rv, idx, chunks, labels := v.m.Outlines()
	v.drawChunks(screen, rv, idx, chunks)
	if len(labels) == 0 {
		return
	}
	if v.roiLabels == nil {
		v.roiLabels = map[string]*textLabel{}
	}
	s := v.textScale()
	v.placed = v.placed[:0]
	for _, l := range labels {
		tl := v.roiLabels[l.Text]
		if tl == nil {
			tl = &textLabel{}
			v.roiLabels[l.Text] = tl
		}
		tl.set(l.Text, v.roiFace) // renders again only for a new text scale
		x := float64(l.X - float32(tl.w)/2)
		y := float64(l.Y - float32(tl.h)/2)
		// Labels that would overlap one already drawn are left out.
		r := render.Rect{X: float32(x), Y: float32(y), W: float32(tl.w), H: float32(tl.h) * 0.8}
		if overlapsAny(r, v.placed) {
			continue
		}
		v.placed = append(v.placed, r)
		for _, pass := range [2]float64{1, 0} { // a dark shadow, then the text
			v.imgOpts.GeoM.Reset()
			v.imgOpts.GeoM.Translate(x+pass*float64(s), y+pass*float64(s))
			v.imgOpts.ColorScale.Reset()
			if pass == 1 {
				v.imgOpts.ColorScale.Scale(0, 0, 0, 1)
			}
			screen.DrawImage(tl.img, &v.imgOpts)
		}
	}
	v.imgOpts.ColorScale.Reset()
}

// drawMarker draws a ring at the pinned vertex when it is visible.
func (v *Viewer) drawMarker(screen *ebiten.Image) {
	if !v.pinned {
		return
	}
	x, y, ok := v.m.VertexScreen(v.pin[0], v.pin[1])
	if !ok {
		return
	}
	s := v.textScale()
	const n = 16
	r0, r1 := 4*s, 6*s
	v.markVerts = v.markVerts[:0]
	v.markIdx = v.markIdx[:0]
	for i := range n + 1 {
		a := 2 * math.Pi * float64(i) / n
		c, sn := float32(math.Cos(a)), float32(math.Sin(a))
		for _, r := range [2]float32{r0, r1} {
			v.markVerts = append(v.markVerts, ebiten.Vertex{DstX: x + r*c, DstY: y + r*sn, SrcX: 1.5, SrcY: 1.5, ColorR: 1, ColorG: 1, ColorB: 0.2, ColorA: 1})
		}
		if i < n {
			a := uint16(2 * i)
			v.markIdx = append(v.markIdx, a, a+1, a+2, a+1, a+3, a+2)
		}
	}
	screen.DrawTriangles(v.markVerts, v.markIdx, v.whiteSub, &v.triOpts)
}

// drawChunks draws a draw list, each chunk clipped to its hemisphere's
// panel in LayoutPanels.
func (v *Viewer) drawChunks(screen *ebiten.Image, rv []render.Vertex, idx []uint16, chunks []render.Chunk) {
	if len(chunks) == 0 || len(rv) == 0 {
		return
	}
	verts := unsafe.Slice((*ebiten.Vertex)(unsafe.Pointer(&rv[0])), len(rv))
	targets := [2]*ebiten.Image{screen, screen}
	if v.m.Mode() == render.LayoutPanels {
		// Clip each hemisphere to its panel (zoomed in, it would spill into
		// the other); sub-images are rebuilt only when the screen or the
		// panels change.
		for h, p := range v.m.Panels() {
			r := image.Rect(int(p.X), int(p.Y), int(p.X+p.W), int(p.Y+p.H)).Add(screen.Bounds().Min)
			if v.clipFor != screen || v.clipRect[h] != r || v.clipImg[h] == nil {
				v.clipImg[h] = screen.SubImage(r).(*ebiten.Image)
				v.clipRect[h] = r
			}
			targets[h] = v.clipImg[h]
		}
		v.clipFor = screen
	}
	for _, c := range chunks {
		if c.I1 > c.I0 {
			targets[c.Panel].DrawTriangles(verts[c.V0:c.V1], idx[c.I0:c.I1], v.whiteSub, &v.triOpts)
		}
	}
}

func (v *Viewer) drawColorbar(screen *ebiten.Image) {
	s := v.textScale()
	bar := v.m.BarRect()
	if v.barDirty {
		cm := v.m.Colormap()
		vmin, vmax := v.m.Range()
		for i := range barSegments + 1 {
			t := float32(i) / barSegments
			r, g, b := cm.AtF(t)
			x := bar.X + t*bar.W
			v.barVerts[2*i] = ebiten.Vertex{DstX: x, DstY: bar.Y, SrcX: 1.5, SrcY: 1.5, ColorR: r, ColorG: g, ColorB: b, ColorA: 1}
			v.barVerts[2*i+1] = ebiten.Vertex{DstX: x, DstY: bar.Y + bar.H, SrcX: 1.5, SrcY: 1.5, ColorR: r, ColorG: g, ColorB: b, ColorA: 1}
		}
		v.labels[lblMin].set(formatValue(vmin), v.labelFace)
		v.labels[lblMax].set(formatValue(vmax), v.labelFace)
		mid := (vmin + vmax) / 2
		v.midAt = 0.5
		if vmin < 0 && vmax > 0 {
			mid = 0
			v.midAt = -vmin / (vmax - vmin)
		}
		v.labels[lblMid].set(formatValue(mid), v.labelFace)
		v.barDirty = false
	}
	screen.DrawTriangles(v.barVerts, v.barIdx, v.whiteSub, &v.triOpts)
	y := bar.Y + bar.H + 2*s
	v.drawLabel(screen, lblMin, bar.X, y, 0.5)
	v.drawLabel(screen, lblMid, bar.X+v.midAt*bar.W, y, 0.5)
	v.drawLabel(screen, lblMax, bar.X+bar.W, y, 0.5)
	if v.barText != "" {
		v.labels[lblBar].set(v.barText, v.labelFace)
		v.drawLabel(screen, lblBar, bar.X+bar.W/2, bar.Y-float32(v.labels[lblBar].h)-2*s, 0.5)
	}
}

// drawLabel draws label i with its top at y; align 0 puts its left edge at
// x, 0.5 its center.
func (v *Viewer) drawLabel(screen *ebiten.Image, i int, x, y, align float32) {
	l := &v.labels[i]
	if l.img == nil || l.text == "" {
		return
	}
	v.imgOpts.GeoM.Reset()
	v.imgOpts.GeoM.Translate(math.Round(float64(x-align*float32(l.w))), math.Round(float64(y)))
	screen.DrawImage(l.img, &v.imgOpts)
}

// formatValue formats a colorbar value with 3 significant digits.
func formatValue(x float32) string {
	if x == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(x), 'g', 3, 32)
}

// textLabel is a line of text rendered once into its own image, so that a
// frame draws each label with one DrawImage and no text layout.
type textLabel struct {
	text string
	face *text.GoXFace // the face it was rendered with
	w, h int           // pixels used in img
	img  *ebiten.Image
}

// set renders the label again when its text or the face changes.
func (l *textLabel) set(s string, face *text.GoXFace) {
	if s == l.text && face == l.face && l.img != nil {
		return
	}
	l.text, l.face = s, face
	m := face.Metrics()
	w, _ := text.Measure(s, face, 0)
	// A pixel of margin on each side for antialiased edges.
	l.w, l.h = int(math.Ceil(w))+2, int(math.Ceil(m.HAscent+m.HDescent))+2
	if l.img == nil || l.img.Bounds().Dx() < l.w || l.img.Bounds().Dy() < l.h {
		if l.img != nil {
			l.img.Deallocate()
		}
		l.img = ebiten.NewImage(max(l.w, 64), l.h)
	}
	l.img.Clear()
	var op text.DrawOptions
	op.GeoM.Translate(1, 1)
	text.Draw(l.img, s, face, &op)
}

// overlapsAny reports whether r intersects one of rs.
func overlapsAny(r render.Rect, rs []render.Rect) bool {
	for _, q := range rs {
		if r.X < q.X+q.W && q.X < r.X+r.W && r.Y < q.Y+q.H && q.Y < r.Y+r.H {
			return true
		}
	}
	return false
}
