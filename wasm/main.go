//go:build js && wasm

// Command wasm is the browser entry of the cortexcast viewer: it connects to the server's
// websocket, fetches the mesh bundle, runs the Ebiten viewer on the page's canvas, sends
// images the user picks, drops or pastes, and colors the brain with the maps that come back.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall/js"

	"github.com/coder/websocket"
	"github.com/hajimehoshi/ebiten/v2"

	"cortexcast/backend/api"
	"cortexcast/meshes"
	"cortexcast/viewer"
)

func main() {
	a := &app{updates: make(chan func(), 64), vertices: map[int][2][]int32{}}
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
	hello, _ := jsonMarshal(api.Message{Type: api.TypeHello, Version: api.ProtocolVersion})
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
	bundle, err := fetchBundle(origin + welcome.MeshURL)
	if err != nil {
		a.page.fail("cannot load the mesh: " + err.Error())
		select {}
	}
	a.meshN = bundle.Hemis[0].NumVertices
	a.v = viewer.New(bundle)
	a.v.SetTitle(a.title())
	a.v.SetBarLabel("predicted response (a.u.)")
	a.state = defaultState()
	a.setupControls()
	if a.datasetImages {
		a.page.body.Get("classList").Call("add", "has-dataset")
	}
	if hash := js.Global().Get("location").Get("hash").String(); hash != "" {
		s, err := parseState(hash)
		if err != nil {
			a.page.showError("the link's view could not be fully restored: " + err.Error())
		}
		a.applyState(s)
	}
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
	meshN    int
	vertices map[int][2][]int32
	updates  chan func()
	nextID   int
	maps     int
	pending  [2][]float32
	pendID   string
	names    map[string]string // upload id → file name

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
}

func (a *app) Update() error {
	for {
		select {
		case f := <-a.updates:
			f()
		default:
			err := a.v.Update()
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

func (a *app) Draw(screen *ebiten.Image) { a.v.Draw(screen) }

func (a *app) Layout(w, h int) (int, int) { return a.v.Layout(w, h) }

func (a *app) title() string {
	// The viewer's font is ASCII only.
	t := fmt.Sprintf("predicted activation | subj%02d | %s", a.subject, a.welcome.Features)
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
			return nil, nil, fmt.Errorf("server: %s", m.Error)
		}
	}
}

func fetchBundle(url string) (*meshes.Bundle, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return meshes.DecodeBundle(bytes.NewReader(b))
}

// upload sends an image the user chose; called from JavaScript with the file's bytes.
func (a *app) upload(data []byte, name string) {
	a.nextID++
	id := "u" + strconv.Itoa(a.nextID)
	if a.names == nil {
		a.names = map[string]string{}
	}
	a.names[id] = name
	frame, err := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: id, Subject: a.subject, Name: name}, data)
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
			v := a.vertices[h.Subject]
			v[hemiIndex(h.Hemi)] = idx
			a.vertices[h.Subject] = v
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
	if h.ID != a.pendID {
		a.pendID = h.ID
		a.pending = [2][]float32{}
	}
	a.pending[hemiIndex(h.Hemi)] = vals
	if a.pending[0] == nil || a.pending[1] == nil {
		return
	}
	idx := a.vertices[h.Subject]
	var mesh [2][]float32
	for hi := range 2 {
		mesh[hi] = toMesh(a.pending[hi], idx[hi], a.meshN)
	}
	lim := symmetricLimit(mesh)
	a.pending = [2][]float32{}
	a.maps++
	n := a.maps
	name := a.names[h.ID]
	a.updates <- func() {
		a.mesh, a.hasMap = mesh, true
		if name != "" {
			a.state.Image = name
		}
		a.v.SetOverlay(0, mesh[0])
		a.v.SetOverlay(1, mesh[1])
		a.applyRange()
		a.v.SetTitle(a.title())
	}
	a.page.status(fmt.Sprintf("map %d shown (98th percentile of |value| %.2f)", n, lim))
	a.page.body.Get("dataset").Set("maps", strconv.Itoa(n))
	a.page.clearError()
}
