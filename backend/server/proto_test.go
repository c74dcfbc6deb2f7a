package server

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
)

// fakeSource is a dataset of subject 1 only: three training and two test images, each a solid
// color whose red value encodes split and index, measured maps that encode the index, a
// correlation map with a NaN, and one ROI class.
type fakeSource struct{}

func (fakeSource) Images(subject int) ([]DatasetImage, error) {
	if subject != 1 {
		return nil, fmt.Errorf("subject %d: %w", subject, ErrNotFound)
	}
	return []DatasetImage{{"train", 1, 11}, {"train", 2, 12}, {"train", 3, 13}, {"test", 1, 21}, {"test", 2, 22}}, nil
}

func fakeRed(split string, index int) uint8 {
	if split == "test" {
		return uint8(100 + 40*index)
	}
	return uint8(40 * index)
}

func (fakeSource) LoadImage(_ context.Context, subject int, split string, index int) (image.Image, error) {
	if subject != 1 || index < 1 || (split == "train" && index > 3) || (split == "test" && index > 2) {
		return nil, fmt.Errorf("subject %d %s image %d: %w", subject, split, index, ErrNotFound)
	}
	img := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+3] = fakeRed(split, index), 255
	}
	return img, nil
}

func (fakeSource) Measured(subject, index int) ([2][]float32, error) {
	if subject != 1 || index < 1 || index > 3 {
		return [2][]float32{}, fmt.Errorf("subject %d training image %d: %w", subject, index, ErrNotFound)
	}
	f := float32(index)
	return [2][]float32{{f, f + 1, f + 2}, {-f, 0, f, 2 * f}}, nil
}

func (fakeSource) Correlation(subject int) ([2][]float32, error) {
	if subject != 1 {
		return [2][]float32{}, fmt.Errorf("subject %d: %w", subject, ErrNotFound)
	}
	return [2][]float32{{float32(math.NaN()), 0.5, -0.25}, {0.1, 0.2, 0.3, 0.4}}, nil
}

func (fakeSource) ROIs(subject int) ([]ROIClass, error) {
	return []ROIClass{{Name: "streams", Labels: [2][]int32{{1, 1, 2}, {0, 2, 2, 1}}, Names: map[int]string{1: "early", 2: "ventral"}}}, nil
}

func hello(t *testing.T, ws *websocket.Conn, token string) api.Message {
	t.Helper()
	sendJSON(t, ws, api.Message{Type: api.TypeHello, Version: api.ProtocolVersion, Token: token})
	m, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeWelcome })
	return m
}

func request(t *testing.T, ws *websocket.Conn, m api.Message) {
	t.Helper()
	m.Version = api.ProtocolVersion
	sendJSON(t, ws, m)
}

// readMapsKind reads the two maps of id and checks their kind and header range.
func readMapsKind(t *testing.T, ws *websocket.Conn, id, kind string) [2][]float32 {
	t.Helper()
	var out [2][]float32
	for range 2 {
		_, h, p := next(t, ws, func(typ int, m api.Message, h api.FrameHeader, _ []byte) bool {
			if m.Type == api.TypeError {
				t.Fatalf("error instead of map: %+v", m)
			}
			return h.Kind == api.TypeMap && h.ID == id
		})
		if h.MapKind != kind {
			t.Fatalf("map %s kind %q, want %q", id, h.MapKind, kind)
		}
		v, _ := api.BytesToFloat32s(p)
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, x := range v {
			if !math.IsNaN(float64(x)) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		if h.Min != lo || h.Max != hi {
			t.Fatalf("map %s %s header range [%g, %g], values [%g, %g]", id, h.Hemi, h.Min, h.Max, lo, hi)
		}
		out[map[string]int{"lh": 0, "rh": 1}[h.Hemi]] = v
	}
	return out
}

func expectError(t *testing.T, ws *websocket.Conn, id, code string) api.Message {
	t.Helper()
	m, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
		return m.Type == api.TypeError && m.ID == id
	})
	if m.Code != code || m.Error == "" {
		t.Fatalf("request %s: error %q (%s), want code %q", id, m.Code, m.Error, code)
	}
	return m
}

func TestDatasetMessages(t *testing.T) {
	ts, _ := newTestServerWith(t, func(c *Config) { c.Source = fakeSource{} })
	ws := dial(t, ts, "")
	if w := hello(t, ws, ""); !w.Welcome.DatasetImages || w.Welcome.Training || w.Welcome.Authorized {
		t.Fatalf("welcome %+v", w.Welcome)
	}

	request(t, ws, api.Message{Type: api.TypeImages, ID: "i", Subject: 1})
	m, _, _ := next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeImages })
	if m.ID != "i" || len(m.Images) != 5 || m.Images[3] != (api.DatasetImage{Split: "test", Index: 1, NSDID: 21, Thumb: "/thumbs/1/test/1.jpg"}) {
		t.Fatalf("images %+v", m)
	}
	// The thumbnail: a 96×48 JPEG of the image's color.
	for range 2 { // the second comes from the cache
		resp, err := http.Get(ts.URL + m.Images[3].Thumb)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumb: %s %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r, _, _, _ := img.At(10, 10).RGBA()
		if b := img.Bounds(); b.Dx() != 96 || b.Dy() != 48 || math.Abs(float64(r>>8)-140) > 4 {
			t.Fatalf("thumb %v red %d", img.Bounds(), r>>8)
		}
	}
	for _, path := range []string{"/thumbs/1/test/3.jpg", "/thumbs/1/val/1.jpg", "/thumbs/9/train/1.jpg", "/thumbs/1/train/1.png", "/thumbs/1/train/..%2f1.jpg"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}

	// predict_dataset: fakePredict gives the mean red plus index×subject.
	request(t, ws, api.Message{Type: api.TypePredictDataset, ID: "p", Subject: 1, Split: "test", Index: 2})
	pm := readMapsKind(t, ws, "p", api.MapPredicted)
	if want := float32(180) / 255; math.Abs(float64(pm[0][0]-want)) > 1e-3 || math.Abs(float64(pm[1][3]-want-3)) > 1e-3 {
		t.Fatalf("predicted %v, want lh[0] %g", pm, want)
	}
	request(t, ws, api.Message{Type: api.TypeMeasured, ID: "m", Subject: 1, Split: "train", Index: 2})
	if mm := readMapsKind(t, ws, "m", api.MapMeasured); fmt.Sprint(mm) != "[[2 3 4] [-2 0 2 4]]" {
		t.Fatalf("measured %v", mm)
	}
	request(t, ws, api.Message{Type: api.TypeCorrelation, ID: "c", Subject: 1})
	if cm := readMapsKind(t, ws, "c", api.MapCorrelation); !math.IsNaN(float64(cm[0][0])) || cm[0][1] != 0.5 || cm[1][3] != 0.4 {
		t.Fatalf("correlation %v", cm)
	}

	// roi_summary of the measured map: lh early {2,3} → 2.5, lh ventral {4}, rh ventral {0,2} → 1,
	// rh early {4}; of the correlation map: lh early has only the NaN's neighbour.
	request(t, ws, api.Message{Type: api.TypeROISummary, ID: "r", Ref: "m"})
	m, _, _ = next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeROISummary })
	got := map[string]string{}
	for _, r := range m.ROIs {
		got[r.Hemi+"/"+r.Class+"/"+r.Name] = fmt.Sprintf("%d %g %g", r.N, *r.Mean, *r.Median)
	}
	want := map[string]string{"lh/streams/early": "2 2.5 2.5", "lh/streams/ventral": "1 4 4", "rh/streams/early": "1 4 4", "rh/streams/ventral": "2 1 1"}
	if m.ID != "r" || m.Ref != "m" || m.Subject != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("roi summary %+v: %v, want %v", m, got, want)
	}
	request(t, ws, api.Message{Type: api.TypeROISummary, ID: "r2", Ref: "c"})
	m, _, _ = next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeROISummary })
	if r := m.ROIs[0]; r.Name != "early" || r.N != 1 || *r.Mean != 0.5 {
		t.Fatalf("roi summary of the correlation map %+v", r)
	}

	// Requests for what is not there.
	for _, c := range []struct {
		m    api.Message
		code string
	}{
		{api.Message{Type: api.TypeMeasured, ID: "e1", Subject: 1, Index: 4}, api.CodeNotFound},
		{api.Message{Type: api.TypeMeasured, ID: "e2", Subject: 1, Split: "test", Index: 1}, api.CodeNotFound},
		{api.Message{Type: api.TypeCorrelation, ID: "e3", Subject: 7}, api.CodeUnknownSubject},
		{api.Message{Type: api.TypeImages, ID: "e4", Subject: 2}, api.CodeNotFound},
		{api.Message{Type: api.TypePredictDataset, ID: "e5", Subject: 1, Split: "val", Index: 1}, api.CodeBadMessage},
		{api.Message{Type: api.TypePredictDataset, ID: "e6", Subject: 1, Split: "train", Index: 9}, api.CodeNotFound},
		{api.Message{Type: api.TypeROISummary, ID: "e7", Ref: "nope"}, api.CodeNotFound},
	} {
		request(t, ws, c.m)
		expectError(t, ws, c.m.ID, c.code)
	}
	// Still serving.
	readAfterUpload(t, ws, "after", 1, pngBytes(t, color.RGBA{0, 0, 0, 255}, 4, 4))
}

func TestNoSource(t *testing.T) {
	ts, _ := newTestServer(t)
	ws := dial(t, ts, "")
	for i, typ := range []string{api.TypeImages, api.TypeMeasured, api.TypeCorrelation, api.TypePredictDataset} {
		id := fmt.Sprint("n", i)
		request(t, ws, api.Message{Type: typ, ID: id, Subject: 1, Split: "train", Index: 1})
		expectError(t, ws, id, api.CodeUnavailable)
	}
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "t", Subjects: []int{1}})
	expectError(t, ws, "t", api.CodeForbidden)
}

// fakeJobs is a JobRunner that reports one step per subject and waits for release (or
// cancellation) before finishing.
type fakeJobs struct {
	release chan struct{}
	mu      sync.Mutex
	runs    [][]int
}

func (f *fakeJobs) run(ctx context.Context, subjects []int, progress func(string, int, int)) error {
	f.mu.Lock()
	f.runs = append(f.runs, subjects)
	f.mu.Unlock()
	for i, s := range subjects {
		progress(fmt.Sprintf("trained subj%02d", s), i+1, len(subjects))
	}
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestTrainingJobs(t *testing.T) {
	jobs := &fakeJobs{release: make(chan struct{})}
	ts, s := newTestServerWith(t, func(c *Config) { c.Train = jobs.run; c.Token = "s3cret" })
	if s.Token() != "s3cret" {
		t.Fatalf("token %q", s.Token())
	}
	anon := dial(t, ts, "")
	if w := hello(t, anon, ""); w.Welcome.Authorized || !w.Welcome.Training {
		t.Fatalf("welcome without token %+v", w.Welcome)
	}
	request(t, anon, api.Message{Type: api.TypeTrainStart, ID: "t0", Subjects: []int{1}})
	expectError(t, anon, "t0", api.CodeForbidden)
	request(t, anon, api.Message{Type: api.TypeTrainCancel, ID: "c0"})
	expectError(t, anon, "c0", api.CodeForbidden)

	wrong := dial(t, ts, "")
	sendJSON(t, wrong, api.Message{Type: api.TypeHello, Version: api.ProtocolVersion, Token: "s3cre"})
	expectError(t, wrong, "", api.CodeForbidden)
	request(t, wrong, api.Message{Type: api.TypeTrainStart, ID: "t1", Subjects: []int{1}})
	expectError(t, wrong, "t1", api.CodeForbidden)

	ws := dial(t, ts, "")
	if w := hello(t, ws, "s3cret"); !w.Welcome.Authorized {
		t.Fatalf("welcome with token %+v", w.Welcome)
	}
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "bad", Subjects: nil})
	expectError(t, ws, "bad", api.CodeBadMessage)
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j1", Subjects: []int{1, 2}})
	var stages []string
	for len(stages) < 3 {
		m, _, _ := next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
			return m.Type == api.TypeProgress && m.ID == "j1"
		})
		stages = append(stages, fmt.Sprintf("%s %d/%d", m.Stage, m.Done, m.Total))
	}
	if want := "[training started 0/2 trained subj01 1/2 trained subj02 2/2]"; fmt.Sprint(stages) != want {
		t.Fatalf("progress %v, want %s", stages, want)
	}
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j2", Subjects: []int{1}})
	expectError(t, ws, "j2", api.CodeBusy)
	close(jobs.release)
	m, _, _ := next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeTrainFinish })
	if m.ID != "j1" || m.Code != "" || m.Stage != "done" || fmt.Sprint(m.Subjects) != "[1 2]" {
		t.Fatalf("finish %+v", m)
	}

	// A job that is cancelled.
	jobs.release = make(chan struct{})
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j3", Subjects: []int{2}})
	next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
		return m.Type == api.TypeProgress && m.Done == 1
	})
	request(t, ws, api.Message{Type: api.TypeTrainCancel, ID: "c1"})
	m, _, _ = next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeTrainFinish })
	if m.ID != "j3" || m.Code != api.CodeCancelled {
		t.Fatalf("cancelled finish %+v", m)
	}
	request(t, ws, api.Message{Type: api.TypeTrainCancel, ID: "c2"})
	expectError(t, ws, "c2", api.CodeNotFound)
	if len(jobs.runs) != 2 {
		t.Fatalf("runs %v", jobs.runs)
	}
}

func TestRateLimit(t *testing.T) {
	ts, _ := newTestServerWith(t, func(c *Config) { c.RateLimit, c.RateBurst = 0.5, 3; c.Source = fakeSource{} })
	ws := dial(t, ts, "")
	for i := range 3 {
		request(t, ws, api.Message{Type: api.TypeCorrelation, ID: fmt.Sprint(i), Subject: 1})
		readMapsKind(t, ws, fmt.Sprint(i), api.MapCorrelation)
	}
	sendImage(t, ws, "over", 1, "x.png", pngBytes(t, color.RGBA{1, 1, 1, 255}, 2, 2))
	expectError(t, ws, "over", api.CodeRateLimited)
	request(t, ws, api.Message{Type: api.TypeCorrelation, ID: "over2", Subject: 1})
	expectError(t, ws, "over2", api.CodeRateLimited)
	// hello is not limited.
	hello(t, ws, "")
}

func TestBucket(t *testing.T) {
	b := newTokenBucket(10, 2)
	t0 := time.Unix(1000, 0)
	got := ""
	for _, dt := range []time.Duration{0, 0, 0, 50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 0} {
		t0 = t0.Add(dt)
		got += fmt.Sprint(b.take(t0)) + " "
	}
	// 2 tokens, then empty; +0.5 token after 50 ms (no); +1 after 100 ms: 1.5 → yes (0.5);
	// +1 → 1.5 → yes (0.5); immediately: no.
	if want := "true true false false true true false "; got != want {
		t.Fatalf("bucket %q, want %q", got, want)
	}
	if nb := newTokenBucket(-1, 0); !nb.take(t0) {
		t.Fatal("a negative rate limits")
	}
}

// TestBatchingAndSupersede: uploads of several viewers are predicted in one batch; a newer
// upload of one viewer replaces its pending one.
func TestBatchingAndSupersede(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	gate := make(chan struct{})
	batch := func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		mu.Lock()
		sizes = append(sizes, len(imgs))
		mu.Unlock()
		<-gate
		out := make([][2][]float32, len(imgs))
		for i, img := range imgs {
			m, _ := fakePredict(ctx, subjects[i], img)
			out[i] = m
		}
		return out, nil
	}
	ts, _ := newTestServerWith(t, func(c *Config) { c.PredictBatch = batch; c.BatchWait = 300 * time.Millisecond; c.BatchSize = 4 })
	var conns []*websocket.Conn
	for range 4 {
		conns = append(conns, dial(t, ts, ""))
	}
	for i, ws := range conns {
		sendImage(t, ws, "a", 1, "a.png", pngBytes(t, color.RGBA{uint8(50 * i), 0, 0, 255}, 4, 4))
	}
	// While the batch is held, viewer 0 sends two more: b waits, c replaces it.
	for _, id := range []string{"b", "c"} {
		time.Sleep(50 * time.Millisecond)
		sendImage(t, conns[0], id, 1, id+".png", pngBytes(t, color.RGBA{255, 0, 0, 255}, 4, 4))
	}
	expectError(t, conns[0], "b", api.CodeBusy)
	close(gate)
	for i, ws := range conns {
		m := readMaps(t, ws, "a")
		if want := float32(50*i) / 255; math.Abs(float64(m[0][0]-want)) > 1e-6 {
			t.Fatalf("viewer %d got %v, want lh[0] %g", i, m, want)
		}
	}
	if m := readMaps(t, conns[0], "c"); m[0][0] != 1 {
		t.Fatalf("c: %v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[4 1]" {
		t.Fatalf("batch sizes %v, want [4 1]", sizes)
	}
}

func TestMetrics(t *testing.T) {
	ts, _ := newTestServer(t)
	ws := dial(t, ts, "")
	readAfterUpload(t, ws, "a", 1, pngBytes(t, color.RGBA{9, 0, 0, 255}, 4, 4))
	sendImage(t, ws, "bad", 1, "bad.png", []byte("not an image"))
	expectError(t, ws, "bad", api.CodeBadImage)
	for range 2 {
		http.Get(ts.URL + "/healthz")
	}
	http.Get(ts.URL + "/nothing-here")
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cortexcast_http_requests_total{code="200",path="GET /healthz"} 2`,
		`cortexcast_http_requests_total{code="404",path="GET /{file...}"} 1`,
		`cortexcast_maps_total{kind="predicted"} 1`,
		`cortexcast_upload_to_map_seconds_count 1`,
		`cortexcast_errors_total{code="bad_image"} 1`,
		`cortexcast_viewers 1`,
		`cortexcast_predict_queue_depth 0`,
		`cortexcast_predict_batch_size_count 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", regexp.MustCompile(`(?m)^(#|go_|process_).*\n`).ReplaceAllString(string(body), ""))
	}
}

func TestThumbCacheEvicts(t *testing.T) {
	c := newThumbCache(10)
	c.put("a", make([]byte, 4))
	c.put("b", make([]byte, 4))
	c.get("a") // a is now the most recent
	c.put("c", make([]byte, 4))
	c.put("huge", make([]byte, 11))
	_, a := c.get("a")
	_, b := c.get("b")
	_, cc := c.get("c")
	_, huge := c.get("huge")
	if !a || b || !cc || huge || c.size != 8 {
		t.Fatalf("a %v b %v c %v huge %v size %d", a, b, cc, huge, c.size)
	}
}

// TestViewerLeavingCancels: an upload of a viewer that left while it waited is not predicted.
func TestViewerLeavingCancels(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	gate := make(chan struct{})
	first := true
	batch := func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		mu.Lock()
		sizes = append(sizes, len(imgs))
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-gate
		}
		return loopPredictor(fakePredict)(ctx, subjects, imgs)
	}
	ts, _ := newTestServerWith(t, func(c *Config) { c.PredictBatch = batch; c.BatchWait = time.Millisecond })
	b := dial(t, ts, "")
	sendImage(t, b, "b1", 1, "b.png", pngBytes(t, color.RGBA{1, 0, 0, 255}, 4, 4))
	time.Sleep(100 * time.Millisecond) // b1 is in the held batch
	a := dial(t, ts, "")
	sendImage(t, a, "a1", 1, "a.png", pngBytes(t, color.RGBA{2, 0, 0, 255}, 4, 4))
	time.Sleep(100 * time.Millisecond) // a1 waits for the batcher
	a.Close()
	time.Sleep(200 * time.Millisecond) // the server sees a leave
	close(gate)
	readMaps(t, b, "b1")
	readAfterUpload(t, b, "b2", 1, pngBytes(t, color.RGBA{3, 0, 0, 255}, 4, 4))
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 1]" {
		t.Fatalf("batch sizes %v, want [1 1] (the left viewer's upload dropped)", sizes)
	}
}

func TestPredictDeadline(t *testing.T) {
	slow := func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ts, _ := newTestServerWith(t, func(c *Config) { c.PredictBatch = slow; c.PredictTimeout = 100 * time.Millisecond })
	ws := dial(t, ts, "")
	sendImage(t, ws, "d", 1, "d.png", pngBytes(t, color.RGBA{3, 0, 0, 255}, 4, 4))
	if m := expectError(t, ws, "d", api.CodeInternal); !strings.Contains(m.Error, "deadline") {
		t.Fatalf("error %q", m.Error)
	}
}

// TestGracefulShutdown: cancelling ListenAndServe's context closes open websockets with
// "going away" and returns.
func TestGracefulShutdown(t *testing.T) {
	_, s := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a.String() }) }()
	addr := <-addrc
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hello(t, ws, "")
	cancel()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("want close 1001 (going away), got %v", err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
}
