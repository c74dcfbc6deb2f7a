//go:build js && wasm

// Command wasm is the browser entry of the cortexcast viewer: it connects to the server's
// websocket, fetches the mesh bundle, runs the Ebiten viewer on the page's canvas, sends
// images the user picks, drops or pastes, and colors the brain with the maps that come back.
package main

import (
	"context"
	"fmt"
	"image"
	"strconv"
	"syscall/js"

	"github.com/coder/websocket"
	"github.com/hajimehoshi/ebiten/v2"

	"cortexcast/backend/api"
	"cortexcast/meshes"
	"cortexcast/viewer"
)

func main() {
	a := &app{updates: make(chan func(), 64), vertices: map[vertKey][2][]int32{}}
	a.page = newPage()
	a.page.status("connecting to the server…")
	ctx := context.Background()

	origin := js.Global().Get("location").Get("origin").String()
	wsURL := "ws" + origin[len("http"):] + "/ws"
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		a.page.fail("cannot connect to the server at " + wsURL + ": " + err.Error())
		select {}
	}
	ws.SetReadLimit(64 << 20)
	a.ws = ws
	// The link's mesh is asked for in hello, so that the first download is the right one.
	hash := js.Global().Get("location").Get("hash").String()
	linked, linkErr := parseState(hash)
	hello, _ := jsonMarshal(api.Message{Type: api.TypeHello, Version: api.ProtocolVersion, Mesh: linked.Mesh})
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		a.page.fail("cannot greet the server: " + err.Error())
		select {}
	}
	welcome, raw, err := a.readWelcome(ctx)
	if err != nil {
		a.page.fail(err.Error())
		select {}
	}
	a.welcome = welcome
	a.datasetImages = hasDatasetImages(raw)
	a.subject = welcome.Subjects[0]
	a.page.setup(welcome, a)

	a.page.status("loading the " + welcome.Mesh + " mesh…")
	bundle, err := fetchBundle(origin+welcome.MeshURL, func(got, total int) {
		if total > 0 {
			a.page.status(fmt.Sprintf("loading the %s mesh: %d%%", welcome.Mesh, 100*got/total))
		}
	})
	if err != nil {
		a.page.fail("cannot load the mesh: " + err.Error())
		select {}
	}
	a.meshN = bundle.Hemis[0].NumVertices
	a.meshName = welcome.Mesh
	a.bundle = bundle
	a.v = viewer.New(bundle)
	a.v.SetTitle(a.title())
	a.v.SetBarLabel("predicted response (a.u.)")
	a.state = defaultState()
	a.setupControls()
	if a.datasetImages {
		a.page.body.Get("classList").Call("add", "has-dataset")
	}
	a.setupModes()
	if hash != "" {
		if linkErr != nil {
			a.page.showError("the link's view could not be fully restored: " + linkErr.Error())
		}
		a.applyState(linked)
	}
	a.setupChoosers()
	go a.readLoop(ctx)
	a.page.status("ready: choose, drop or paste an image")
	a.page.body.Get("dataset").Set("ready", "1")

	ebiten.SetWindowTitle("cortexcast")
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	if err := ebiten.RunGame(a); err != nil {
		a.page.fail("viewer stopped: " + err.Error())
	}
}

// app is the Ebiten game of the page: the viewer plus the updates that the network side
// hands to the game loop, so that the viewer is only touched from Update.
type app struct {
	v        *viewer.Viewer
	ws       *websocket.Conn
	page     *page
	welcome  *api.Welcome
	subject  int
	meshN    int    // vertices per hemisphere of the mesh shown
	meshName string // and its name
	// switching names the mesh being downloaded ("" when none).
	switching string
	vertices  map[vertKey][2][]int32
	updates   chan func()
	nextID    int
	maps      int
	pending   map[string]*[2][]float32 // request id → the hemispheres received so far
	names     map[string]string        // upload id → file name
	// The last request shown, repeated after a model or mesh change: its kind (lastUpload,
	// lastDataset, lastCorrelation) and, for an upload, the file.
	last     string
	lastData []byte
	lastName string
	models   []api.ModelInfo // the store's models, as last listed

	// The page state (see state.go) and the map shown.
	state         viewState
	mesh          [2][]float32
	hasMap        bool
	datasetImages bool // the server answers dataset-image, measured and correlation requests
	lastHash      string
	readout       string
	present       bool
	rotating      bool
	exports       int
	tick          int

	// Side by side: v2 shows the measured map with v's camera.
	bundle     *meshes.Bundle
	v2         *viewer.Viewer
	compare    bool
	meshB      [2][]float32
	hasMapB    bool
	images     []api.DatasetImage
	shownSet   string          // the dataset image shown ("train 12"), "" for an upload
	diffIDs    [2]string       // the predicted and measured requests of the difference
	diffGot    [2][2][]float32 // their maps once arrived
	shownSplit string
	shownIdx   int
	counts     map[string]int
	exportAt   func(*image.RGBA)
	exportIm   *ebiten.Image
}

func (a *app) Update() error {
	for {
		select {
		case f := <-a.updates:
			f()
		default:
			err := a.v.Update()
			if a.compare {
				a.v2.Update()
				a.v2.SetCamera(a.v.Camera())
			}
			a.tick++
			if a.tick%3 == 0 {
				a.updateReadout()
			}
			if a.tick%20 == 0 {
				a.syncURL()
				a.trackCanvas()
			}
			return err
		}
	}
}

func (a *app) Draw(screen *ebiten.Image) {
	if !a.compare {
		a.v.Draw(screen)
		return
	}
	target := screen
	b := screen.Bounds()
	if a.exportAt != nil {
		if a.exportIm == nil || a.exportIm.Bounds().Size() != b.Size() {
			a.exportIm = ebiten.NewImage(b.Dx(), b.Dy())
		}
		target = a.exportIm
	}
	half := b.Dx() / 2
	a.v.DrawAt(target, image.Rect(0, 0, half, b.Dy()))
	a.v2.DrawAt(target, image.Rect(half, 0, b.Dx(), b.Dy()))
	if a.exportAt != nil {
		img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		a.exportIm.ReadPixels(img.Pix)
		screen.DrawImage(a.exportIm, nil)
		f := a.exportAt
		a.exportAt = nil
		go f(img)
	}
}

func (a *app) Layout(w, h int) (int, int) { return a.v.Layout(w, h) }

// LayoutF draws at the display's full resolution (device pixel ratio) at any window size.
func (a *app) LayoutF(w, h float64) (float64, float64) {
	if a.v2 != nil {
		a.v2.LayoutF(w, h)
	}
	return a.v.LayoutF(w, h)
}

func (a *app) title() string { return a.titleOf(api.MapPredicted) }

// titleOf is the title line of a map kind (the viewer's font is ASCII only).
func (a *app) titleOf(kind string) string {
	what := "predicted activation"
	switch kind {
	case api.MapMeasured:
		what = "measured activation"
	case api.MapCorrelation:
		what = "prediction accuracy r (validation)"
	case mapDifference:
		what = "predicted - measured (z-scores)"
	}
	t := fmt.Sprintf("%s | subj%02d", what, a.subject)
	if a.shownSet != "" && kind != api.MapCorrelation {
		t += " | " + a.shownSet
	}
	if kind != api.MapMeasured && !a.compare {
		t += " | " + a.welcome.Features
	}
	if k := a.modelKind(); k != "" && kind != api.MapMeasured {
		t += " | " + k + " model"
	}
	if a.welcome.Simulated {
		t += " | SIMULATED data"
	}
	return t
}

// readWelcome waits for the server's welcome and returns it with the raw message (for
// the fields newer servers add).
func (a *app) readWelcome(ctx context.Context) (*api.Welcome, []byte, error) {
	for {
		typ, data, err := a.ws.Read(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("connection lost before the server said welcome: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		m, err := api.DecodeMessage(data)
		if err != nil {
			return nil, nil, fmt.Errorf("bad message from the server: %w", err)
		}
		switch m.Type {
		case api.TypeWelcome:
			if m.Welcome == nil || len(m.Welcome.Subjects) == 0 {
				return nil, nil, fmt.Errorf("the server has no subjects to show")
			}
			return m.Welcome, data, nil
		case api.TypeError:
			if m.Code == api.CodeNotFound { // the link's mesh is not served: the default comes
				a.page.showError("the link's mesh: " + m.Error)
				continue
			}
			return nil, nil, fmt.Errorf("server: %s", m.Error)
		}
	}
}

// upload sends an image the user chose; called from JavaScript with the file's bytes.
func (a *app) upload(data []byte, name string) {
	a.nextID++
	id := "u" + strconv.Itoa(a.nextID)
	if a.names == nil {
		a.names = map[string]string{}
	}
	a.names[id] = name
	a.last, a.lastData, a.lastName = lastUpload, data, name
	frame, err := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: id, Subject: a.subject, Name: name, Model: a.state.Model}, data)
	if err != nil {
		a.page.showError(err.Error())
		return
	}
	a.page.status("sending " + name + "…")
	go func() {
		if err := a.ws.Write(context.Background(), websocket.MessageBinary, frame); err != nil {
			a.page.showError("could not send " + name + ": " + err.Error())
		}
	}()
}

func (a *app) readLoop(ctx context.Context) {
	for {
		typ, data, err := a.ws.Read(ctx)
		if err != nil {
			a.page.fail("connection to the server lost: " + err.Error())
			return
		}
		if typ == websocket.MessageText {
			a.handleText(data)
			continue
		}
		h, payload, err := api.DecodeFrame(data)
		if err != nil {
			a.page.showError("bad frame from the server: " + err.Error())
			continue
		}
		switch h.Kind {
		case api.TypeVertices:
			idx, err := api.BytesToInt32s(payload)
			if err != nil {
				a.page.showError(err.Error())
				continue
			}
			k := vertKey{h.Subject, h.Mesh}
			v := a.vertices[k]
			v[hemiIndex(h.Hemi)] = idx
			a.vertices[k] = v
		case api.TypeMap:
			vals, err := api.BytesToFloat32s(payload)
			if err != nil {
				a.page.showError(err.Error())
				continue
			}
			a.gotMap(h, vals)
		}
	}
}

func (a *app) handleText(data []byte) {
	m, err := api.DecodeMessage(data)
	if err != nil {
		a.page.showError("bad message from the server: " + err.Error())
		return
	}
	switch m.Type {
	case api.TypeError:
		if m.Code == api.CodeBusy {
			return // superseded by a newer upload: nothing to show
		}
		a.page.showError(m.Error)
	case api.TypeProgress:
		a.page.status(m.Stage + "…")
	case api.TypeImages:
		a.updates <- func() { a.showGallery(m.Subject, m.Images) }
	case api.TypeModels:
		a.updates <- func() { a.showModels(m.Models) }
	case api.TypeTrainFinish, api.TypeModelDeleted:
		a.updates <- a.requestModels // the store changed
	case api.TypeVertices, api.TypeWelcome:
	}
}

func hemiIndex(h string) int {
	if h == "rh" {
		return 1
	}
	return 0
}

// gotMap keeps the first hemisphere of a prediction until the second arrives, then shows
// both with one shared, symmetric color range.
func (a *app) gotMap(h api.FrameHeader, vals []float32) {
	if a.pending == nil {
		a.pending = map[string]*[2][]float32{}
	}
	p := a.pending[h.ID]
	if p == nil {
		if len(a.pending) > 16 { // answers that will never be completed
			clear(a.pending)
		}
		p = &[2][]float32{}
		a.pending[h.ID] = p
	}
	p[hemiIndex(h.Hemi)] = vals
	if p[0] == nil || p[1] == nil {
		return
	}
	delete(a.pending, h.ID)
	// Maps say the vertex count of their mesh (older servers do not: the mesh shown). One
	// of another resolution than the mesh shown was asked for before a switch: dropped.
	n := h.Mesh
	if n == 0 {
		n = a.meshN
	}
	idx := a.vertices[vertKey{h.Subject, h.Mesh}]
	var mesh [2][]float32
	for hi := range 2 {
		mesh[hi] = toMesh(p[hi], idx[hi], n)
	}
	kind := h.MapKind
	if kind == "" {
		kind = api.MapPredicted
	}
	name := a.names[h.ID]
	a.updates <- func() {
		if n != a.meshN {
			return
		}
		if a.state.Mode == "difference" && !a.compare && (h.ID == a.diffIDs[0] || h.ID == a.diffIDs[1]) {
			if h.ID == a.diffIDs[0] {
				a.diffGot[0] = mesh
			} else {
				a.diffGot[1] = mesh
			}
			if a.diffGot[0][0] == nil || a.diffGot[1][0] == nil {
				return
			}
			mesh = zDifference(a.diffGot[0], a.diffGot[1])
			kind = mapDifference
		}
		if kind == api.MapMeasured && a.compare {
			a.meshB, a.hasMapB = mesh, true
			a.v2.SetOverlay(0, mesh[0])
			a.v2.SetOverlay(1, mesh[1])
		} else {
			a.mesh, a.hasMap = mesh, true
			if name != "" {
				a.state.Image = name
				a.shownSet = ""
			}
			a.v.SetOverlay(0, mesh[0])
			a.v.SetOverlay(1, mesh[1])
			a.v.SetBarLabel(barLabel(kind))
		}
		a.applyRange()
		a.setTitles(kind)
		a.maps++
		if a.counts == nil {
			a.counts = map[string]int{}
		}
		a.counts[kind]++
		ds := a.page.body.Get("dataset")
		ds.Set("overlayVertices", strconv.Itoa(finiteCount(mesh)))
		ds.Set("maps", strconv.Itoa(a.maps))
		ds.Set(kind, strconv.Itoa(a.counts[kind]))
		a.page.status(fmt.Sprintf("%s map shown (map %d of this session)", kind, a.maps))
		a.page.clearError()
	}
}
