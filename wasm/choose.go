//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"syscall/js"

	"github.com/coder/websocket"

	"cortexcast/backend/api"
	"cortexcast/meshes"
	"cortexcast/viewer"
)

// Re-requests after a mesh or model change repeat the last request of one of these kinds.
const (
	lastUpload      = "upload"
	lastDataset     = "dataset"
	lastCorrelation = "correlation"
)

// vertKey names the challenge vertices of a subject on a mesh of a vertex count.
type vertKey struct{ subject, mesh int }

// fetchBundle downloads and decodes a mesh bundle, reporting the bytes received and the
// decoded size (X-Bundle-Bytes; 0 when unknown: the server compresses the transfer).
func fetchBundle(url string, progress func(got, total int)) (*meshes.Bundle, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	total, _ := strconv.Atoi(resp.Header.Get("X-Bundle-Bytes"))
	var buf bytes.Buffer
	buf.Grow(total)
	chunk := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(chunk)
		buf.Write(chunk[:n])
		if progress != nil && n > 0 {
			progress(buf.Len(), total)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", url, err)
		}
	}
	return meshes.DecodeBundle(bytes.NewReader(buf.Bytes()))
}

// meshInfos lists the server's meshes (older servers name only the one in welcome).
func (a *app) meshInfos() []api.MeshInfo {
	if len(a.welcome.Meshes) > 0 {
		return a.welcome.Meshes
	}
	return []api.MeshInfo{{Name: a.welcome.Mesh, URL: a.welcome.MeshURL}}
}

// setupChoosers fills the mesh and model selects and wires them.
func (a *app) setupChoosers() {
	p := a.page
	a.state.Mesh = a.meshName
	if a.meshInfos()[0].Name == a.meshName {
		a.state.Mesh = "" // the default: no key in the URL
	}
	if sel := p.byID("mesh"); sel.Truthy() {
		for _, m := range a.meshInfos() {
			opt := p.doc.Call("createElement", "option")
			opt.Set("value", m.Name)
			label := m.Name
			if m.Vertices > 0 {
				label += fmt.Sprintf(" (%s vertices)", thousands(m.Vertices))
			}
			opt.Set("textContent", label)
			sel.Call("appendChild", opt)
		}
		sel.Set("value", a.meshName)
		p.on("mesh", "change", func(el js.Value) { a.switchMesh(el.Get("value").String()) })
	}
	p.body.Get("dataset").Set("mesh", a.meshName)
	if a.welcome.ModelStore && a.welcome.ModelChoice {
		p.body.Get("classList").Call("add", "has-models")
		p.on("model", "change", func(el js.Value) { a.setModel(el.Get("value").String()) })
		a.requestModels()
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (a *app) requestModels() {
	if a.welcome.ModelStore && a.welcome.ModelChoice {
		a.send(api.Message{Type: api.TypeModels, ID: a.newID("l")})
	}
}

// showModels lists the current subject's stored models in the model select: the served one
// first (value ""), then the others by name, each with its kind, features and mean r.
func (a *app) showModels(list []api.ModelInfo) {
	sel := a.page.byID("model")
	if !sel.Truthy() {
		return
	}
	a.models = list
	sel.Set("textContent", "")
	add := func(value, label string) {
		opt := a.page.doc.Call("createElement", "option")
		opt.Set("value", value)
		opt.Set("textContent", label)
		sel.Call("appendChild", opt)
	}
	describe := func(m api.ModelInfo) string {
		s := m.Kind + " · " + m.Features
		if m.MeanR != nil {
			s += fmt.Sprintf(" · r̄ %.3f", *m.MeanR)
		}
		return s
	}
	served := "served model (" + a.welcome.Model + ")"
	n := 1
	for _, m := range list {
		if m.Subject == a.subject && m.Served {
			served = describe(m) + " (served)"
		}
	}
	add("", served)
	for _, m := range list {
		if m.Subject == a.subject && !m.Served {
			add(m.Name, describe(m))
			n++
		}
	}
	if a.state.Model != "" && !slices.ContainsFunc(list, func(m api.ModelInfo) bool { return m.Name == a.state.Model }) {
		add(a.state.Model, a.state.Model+" (not in the store)")
		n++
	}
	sel.Set("value", a.state.Model)
	a.page.body.Get("dataset").Set("models", strconv.Itoa(n))
}

// modelKind is the kind of the chosen model, for titles ("" for the served one).
func (a *app) modelKind() string {
	for _, m := range a.models {
		if m.Name == a.state.Model && a.state.Model != "" {
			return m.Kind
		}
	}
	return ""
}

// setModel predicts with the stored model name ("" = the served one) from now on and shows
// the current map again with it.
func (a *app) setModel(name string) {
	if name == a.state.Model {
		return
	}
	a.state.Model = name
	a.page.setValue("model", name)
	what := "the served model"
	if name != "" {
		what = name
	}
	if a.last == "" {
		a.page.status("the next map will be predicted with " + what)
		return
	}
	a.page.status("predicting with " + what + "…")
	a.refresh()
}

// refresh repeats the request of the map shown (after a model or mesh change).
func (a *app) refresh() {
	switch a.last {
	case lastCorrelation:
		a.requestCorrelation()
	case lastDataset:
		a.showDataset(a.shownSplit, a.shownIdx)
	case lastUpload:
		if a.lastData != nil {
			a.upload(a.lastData, a.lastName)
		}
	}
}

func (a *app) requestCorrelation() {
	a.last = lastCorrelation
	a.send(api.Message{Type: api.TypeCorrelation, ID: a.newID("c"), Subject: a.subject, Model: a.state.Model})
}

// switchMesh downloads and decodes the bundle of mesh name (showing progress), tells the
// server, swaps the viewers' meshes keeping the camera, surface and outlines, and asks for
// the map shown again at the new resolution. The old mesh stays on screen meanwhile.
func (a *app) switchMesh(name string) {
	if name == a.meshName || a.switching != "" {
		a.page.setValue("mesh", a.meshName)
		return
	}
	i := slices.IndexFunc(a.meshInfos(), func(m api.MeshInfo) bool { return m.Name == name })
	if i < 0 {
		a.page.showError("this server has no mesh " + name)
		a.page.setValue("mesh", a.meshName)
		return
	}
	info := a.meshInfos()[i]
	a.switching = name
	ds := a.page.body.Get("dataset")
	ds.Set("meshLoading", name)
	a.page.status("downloading the " + name + " mesh…")
	origin := js.Global().Get("location").Get("origin").String()
	go func() {
		b, err := fetchBundle(origin+info.URL, func(got, total int) {
			if total > 0 {
				a.page.status(fmt.Sprintf("downloading the %s mesh: %d%% of %.1f MB", name, 100*got/total, float64(total)/1e6))
			} else {
				a.page.status(fmt.Sprintf("downloading the %s mesh: %.1f MB", name, float64(got)/1e6))
			}
		})
		if err == nil {
			a.page.status("showing the " + name + " mesh…")
			// Sent before any re-request, from this goroutine: the server's vertices frames
			// for the new mesh come before maps at that resolution.
			var msg []byte
			msg, err = jsonMarshal(api.Message{Type: api.TypeMesh, Version: api.ProtocolVersion, ID: "mesh-" + name, Mesh: name})
			if err == nil {
				err = a.ws.Write(context.Background(), websocket.MessageText, msg)
			}
		}
		a.updates <- func() {
			a.switching = ""
			ds.Delete("meshLoading")
			if err != nil {
				a.page.showError("cannot load the " + name + " mesh: " + err.Error())
				a.page.setValue("mesh", a.meshName)
				return
			}
			a.useBundle(name, b)
			a.refresh()
			if a.last == "" {
				a.page.status(fmt.Sprintf("showing the %s mesh: choose, drop or paste an image", name))
			}
		}
	}()
}

// useBundle makes b (of mesh name) the one both viewers show.
func (a *app) useBundle(name string, b *meshes.Bundle) {
	cam := a.v.Camera()
	a.bundle, a.meshName, a.meshN = b, name, b.Hemis[0].NumVertices
	a.hasMap, a.hasMapB = false, false
	a.each(func(v *viewer.Viewer) {
		v.SetBundle(b)
		v.SetCamera(cam)
		if err := v.SetSurface(a.state.Surface); err != nil {
			v.SetSurface("inflated")
		}
		for _, c := range a.state.ROIs {
			v.SetROIVisible(c, true)
		}
	})
	a.setColormap(a.state.Colormap)
	a.each(func(v *viewer.Viewer) { v.SetOpacity(a.state.Opacity) })
	a.state.Mesh = name
	if a.meshInfos()[0].Name == name {
		a.state.Mesh = "" // the default: no key in the URL
	}
	a.page.setValue("mesh", name)
	a.page.body.Get("dataset").Set("mesh", name)
	a.setTitles(api.MapPredicted)
}
