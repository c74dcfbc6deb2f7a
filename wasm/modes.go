//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"strconv"
	"syscall/js"

	"github.com/coder/websocket"

	"cortexcast/backend/api"
	"cortexcast/viewer"
)

// The mode select's values: the state's Mode, and "compare" for predicted beside measured.
const modeCompare = "compare"

// mapDifference labels the difference map the page computes (not a server map kind).
const mapDifference = "difference"

// barLabel is the colorbar caption of a map kind: what it holds and its units.
func barLabel(kind string) string {
	switch kind {
	case api.MapMeasured:
		return "measured response (fMRI beta, as in the dataset)"
	case api.MapCorrelation:
		return "Pearson r, predicted vs measured (validation images)"
	case mapDifference:
		return "z(predicted) - z(measured)"
	}
	return "predicted response (a.u.)"
}

// setTitles sets the title of each view after a map of the given kind arrived.
func (a *app) setTitles(kind string) {
	if a.compare {
		a.v.SetTitle(a.titleOf(api.MapPredicted))
		a.v2.SetTitle(a.titleOf(api.MapMeasured))
		a.v2.SetBarLabel(barLabel(api.MapMeasured))
		return
	}
	a.v.SetTitle(a.titleOf(kind))
}

// send writes a control message; failures show in the page.
func (a *app) send(m api.Message) {
	m.Version = api.ProtocolVersion
	data, err := jsonMarshal(m)
	if err != nil {
		a.page.showError(err.Error())
		return
	}
	go func() {
		if err := a.ws.Write(context.Background(), websocket.MessageText, data); err != nil {
			a.page.showError("could not send the " + m.Type + " request: " + err.Error())
		}
	}()
}

func (a *app) newID(prefix string) string {
	a.nextID++
	return prefix + strconv.Itoa(a.nextID)
}

// setupModes wires the mode select and asks for the dataset's images when the server
// answers dataset requests (welcome's dataset_images); otherwise those modes stay hidden.
func (a *app) setupModes() {
	if !a.datasetImages {
		return
	}
	opts := a.page.doc.Call("querySelectorAll", "#mode option")
	for i := range opts.Length() {
		opts.Index(i).Set("disabled", false)
	}
	a.page.on("mode", "change", func(el js.Value) { a.setMode(el.Get("value").String()) })
	a.requestImages()
}

func (a *app) requestImages() {
	if a.datasetImages {
		a.send(api.Message{Type: api.TypeImages, ID: a.newID("i"), Subject: a.subject})
	}
}

// setMode switches between predicted, measured, correlation and the side-by-side compare
// mode; the dataset image shown (if any) is requested again in the new mode.
func (a *app) setMode(mode string) {
	a.setCompare(mode == modeCompare)
	switch mode {
	case modeCompare:
		a.state.Mode = "predicted"
	case "predicted", "measured", "correlation", "difference":
		a.state.Mode = mode
	default:
		a.page.showError("unknown mode " + mode)
		return
	}
	a.page.setValue("mode", mode)
	// r is shown with a sequential colormap over its own range, activations with the
	// diverging default, symmetric about zero.
	if mode == "correlation" {
		a.setColormap("viridis")
		a.setSymmetric(false)
	} else if a.state.Colormap == "viridis" && !a.state.Symmetric {
		a.setColormap("RdBu_r")
		a.setSymmetric(true)
	}
	if mode == "correlation" {
		a.requestCorrelation()
		return
	}
	if a.shownIdx > 0 {
		a.showDataset(a.shownSplit, a.shownIdx)
	}
}

// setCompare shows one view or predicted and measured side by side with linked cameras.
func (a *app) setCompare(on bool) {
	if on == a.compare {
		return
	}
	if on && a.v2 == nil {
		v := viewer.New(a.bundle)
		v.SetInput(false)
		v.SetSurface(a.state.Surface)
		v.SetOpacity(a.state.Opacity)
		for _, c := range a.state.ROIs {
			v.SetROIVisible(c, true)
		}
		v.SetLargeText(a.present)
		v.SetBarLabel(barLabel(api.MapMeasured))
		a.v2 = v
		a.setColormap(a.state.Colormap)
	}
	a.compare = on
	a.state.Layout = "single"
	if on {
		a.state.Layout = "side-by-side"
		a.v2.SetCamera(a.v.Camera())
		a.v2.SetTitle(a.titleOf(api.MapMeasured))
	}
	a.trackCanvas()
	a.page.body.Get("dataset").Set("compare", strconv.FormatBool(on))
}

// showDataset asks for the maps of dataset image (split, index) that the mode shows.
func (a *app) showDataset(split string, index int) {
	a.shownSplit, a.shownIdx = split, index
	a.last = lastDataset
	a.shownSet = fmt.Sprintf("%s image %d", split, index)
	a.state.Image = split + ":" + strconv.Itoa(index)
	if a.state.Mode == "correlation" {
		a.setMode(modeCompare)
		return
	}
	diff := a.state.Mode == "difference"
	if (a.compare || a.state.Mode == "measured" || diff) && split != api.SplitTrain {
		a.page.showError(fmt.Sprintf("%s image %d has no measurement: only training images were measured", split, index))
		if !a.compare {
			return
		}
	}
	if a.compare || a.state.Mode == "predicted" || diff {
		id := a.newID("d")
		a.diffIDs[0] = id
		a.send(api.Message{Type: api.TypePredictDataset, ID: id, Subject: a.subject, Split: split, Index: index, Model: a.state.Model})
	}
	if (a.compare || a.state.Mode == "measured" || diff) && split == api.SplitTrain {
		id := a.newID("m")
		a.diffIDs[1] = id
		a.send(api.Message{Type: api.TypeMeasured, ID: id, Subject: a.subject, Split: split, Index: index})
	}
	a.diffGot = [2][2][]float32{}
}

// showGallery lists the subject's dataset images as thumbnails to click through.
func (a *app) showGallery(subject int, images []api.DatasetImage) {
	if subject != a.subject && subject != 0 {
		return
	}
	a.images = images
	box := a.page.byID("gallery")
	if !box.Truthy() {
		return
	}
	box.Set("textContent", "")
	const most = 48 // thumbnails listed: the first training images, then test images
	origin := js.Global().Get("location").Get("origin").String()
	n := 0
	for _, im := range images {
		if n >= most {
			break
		}
		n++
		el := a.page.doc.Call("createElement", "img")
		el.Set("src", origin+im.Thumb)
		el.Set("alt", fmt.Sprintf("%s %d", im.Split, im.Index))
		el.Set("title", fmt.Sprintf("%s image %d (NSD %d)", im.Split, im.Index, im.NSDID))
		el.Get("dataset").Set("split", im.Split)
		el.Get("dataset").Set("index", im.Index)
		split, index := im.Split, im.Index
		cb := js.FuncOf(func(this js.Value, args []js.Value) any {
			a.updates <- func() { a.showDataset(split, index) }
			if pv := a.page.byID("preview"); pv.Truthy() {
				pv.Set("src", origin+"/thumbs/"+strconv.Itoa(a.subject)+"/"+split+"/"+strconv.Itoa(index)+".jpg")
				pv.Get("style").Set("display", "block")
			}
			return nil
		})
		a.page.funcs = append(a.page.funcs, cb)
		el.Call("addEventListener", "click", cb)
		box.Call("appendChild", el)
	}
	a.page.body.Get("dataset").Set("gallery", strconv.Itoa(n))
}

// setSymmetric chooses a symmetric or one-sided range and updates the checkbox.
func (a *app) setSymmetric(on bool) {
	a.state.Symmetric = on
	if el := a.page.byID("sym"); el.Truthy() {
		el.Set("checked", on)
	}
	a.applyRange()
}
