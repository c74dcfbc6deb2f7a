package main

import (
	"context"
	"encoding/json"
	"image"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/api"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/imageio"
	"cortexcast/backend/metrics"
	"cortexcast/backend/server"
	"cortexcast/backend/simulate"
)

// jobsFixture simulates a small dataset, trains subject 1 and composes the server the way
// serve does (without meshes and the built page).
type jobsFixture struct {
	o      trainOptions
	ext    features.Extractor
	sub    *algonauts.Subject
	src    *dataSource
	models *servedModels
	ts     *httptest.Server
	srv    *server.Server
}

func newJobsFixture(t *testing.T) *jobsFixture {
	t.Helper()
	work := t.TempDir()
	ctx := context.Background()
	data := filepath.Join(work, "sim")
	if err := simulate.Generate(ctx, simulate.Config{Root: data, Subjects: 1, Train: 30, Test: 3, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	o := trainOptions{Data: data, Cache: filepath.Join(work, "features"), Models: filepath.Join(work, "models"), Extractor: "gabor", Subjects: "1"}
	ext, err := features.New(o.Extractor)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := algonauts.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ds.Subject(1)
	if err != nil {
		t.Fatal(err)
	}
	fitAndSave(t, e, o, ext, sub)
	f := &jobsFixture{o: o, ext: ext, sub: sub, models: &servedModels{models: map[int]*encoding.SubjectModel{}, corr: map[int][2][]float32{}}}
	f.src = newDataSource(map[int]*algonauts.Subject{1: sub}, f.models)
	m, corr, err := loadServed(ctx, e, o, ext, f.src, sub)
	if err != nil {
		t.Fatal(err)
	}
	f.models.set(1, m, corr)
	web := filepath.Join(work, "web")
	os.MkdirAll(web, 0o755)
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<html></html>"), 0o644)
	ss := server.Subject{ID: 1}
	for hi, h := range algonauts.Hemis() {
		if ss.Vertices[hi], err = sub.ChallengeVertices(h); err != nil {
			t.Fatal(err)
		}
	}
	f.srv, err = server.New(server.Config{WebDir: web, MeshName: "fsaverage5", Subjects: []server.Subject{ss},
		PredictBatch: batchPredictor(ext, f.models), Source: f.src, Train: trainJob(e, o, ext, f.src, f.models), Token: "tok",
		Store: &modelStore{root: o.Models, extractorID: ext.ID(), models: f.models, log: e.log}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.srv.Close)
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// fitAndSave fits subject sub's model as trainAll does, without the compute backend (gomlx's
// matrix product trips the race detector's pointer checks), and saves it where serve looks.
func fitAndSave(t *testing.T, e *env, o trainOptions, ext features.Extractor, sub *algonauts.Subject) {
	t.Helper()
	x, p, err := cachedFeatures(context.Background(), e, ext, o.Cache, sub, "train")
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := algonauts.DevkitSplit(len(sub.Train), splitSeed)
	m := &encoding.SubjectModel{Subject: sub.ID, Features: ext.ID()}
	for hi, h := range algonauts.Hemis() {
		y, _, v, err := sub.FMRI(h)
		if err != nil {
			t.Fatal(err)
		}
		if m.Hemis[hi], err = encoding.FitRidge(rows(x, p, tr), len(tr), p, rows(y, v, tr), v, encoding.RidgeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := encoding.Save(modelDir(o.Models, sub.ID, ext.ID()), m, encoding.Manifest{Kind: "ridge"}); err != nil {
		t.Fatal(err)
	}
}

func (f *jobsFixture) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func wsSend(t *testing.T, ws *websocket.Conn, m api.Message) {
	t.Helper()
	m.Version = api.ProtocolVersion
	b, _ := json.Marshal(m)
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

// wsNext reads until a text message of type typ or the two maps of id arrive.
func wsNext(t *testing.T, ws *websocket.Conn, typ string, timeout time.Duration) api.Message {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(timeout))
	for {
		kind, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if kind != websocket.TextMessage {
			continue
		}
		var m api.Message
		json.Unmarshal(data, &m)
		if m.Type == api.TypeError {
			t.Fatalf("waiting for %s: error %+v", typ, m)
		}
		if m.Type == typ {
			return m
		}
	}
}

func wsMaps(t *testing.T, ws *websocket.Conn, id string) (string, [2][]float32) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	var out [2][]float32
	kind := ""
	for n := 0; n < 2; {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for maps %s: %v", id, err)
		}
		if typ == websocket.TextMessage {
			var m api.Message
			json.Unmarshal(data, &m)
			if m.Type == api.TypeError {
				t.Fatalf("waiting for maps %s: error %+v", id, m)
			}
			continue
		}
		h, p, err := api.DecodeFrame(data)
		if err != nil || h.Kind != api.TypeMap || h.ID != id {
			continue
		}
		if math.IsNaN(float64(h.Min)) || math.IsNaN(float64(h.Max)) {
			t.Fatalf("map %s header range [%g, %g]", id, h.Min, h.Max)
		}
		v, _ := api.BytesToFloat32s(p)
		out[map[string]int{"lh": 0, "rh": 1}[h.Hemi]] = v
		kind = h.MapKind
		n++
	}
	return kind, out
}

func closeTo(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

// TestServedDataset talks to the server composed as serve composes it, on a trained simulated
// subject: every dataset message against the files and the model directly, then a training
// job that replaces the model.
func TestServedDataset(t *testing.T) {
	f := newJobsFixture(t)
	ws := f.dial(t)
	wsSend(t, ws, api.Message{Type: api.TypeHello, Token: "tok"})
	if w := wsNext(t, ws, api.TypeWelcome, 5*time.Second); !w.Welcome.Authorized || !w.Welcome.DatasetImages {
		t.Fatalf("welcome %+v", w.Welcome)
	}
	wsSend(t, ws, api.Message{Type: api.TypeImages, ID: "i", Subject: 1})
	if m := wsNext(t, ws, api.TypeImages, 5*time.Second); len(m.Images) != 33 || m.Images[30].Split != "test" || m.Images[0].NSDID != f.sub.Train[0].NSDID {
		t.Fatalf("images: %d, %+v", len(m.Images), m.Images[:1])
	}

	// predict_dataset equals the model applied to the image's features.
	wsSend(t, ws, api.Message{Type: api.TypePredictDataset, ID: "p", Subject: 1, Split: "test", Index: 2})
	kind, got := wsMaps(t, ws, "p")
	img, err := imageio.DecodeFile(f.sub.Test[1].Path, imageio.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.ext.Extract(context.Background(), []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := f.models.get(1)
	for hi := range 2 {
		if want := m.Hemis[hi].Predict(x, 1); kind != api.MapPredicted || !closeTo(got[hi], want, 1e-5) {
			t.Fatalf("predicted %s hemi %d differs from the model's prediction", kind, hi)
		}
	}

	// measured is the fMRI row.
	wsSend(t, ws, api.Message{Type: api.TypeMeasured, ID: "m", Subject: 1, Index: 3})
	kind, got = wsMaps(t, ws, "m")
	for hi, h := range algonauts.Hemis() {
		y, _, v, err := f.sub.FMRI(h)
		if err != nil {
			t.Fatal(err)
		}
		if kind != api.MapMeasured || !closeTo(got[hi], y[2*v:3*v], 0) {
			t.Fatalf("measured %s differs from row 3 of the fMRI", h)
		}
	}

	// correlation: vertex 0's r from the validation images, computed here with metrics.Pearson.
	wsSend(t, ws, api.Message{Type: api.TypeCorrelation, ID: "c", Subject: 1})
	kind, got = wsMaps(t, ws, "c")
	xt, p, err := cachedFeatures(context.Background(), &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}, f.ext, f.o.Cache, f.sub, "train")
	if err != nil {
		t.Fatal(err)
	}
	_, val := algonauts.DevkitSplit(len(f.sub.Train), splitSeed)
	y, _, v, _ := f.sub.FMRI(algonauts.LH)
	var pred, meas []float32
	for _, r := range val {
		pred = append(pred, m.Hemis[0].Predict(xt[r*p:(r+1)*p], 1)[0])
		meas = append(meas, y[r*v])
	}
	if want := metrics.Pearson(pred, meas); kind != api.MapCorrelation || math.Abs(float64(got[0][0]-want)) > 1e-4 || len(got[1]) != m.Hemis[1].V {
		t.Fatalf("correlation of vertex 0: %g, want %g", got[0][0], want)
	}

	wsSend(t, ws, api.Message{Type: api.TypeROISummary, ID: "r", Ref: "m"})
	rs := wsNext(t, ws, api.TypeROISummary, 5*time.Second)
	classes := map[string]bool{}
	for _, r := range rs.ROIs {
		classes[r.Class] = true
		if r.N > 0 && (r.Mean == nil || r.Name == "") {
			t.Fatalf("roi %+v", r)
		}
	}
	if !classes["prf-visualrois"] || !classes["streams"] {
		t.Fatalf("roi summary classes %v", classes)
	}

	// A training job retrains subject 1 and reloads it (trainAll uses the compute backend,
	// which the race detector's pointer checks stop).
	if raceEnabled {
		t.Log("race detector on: the training job itself is tested without it")
		return
	}
	old, _, _ := f.models.get(1)
	wsSend(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j", Subjects: []int{1}})
	fin := wsNext(t, ws, api.TypeTrainFinish, 2*time.Minute)
	if fin.Code != "" || fin.ID != "j" {
		t.Fatalf("train finish %+v", fin)
	}
	if now, _, _ := f.models.get(1); now == old {
		t.Fatal("the model was not reloaded")
	}
	wsSend(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j2", Subjects: []int{3}})
	if fin := wsNext(t, ws, api.TypeTrainFinish, 10*time.Second); fin.Code != api.CodeInternal || !strings.Contains(fin.Error, "subject 3") {
		t.Fatalf("train of an unserved subject %+v", fin)
	}
	wsSend(t, ws, api.Message{Type: api.TypePredictDataset, ID: "p2", Subject: 1, Split: "train", Index: 1})
	if kind, _ := wsMaps(t, ws, "p2"); kind != api.MapPredicted {
		t.Fatal(kind)
	}
}
