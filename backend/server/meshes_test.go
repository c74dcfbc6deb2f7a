package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
)

// twoMeshes configures a small mesh of 6 vertices per hemisphere (the default) and a large
// one, counting how often each bundle is built.
func twoMeshes(builds *[2]atomic.Int32) func(*Config) {
	return func(c *Config) {
		c.Meshes = []Mesh{
			{Name: "small", Vertices: 6, Bundle: func() ([]byte, error) { builds[0].Add(1); return []byte("small-bundle"), nil }},
			{Name: "big", Vertices: 10242, Bundle: func() ([]byte, error) {
				builds[1].Add(1)
				return bytes.Repeat([]byte("big-bundle "), 1000), nil
			}},
		}
	}
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport of its own: the default one would add and undo gzip itself.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestMeshesServedLazily(t *testing.T) {
	var builds [2]atomic.Int32
	ts, _ := newTestServerWith(t, twoMeshes(&builds))
	if builds[0].Load()+builds[1].Load() != 0 {
		t.Fatalf("bundles built at start-up: %d, %d", builds[0].Load(), builds[1].Load())
	}

	resp, body := get(t, ts.URL+"/meshes/", nil)
	var list []api.MeshInfo
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/meshes/: %s %q (%v)", resp.Status, body, err)
	}
	want := []api.MeshInfo{{Name: "small", Vertices: 6, URL: "/meshes/small.bundle"}, {Name: "big", Vertices: 10242, URL: "/meshes/big.bundle"}}
	if !slices.Equal(list, want) {
		t.Fatalf("/meshes/ lists %+v, want %+v", list, want)
	}

	wantBig := bytes.Repeat([]byte("big-bundle "), 1000)
	resp, body = get(t, ts.URL+"/meshes/big.bundle", map[string]string{"Accept-Encoding": "gzip, br"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("big bundle: %s, encoding %q", resp.Status, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(raw, wantBig) || len(body) >= len(wantBig) {
		t.Fatalf("big bundle: %d compressed bytes decode to %d (err %v), want %d", len(body), len(raw), err, len(wantBig))
	}
	if got := resp.Header.Get("X-Bundle-Bytes"); got != fmt.Sprint(len(wantBig)) {
		t.Errorf("X-Bundle-Bytes %q, want %d", got, len(wantBig))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on the bundle")
	}
	resp, _ = get(t, ts.URL+"/meshes/big.bundle", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating with the ETag: %s, want 304", resp.Status)
	}
	resp, body = get(t, ts.URL+"/meshes/big.bundle", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, wantBig) {
		t.Errorf("identity bundle: %s, encoding %q, %d bytes", resp.Status, resp.Header.Get("Content-Encoding"), len(body))
	}
	if resp.Header.Get("ETag") == etag {
		t.Errorf("identity and gzip bodies share the ETag %s", etag)
	}
	if b0, b1 := builds[0].Load(), builds[1].Load(); b0 != 0 || b1 != 1 {
		t.Errorf("builds after four requests for big: small %d, big %d; want 0, 1", b0, b1)
	}
	for _, p := range []string{"/meshes/huge.bundle", "/meshes/big", "/meshes/big.bundle.gz", "/meshes/..%2fsecret.txt"} {
		if resp, _ := get(t, ts.URL+p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", p, resp.Status)
		}
	}
}

func TestMeshBuildFailureIsRetried(t *testing.T) {
	var calls atomic.Int32
	ts, _ := newTestServerWith(t, func(c *Config) {
		c.Meshes = []Mesh{{Name: "flaky", Vertices: 10242, Bundle: func() ([]byte, error) {
			if calls.Add(1) == 1 {
				return nil, fmt.Errorf("sources missing")
			}
			return []byte("bundle"), nil
		}}}
	})
	if resp, body := get(t, ts.URL+"/meshes/flaky.bundle", nil); resp.StatusCode != 500 || !strings.Contains(string(body), "sources missing") {
		t.Errorf("failed build: %s %q", resp.Status, body)
	}
	if resp, body := get(t, ts.URL+"/meshes/flaky.bundle", nil); resp.StatusCode != 200 || string(body) != "bundle" {
		t.Errorf("second try: %s %q", resp.Status, body)
	}
}

// readVertices reads the vertices frames of one subject.
func readVertices(t *testing.T, ws *websocket.Conn, subject int) (idx [2][]int32, mesh [2]int) {
	t.Helper()
	for range 2 {
		_, h, p := next(t, ws, func(typ int, m api.Message, h api.FrameHeader, _ []byte) bool {
			return h.Kind == api.TypeVertices && h.Subject == subject
		})
		v, err := api.BytesToInt32s(p)
		if err != nil || len(v) != h.Count {
			t.Fatalf("vertices frame: %d values, header count %d (%v)", len(v), h.Count, err)
		}
		hi := map[string]int{"lh": 0, "rh": 1}[h.Hemi]
		idx[hi], mesh[hi] = v, h.Mesh
	}
	return idx, mesh
}

// readMapHeaders reads the two map frames of id with their headers.
func readMapHeaders(t *testing.T, ws *websocket.Conn, id string) (vals [2][]float32, hs [2]api.FrameHeader) {
	t.Helper()
	for range 2 {
		_, h, p := next(t, ws, func(typ int, m api.Message, h api.FrameHeader, _ []byte) bool {
			if m.Type == api.TypeError {
				t.Fatalf("error instead of map %s: %+v", id, m)
			}
			return h.Kind == api.TypeMap && h.ID == id
		})
		v, _ := api.BytesToFloat32s(p)
		hi := map[string]int{"lh": 0, "rh": 1}[h.Hemi]
		vals[hi], hs[hi] = v, h
	}
	return vals, hs
}

func TestMeshResolutionOfMaps(t *testing.T) {
	var builds [2]atomic.Int32
	ts, _ := newTestServerWith(t, func(c *Config) { twoMeshes(&builds)(c); c.Source = fakeSource{} })
	ws := dial(t, ts, "")
	// Subject 1's challenge vertices are lh {0, 5, 7}, rh {1, 2, 3, 4}: vertex 7 is not on
	// the small mesh.
	w := hello(t, ws, "")
	if w.Welcome.Mesh != "small" || w.Welcome.MeshURL != "/meshes/small.bundle" || len(w.Welcome.Meshes) != 2 {
		t.Fatalf("welcome: mesh %q at %q, meshes %+v", w.Welcome.Mesh, w.Welcome.MeshURL, w.Welcome.Meshes)
	}
	idx, mesh := readVertices(t, ws, 1)
	if !slices.Equal(idx[0], []int32{0, 5}) || !slices.Equal(idx[1], []int32{1, 2, 3, 4}) || mesh != [2]int{6, 6} {
		t.Fatalf("small mesh vertices %v (mesh %v)", idx, mesh)
	}
	red := pngBytes(t, color.RGBA{255, 0, 0, 255}, 8, 8)
	sendImage(t, ws, "s1", 1, "red.png", red)
	vals, hs := readMapHeaders(t, ws, "s1")
	// fakePredict: 1 + vertex position × subject.
	if !slices.Equal(vals[0], []float32{1, 2}) || !slices.Equal(vals[1], []float32{1, 2, 3, 4}) || hs[0].Mesh != 6 || hs[0].Count != 2 || hs[0].Max != 2 {
		t.Fatalf("small-mesh map %v, headers %+v", vals, hs)
	}
	// measured maps go through the same selection.
	request(t, ws, api.Message{Type: api.TypeMeasured, ID: "m1", Subject: 1, Index: 2})
	if vals, _ := readMapHeaders(t, ws, "m1"); !slices.Equal(vals[0], []float32{2, 3}) {
		t.Fatalf("small-mesh measured map %v", vals)
	}

	request(t, ws, api.Message{Type: api.TypeMesh, ID: "x1", Mesh: "big"})
	idx, mesh = readVertices(t, ws, 1)
	if !slices.Equal(idx[0], []int32{0, 5, 7}) || mesh != [2]int{10242, 10242} {
		t.Fatalf("big mesh vertices %v (mesh %v)", idx, mesh)
	}
	m, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeMesh })
	if m.ID != "x1" || m.Mesh != "big" {
		t.Fatalf("mesh answer %+v", m)
	}
	sendImage(t, ws, "b1", 1, "red.png", red)
	vals, hs = readMapHeaders(t, ws, "b1")
	if !slices.Equal(vals[0], []float32{1, 2, 3}) || hs[0].Mesh != 10242 || hs[1].Mesh != 10242 {
		t.Fatalf("big-mesh map %v, headers %+v", vals, hs)
	}
	// The ROI summary is over every challenge vertex, whatever the mesh.
	request(t, ws, api.Message{Type: api.TypeROISummary, ID: "r1", Ref: "s1"})
	rs, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeROISummary })
	for _, st := range rs.ROIs {
		if st.Hemi == "lh" && st.Name == "ventral" && (st.N != 1 || st.Mean == nil || *st.Mean != 3) {
			t.Errorf("lh ventral summary of the small-mesh map: %+v, want n 1, mean 3 (the vertex not on the mesh)", st)
		}
	}

	request(t, ws, api.Message{Type: api.TypeMesh, ID: "x2", Mesh: "fsaverage7"})
	if e := expectError(t, ws, "x2", api.CodeNotFound); !strings.Contains(e.Error, "small, big") {
		t.Errorf("unknown mesh error %q does not list the meshes", e.Error)
	}

	// A hello naming an unknown mesh gets not_found, then the default.
	ws3 := dial(t, ts, "")
	sendJSON(t, ws3, api.Message{Type: api.TypeHello, Version: api.ProtocolVersion, ID: "h", Mesh: "fsaverage9"})
	expectError(t, ws3, "h", api.CodeNotFound)
	m, _, _ = next(t, ws3, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeWelcome })
	if m.Welcome.Mesh != "small" {
		t.Fatalf("welcome after hello with an unknown mesh: %q, want the default", m.Welcome.Mesh)
	}

	// hello may choose the mesh at once.
	ws2 := dial(t, ts, "")
	sendJSON(t, ws2, api.Message{Type: api.TypeHello, Version: api.ProtocolVersion, Mesh: "big"})
	m, _, _ = next(t, ws2, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeWelcome })
	if m.Welcome.Mesh != "big" || m.Welcome.MeshURL != "/meshes/big.bundle" {
		t.Fatalf("welcome after hello with mesh big: %q %q", m.Welcome.Mesh, m.Welcome.MeshURL)
	}
	if idx, _ := readVertices(t, ws2, 1); len(idx[0]) != 3 {
		t.Fatalf("hello with mesh big: lh vertices %v", idx[0])
	}
}

// fakeModels predicts with fakePredict for the served model, fakePredict + 100 for model
// "m2", and knows no other model; it records the models of each call.
type fakeModels struct {
	calls chan string
}

func (f *fakeModels) predict(ctx context.Context, model string, subjects []int, imgs []image.Image) ([][2][]float32, error) {
	f.calls <- model
	if model != "" && model != "m2" {
		return nil, fmt.Errorf("no stored model %q: %w", model, ErrNotFound)
	}
	out := make([][2][]float32, len(imgs))
	for i, img := range imgs {
		m, _ := fakePredict(ctx, subjects[i], img)
		if model == "m2" {
			for h := range m {
				for j := range m[h] {
					m[h][j] += 100
				}
			}
		}
		out[i] = m
	}
	return out, nil
}

// modelSource adds ModelCorrelation to fakeSource.
type modelSource struct{ fakeSource }

func (modelSource) ModelCorrelation(_ context.Context, subject int, model string) ([2][]float32, error) {
	if model != "m2" {
		return [2][]float32{}, fmt.Errorf("no stored model %q: %w", model, ErrNotFound)
	}
	return [2][]float32{{0.9, 0.8, 0.7}, {0.6, 0.5, 0.4, 0.3}}, nil
}

func TestModelChoice(t *testing.T) {
	fm := &fakeModels{calls: make(chan string, 64)}
	ts, _ := newTestServerWith(t, func(c *Config) {
		c.PredictModel = fm.predict
		c.Source = modelSource{}
		c.BatchWait = 300 * time.Millisecond
	})
	ws := dial(t, ts, "")
	if w := hello(t, ws, ""); !w.Welcome.ModelChoice {
		t.Fatal("welcome does not offer a model choice")
	}
	red := pngBytes(t, color.RGBA{255, 0, 0, 255}, 8, 8)
	sendImage(t, ws, "d", 1, "red.png", red)
	vals, hs := readMapHeaders(t, ws, "d")
	if vals[0][0] != 1 || hs[0].Model != "ridge-test" {
		t.Fatalf("default model: lh[0] %g, model %q", vals[0][0], hs[0].Model)
	}
	f, _ := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: "p", Subject: 1, Name: "red.png", Model: "m2"}, red)
	if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
		t.Fatal(err)
	}
	vals, hs = readMapHeaders(t, ws, "p")
	if vals[0][0] != 101 || hs[0].Model != "m2" || hs[1].Model != "m2" {
		t.Fatalf("model m2: lh[0] %g, model %q", vals[0][0], hs[0].Model)
	}
	request(t, ws, api.Message{Type: api.TypePredictDataset, ID: "pd", Subject: 1, Split: "train", Index: 1, Model: "m2"})
	if vals, _ := readMapHeaders(t, ws, "pd"); vals[0][0] != float32(40)/255+100 {
		t.Fatalf("predict_dataset with m2: lh[0] %g", vals[0][0])
	}
	request(t, ws, api.Message{Type: api.TypeCorrelation, ID: "c", Subject: 1, Model: "m2"})
	if vals, hs := readMapHeaders(t, ws, "c"); vals[0][0] != 0.9 || hs[0].Model != "m2" || hs[0].MapKind != api.MapCorrelation {
		t.Fatalf("correlation of m2: %v %+v", vals, hs[0])
	}
	request(t, ws, api.Message{Type: api.TypeCorrelation, ID: "c2", Subject: 1, Model: "gone"})
	expectError(t, ws, "c2", api.CodeUnknownModel)
	request(t, ws, api.Message{Type: api.TypePredictDataset, ID: "long", Subject: 1, Split: "train", Index: 1, Model: strings.Repeat("x", maxModelName+1)})
	expectError(t, ws, "long", api.CodeBadMessage)

	// A bad model in the same micro-batch as a good one fails only its own request.
	ws2 := dial(t, ts, "")
	hello(t, ws2, "")
	for len(fm.calls) > 0 {
		<-fm.calls
	}
	bad, _ := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: "bad", Subject: 1, Name: "red.png", Model: "gone"}, red)
	if err := ws2.WriteMessage(websocket.BinaryMessage, bad); err != nil {
		t.Fatal(err)
	}
	sendImage(t, ws, "good", 1, "red.png", red)
	e := expectError(t, ws2, "bad", api.CodeUnknownModel)
	if !strings.Contains(e.Error, `"gone"`) {
		t.Errorf("unknown model error %q does not name the model", e.Error)
	}
	if vals, _ := readMapHeaders(t, ws, "good"); vals[0][0] != 1 {
		t.Fatalf("the good request beside a bad model: lh[0] %g", vals[0][0])
	}
	got := []string{<-fm.calls, <-fm.calls}
	slices.Sort(got)
	if !slices.Equal(got, []string{"", "gone"}) {
		t.Errorf("predictor calls %q, want one per model", got)
	}
}

func TestModelChoiceUnsupported(t *testing.T) {
	ts, _ := newTestServerWith(t, func(c *Config) { c.Source = fakeSource{} })
	ws := dial(t, ts, "")
	if w := hello(t, ws, ""); w.Welcome.ModelChoice {
		t.Fatal("a server with a plain predictor offers a model choice")
	}
	request(t, ws, api.Message{Type: api.TypePredictDataset, ID: "p", Subject: 1, Split: "train", Index: 1, Model: "m2"})
	expectError(t, ws, "p", api.CodeUnknownModel)
	request(t, ws, api.Message{Type: api.TypeCorrelation, ID: "c", Subject: 1, Model: "m2"})
	expectError(t, ws, "c", api.CodeUnavailable)
}
