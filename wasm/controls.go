//go:build js && wasm

package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall/js"

	"cortexcast/viewer"
	"cortexcast/viewer/render"
)

// Presentation mode: degrees of azimuth per second.
const presentRotation = 8

// on calls f with the element whenever it fires event; missing elements are skipped.
func (p *page) on(id, event string, f func(el js.Value)) {
	el := p.byID(id)
	if !el.Truthy() {
		return
	}
	cb := js.FuncOf(func(this js.Value, args []js.Value) any {
		f(el)
		return nil
	})
	p.funcs = append(p.funcs, cb)
	el.Call("addEventListener", event, cb)
}

// setupControls wires the panel's view, surface, color, ROI, export and presentation
// controls, the page-level shortcuts (window.cortexcast.key) and the URL state.
func (a *app) setupControls() {
	p := a.page
	buttons := p.doc.Call("querySelectorAll", "button[data-view]")
	for i := range buttons.Length() {
		b := buttons.Index(i)
		name := b.Get("dataset").Get("view").String()
		cb := js.FuncOf(func(this js.Value, args []js.Value) any {
			if err := a.v.SetView(name); err != nil {
				p.showError(err.Error())
			}
			return nil
		})
		p.funcs = append(p.funcs, cb)
		b.Call("addEventListener", "click", cb)
	}
	p.on("reset", "click", func(js.Value) { a.v.Reset() })
	p.on("surface", "change", func(el js.Value) { a.setSurface(el.Get("value").String()) })
	p.on("cmap", "change", func(el js.Value) { a.setColormap(el.Get("value").String()) })
	p.on("thr", "input", func(el js.Value) {
		f, _ := strconv.ParseFloat(el.Get("value").String(), 32)
		a.state.Threshold = float32(f)
		a.applyRange()
	})
	p.on("sym", "change", func(el js.Value) {
		a.state.Symmetric = el.Get("checked").Bool()
		a.applyRange()
	})
	p.on("opacity", "input", func(el js.Value) {
		f, _ := strconv.ParseFloat(el.Get("value").String(), 32)
		a.state.Opacity = float32(f)
		a.each(func(v *viewer.Viewer) { v.SetOpacity(a.state.Opacity) })
	})
	p.on("export", "click", func(js.Value) { a.export() })
	p.on("present", "click", func(js.Value) { a.setPresent(!a.present) })
	p.on("help-button", "click", func(js.Value) { p.body.Get("classList").Call("toggle", "help") })
	p.on("link", "click", func(js.Value) {
		url := js.Global().Get("location").Get("href").String()
		if cb := js.Global().Get("navigator").Get("clipboard"); cb.Truthy() {
			cb.Call("writeText", url)
		}
		p.status("link to this view: " + url)
	})

	// One checkbox per ROI class of the bundle.
	if box := p.byID("rois"); box.Truthy() {
		classes := a.v.ROIClasses()
		for i, c := range classes {
			r, g, b := render.OutlineColor(i)
			lbl := p.doc.Call("createElement", "label")
			in := p.doc.Call("createElement", "input")
			in.Set("type", "checkbox")
			in.Set("value", c)
			in.Get("dataset").Set("roi", c)
			sw := p.doc.Call("createElement", "span")
			sw.Set("className", "swatch")
			sw.Get("style").Set("background", fmt.Sprintf("rgb(%d,%d,%d)", int(255*r), int(255*g), int(255*b)))
			lbl.Call("appendChild", in)
			lbl.Call("appendChild", sw)
			lbl.Call("appendChild", p.doc.Call("createTextNode", c))
			box.Call("appendChild", lbl)
			cb := js.FuncOf(func(this js.Value, args []js.Value) any {
				a.setROI(c, in.Get("checked").Bool())
				return nil
			})
			p.funcs = append(p.funcs, cb)
			in.Call("addEventListener", "change", cb)
		}
		if len(classes) > 0 {
			p.byID("rois-box").Get("style").Set("display", "block")
		}
	}

	// A click on the canvas without a drag (a tap too) pins the readout; Ebiten may miss a
	// press and release that both fall between two frames, the page does not.
	var downX, downY float64
	down := js.FuncOf(func(this js.Value, args []js.Value) any {
		downX, downY = args[0].Get("clientX").Float(), args[0].Get("clientY").Float()
		return nil
	})
	click := js.FuncOf(func(this js.Value, args []js.Value) any {
		e := args[0]
		if e.Get("target").Get("tagName").String() != "CANVAS" {
			return nil
		}
		x, y := e.Get("clientX").Float(), e.Get("clientY").Float()
		if math.Abs(x-downX)+math.Abs(y-downY) > 4 {
			return nil // the end of a drag
		}
		r := e.Get("target").Call("getBoundingClientRect")
		s := a.v.DeviceScale()
		px, py := (x-r.Get("left").Float())*s, (y-r.Get("top").Float())*s
		if half := r.Get("width").Float() * s / 2; a.compare && px >= half {
			a.v.Unpin()
			a.v2.PinAt(float32(px-half), float32(py))
		} else {
			a.v.PinAt(float32(px), float32(py))
			if a.v2 != nil {
				a.v2.Unpin()
			}
		}
		a.updateReadout()
		return nil
	})
	p.funcs = append(p.funcs, down, click)
	js.Global().Call("addEventListener", "mousedown", down)
	js.Global().Call("addEventListener", "click", click)

	key := js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) > 0 {
			a.key(args[0].String())
		}
		return nil
	})
	p.funcs = append(p.funcs, key)
	js.Global().Get("cortexcast").Set("key", key)
	// Test hooks: the current state's hash and a way to apply one.
	stateFn := js.FuncOf(func(this js.Value, args []js.Value) any { return a.currentState().encode() })
	p.funcs = append(p.funcs, stateFn)
	js.Global().Get("cortexcast").Set("state", stateFn)
}

// key handles the page-level shortcuts.
func (a *app) key(k string) {
	switch k {
	case "s", "S":
		ss := surfaces()
		a.setSurface(ss[(slices.Index(ss, a.state.Surface)+1)%len(ss)])
	case "c", "C":
		cs := colormaps()
		a.setColormap(cs[(slices.Index(cs, a.state.Colormap)+1)%len(cs)])
	case "o", "O":
		classes := a.v.ROIClasses()
		on := len(a.state.ROIs) == 0
		for _, c := range classes {
			a.setROI(c, on)
		}
	case "e", "E":
		a.export()
	case "f", "F":
		a.setPresent(!a.present)
	case " ":
		a.rotating = !a.rotating
		a.v.SetAutoRotate(rotation(a.rotating))
	case "Escape":
		a.v.Unpin()
		if a.present {
			a.setPresent(false)
		}
	}
}

func rotation(on bool) float32 {
	if on {
		return presentRotation
	}
	return 0
}

func (a *app) setSurface(name string) {
	if err := a.v.SetSurface(name); err != nil {
		a.page.showError(err.Error())
		return
	}
	if a.v2 != nil {
		a.v2.SetSurface(name)
	}
	a.state.Surface = a.v.Surface()
	if a.state.Surface != name {
		a.page.status("this mesh has no " + name + " surface: showing " + a.state.Surface)
	}
	a.page.setValue("surface", a.state.Surface)
}

func (a *app) setColormap(name string) {
	cm, ok := render.ColormapByName(name)
	if !ok {
		a.page.showError("unknown colormap " + name)
		return
	}
	a.state.Colormap = name
	a.each(func(v *viewer.Viewer) { v.SetColormap(cm) })
	a.page.setValue("cmap", name)
}

func (a *app) setROI(class string, on bool) {
	if !a.v.SetROIVisible(class, on) {
		return
	}
	if a.v2 != nil {
		a.v2.SetROIVisible(class, on)
	}
	a.state.ROIs = slices.DeleteFunc(a.state.ROIs, func(c string) bool { return c == class })
	if on {
		a.state.ROIs = append(a.state.ROIs, class)
	}
	boxes := a.page.doc.Call("querySelectorAll", "#rois input")
	for i := range boxes.Length() {
		if b := boxes.Index(i); b.Get("value").String() == class {
			b.Set("checked", on)
		}
	}
}

// applyRange sets the color range (symmetric: ±the 98th percentile of |value|; one-sided:
// the 2nd to 98th percentiles) and the threshold (a fraction of the range's largest
// magnitude) of the map shown.
func (a *app) applyRange() {
	if a.v2 != nil && a.hasMapB {
		a.setRange(a.v2, a.meshB)
	}
	if !a.hasMap {
		a.v.SetSymmetric(a.state.Symmetric)
		return
	}
	thr := a.setRange(a.v, a.mesh)
	if el := a.page.byID("thr-value"); el.Truthy() {
		el.Set("textContent", strconv.FormatFloat(float64(thr), 'g', 3, 32))
	}
}

// setRange gives v the color range and threshold of map m and returns the threshold.
func (a *app) setRange(v *viewer.Viewer, m [2][]float32) float32 {
	v.SetSymmetric(a.state.Symmetric)
	var lo, hi float32
	if a.state.Symmetric {
		lim := symmetricLimit(m)
		lo, hi = -lim, lim
	} else {
		lo, hi = percentileRange(m, 0.02, 0.98)
	}
	v.SetRange(lo, hi)
	thr := a.state.Threshold * max(float32(math.Abs(float64(lo))), float32(math.Abs(float64(hi))))
	v.SetThreshold(thr)
	return thr
}

// each calls f on the viewer and, side by side, on the second one.
func (a *app) each(f func(v *viewer.Viewer)) {
	f(a.v)
	if a.v2 != nil {
		f(a.v2)
	}
}

// export asks the viewer for the next frame and offers it as a PNG download.
func (a *app) export() {
	f := func(img *image.RGBA) {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			a.page.showError("PNG export: " + err.Error())
			return
		}
		arr := js.Global().Get("Uint8Array").New(buf.Len())
		js.CopyBytesToJS(arr, buf.Bytes())
		opts := js.Global().Get("Object").New()
		opts.Set("type", "image/png")
		blob := js.Global().Get("Blob").New([]any{arr}, opts)
		cc := js.Global().Get("cortexcast")
		urlAPI := js.Global().Get("URL")
		if old := cc.Get("exportURL"); old.Truthy() {
			urlAPI.Call("revokeObjectURL", old)
		}
		href := urlAPI.Call("createObjectURL", blob)
		cc.Set("exportURL", href)
		cc.Set("exportBytes", arr)
		link := a.page.doc.Call("createElement", "a")
		link.Set("href", href)
		link.Set("download", a.exportName())
		a.page.body.Call("appendChild", link)
		link.Call("click")
		link.Call("remove")
		a.exports++
		a.page.body.Get("dataset").Set("export", strconv.Itoa(buf.Len()))
		a.page.body.Get("dataset").Set("exports", strconv.Itoa(a.exports))
		a.page.status(fmt.Sprintf("exported %s (%d×%d, %d bytes)", a.exportName(), img.Rect.Dx(), img.Rect.Dy(), buf.Len()))
	}
	if a.compare {
		a.updates <- func() { a.exportAt = f }
		return
	}
	a.v.RequestExport(f)
}

func (a *app) exportName() string {
	name := fmt.Sprintf("cortexcast-subj%02d-%s-%s", a.subject, a.state.Mode, a.state.Surface)
	if a.state.Image != "" {
		img := a.state.Image
		if i := strings.LastIndexByte(img, '.'); i > 0 {
			img = img[:i]
		}
		name += "-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, img)
	}
	return name + ".png"
}

// setPresent enters or leaves presentation mode: fullscreen (when the browser allows it),
// no panel, large type, slow rotation.
func (a *app) setPresent(on bool) {
	a.present = on
	cls := a.page.body.Get("classList")
	doc := a.page.doc
	if on {
		cls.Call("add", "present")
		if el := doc.Get("documentElement"); el.Get("requestFullscreen").Truthy() {
			if pr := el.Call("requestFullscreen"); pr.Truthy() {
				pr.Call("catch", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
			}
		}
		if c := a.page.byID("caption"); c.Truthy() {
			c.Set("textContent", a.caption())
		}
	} else {
		cls.Call("remove", "present")
		if doc.Get("fullscreenElement").Truthy() {
			doc.Call("exitFullscreen")
		}
	}
	// Ebiten sizes its canvas on window resizes only: the panel came or went.
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("resize"))
	a.rotating = on
	a.v.SetAutoRotate(rotation(on))
	a.each(func(v *viewer.Viewer) { v.SetLargeText(on) })
	a.page.body.Get("dataset").Set("present", strconv.FormatBool(on))
}

func (a *app) caption() string {
	if a.state.Image != "" && a.hasMap {
		return a.state.Mode + " response to " + a.state.Image
	}
	return a.state.Mode + " response"
}

// currentState reads the camera from the viewer into the state.
func (a *app) currentState() viewState {
	s := a.state
	s.Subject = a.subject
	c := a.v.Camera()
	s.Azimuth, s.Elevation, s.Zoom = c.Azimuth, c.Elevation, c.Zoom
	s.ROIs = slices.Clone(s.ROIs)
	return s
}

// syncURL writes the state into the URL hash when it changed (replaceState: no history
// entry per camera move, no hashchange event).
func (a *app) syncURL() {
	h := a.currentState().encode()
	if h == a.lastHash {
		return
	}
	a.lastHash = h
	url := js.Global().Get("location").Get("pathname").String()
	if h != "" {
		url += "#" + h
	}
	js.Global().Get("history").Call("replaceState", nil, "", url)
}

// applyState restores a state read from the URL.
func (a *app) applyState(s viewState) {
	if slices.Contains(a.welcome.Subjects, s.Subject) {
		a.subject = s.Subject
		a.page.setValue("subject", strconv.Itoa(s.Subject))
	}
	a.state = s
	a.state.Subject = a.subject
	a.state.ROIs = nil
	if s.Mode != "predicted" && !a.datasetImages {
		a.state.Mode = "predicted"
	}
	a.setSurface(s.Surface)
	a.setColormap(s.Colormap)
	a.v.SetCamera(render.Camera{Azimuth: s.Azimuth, Elevation: s.Elevation, Zoom: s.Zoom})
	a.each(func(v *viewer.Viewer) { v.SetOpacity(s.Opacity) })
	a.page.setValue("opacity", strconv.FormatFloat(float64(s.Opacity), 'g', -1, 32))
	a.page.setValue("thr", strconv.FormatFloat(float64(s.Threshold), 'g', -1, 32))
	if el := a.page.byID("sym"); el.Truthy() {
		el.Set("checked", s.Symmetric)
	}
	for _, c := range s.ROIs {
		a.setROI(c, true)
	}
	a.applyRange()
	if a.datasetImages {
		switch {
		case s.Layout == "side-by-side":
			a.setMode(modeCompare)
		case s.Mode != "predicted":
			a.setMode(s.Mode)
		}
		var split string
		var index int
		if i := strings.IndexByte(s.Image, ':'); i > 0 {
			split = s.Image[:i]
			index, _ = strconv.Atoi(s.Image[i+1:])
		}
		if (split == "train" || split == "test") && index > 0 && s.Mode != "correlation" {
			a.showDataset(split, index)
			return
		}
	}
	if s.Image != "" && !a.hasMap {
		a.page.status("this link shows " + s.Image + ": drop or choose that image to see its map")
	}
}

// updateReadout shows the vertex under the pointer (or the pinned one) in the panel.
func (a *app) updateReadout() {
	info, pinned, ok := a.v.Readout()
	side := ""
	if a.compare {
		side = "predicted: "
		if info2, pinned2, ok2 := a.v2.Readout(); ok2 && (pinned2 || !ok) {
			info, pinned, ok, side = info2, pinned2, ok2, "measured: "
		}
	}
	text := "hover the brain: vertex, ROI, value"
	if ok {
		var b strings.Builder
		b.WriteString(side)
		if pinned {
			b.WriteString("pinned ")
		}
		fmt.Fprintf(&b, "%s vertex %d", hemiName(info.Hemi), info.Vertex)
		if math.IsNaN(float64(info.Value)) {
			b.WriteString("\nvalue: none")
		} else {
			fmt.Fprintf(&b, "\nvalue: %.4g", info.Value)
		}
		if len(info.ROIs) == 0 {
			b.WriteString("\nROI: none")
		}
		for _, r := range info.ROIs {
			b.WriteString("\n" + r)
		}
		text = b.String()
	}
	if text == a.readout {
		return
	}
	a.readout = text
	if el := a.page.byID("readout"); el.Truthy() {
		el.Set("textContent", text)
	}
}

func hemiName(h int) string {
	if h == 1 {
		return "rh"
	}
	return "lh"
}

// trackCanvas tells the viewer where the canvas sits in the window (the panel may push it
// right), so that pointer positions match what is drawn.
func (a *app) trackCanvas() {
	c := a.page.doc.Call("querySelector", "canvas")
	if !c.Truthy() {
		return
	}
	r := c.Call("getBoundingClientRect")
	a.v.SetCursorOffset(r.Get("left").Float(), r.Get("top").Float())
	if a.v2 != nil {
		a.v2.SetCursorOffset(r.Get("left").Float()+r.Get("width").Float()/2, r.Get("top").Float())
	}
}
