package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
)

// fakePredict returns, for every vertex, the image's mean red value plus the vertex index
// times a subject-specific step, so that tests can tell images and subjects apart.
func fakePredict(_ context.Context, subject int, img image.Image) ([2][]float32, error) {
	b := img.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			sum += float64(r) / 65535
		}
	}
	mean := float32(sum / float64(b.Dx()*b.Dy()))
	var out [2][]float32
	for h, n := range []int{3, 4} {
		out[h] = make([]float32, n)
		for i := range out[h] {
			out[h][i] = mean + float32(i*subject)
		}
	}
	return out, nil
}

func newTestServer(t *testing.T) (*httptest.Server, *Server) {
	t.Helper()
	return newTestServerWith(t, nil)
}

// newTestServerWith starts a server on loopback whose Config edit may change.
func newTestServerWith(t *testing.T, edit func(*Config)) (*httptest.Server, *Server) {
	t.Helper()
	web := t.TempDir()
	for name, body := range map[string]string{"index.html": "<html>cortexcast</html>", "wasm_exec.js": "//js", "cortexcast.wasm": "\x00asm"} {
		if err := os.WriteFile(filepath.Join(web, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file beside the web dir that must never be served.
	if err := os.WriteFile(filepath.Join(filepath.Dir(web), "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		WebDir: web, MeshName: "fsaverage5", MeshBundle: []byte("CCMB-test-bundle"), MeshVertices: 10242,
		Subjects: []Subject{{ID: 1, Vertices: [2][]int32{{0, 5, 7}, {1, 2, 3, 4}}}, {ID: 2, Vertices: [2][]int32{{0, 1, 2}, {0, 1, 2, 3}}}},
		Predict:  fakePredict, Model: "ridge-test", Features: "fake", Simulated: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func dial(t *testing.T, ts *httptest.Server, origin string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", h)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func sendJSON(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

// next reads frames until one satisfies keep, failing after a few seconds.
func next(t *testing.T, ws *websocket.Conn, keep func(typ int, m api.Message, h api.FrameHeader, p []byte) bool) (api.Message, api.FrameHeader, []byte) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m api.Message
		var h api.FrameHeader
		var p []byte
		if typ == websocket.TextMessage {
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("server sent bad JSON %q: %v", data, err)
			}
		} else if h, p, err = api.DecodeFrame(data); err != nil {
			t.Fatalf("server sent bad frame: %v", err)
		}
		if keep(typ, m, h, p) {
			return m, h, p
		}
	}
}

func nextError(t *testing.T, ws *websocket.Conn) api.Message {
	m, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeError })
	return m
}

func pngBytes(t *testing.T, c color.RGBA, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngDeclaring returns a small valid PNG whose IHDR claims w×h pixels (with a correct CRC):
// a decompression bomb as far as a decoder that trusts the header is concerned.
func pngDeclaring(t *testing.T, w, h uint32) []byte {
	b := pngBytes(t, color.RGBA{1, 2, 3, 255}, 4, 4)
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func sendImage(t *testing.T, ws *websocket.Conn, id string, subject int, name string, data []byte) {
	t.Helper()
	f, err := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: id, Subject: subject, Name: name}, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
		t.Fatal(err)
	}
}

func readMaps(t *testing.T, ws *websocket.Conn, id string) [2][]float32 {
	t.Helper()
	var out [2][]float32
	for range 2 {
		_, h, p := next(t, ws, func(typ int, m api.Message, h api.FrameHeader, _ []byte) bool {
			if m.Type == api.TypeError {
				t.Fatalf("error instead of map: %+v", m)
			}
			return h.Kind == api.TypeMap && h.ID == id
		})
		v, err := api.BytesToFloat32s(p)
		if err != nil {
			t.Fatal(err)
		}
		if h.Count != len(v) {
			t.Fatalf("header count %d, payload %d values", h.Count, len(v))
		}
		hi := 0
		if h.Hemi == "rh" {
			hi = 1
		}
		out[hi] = v
	}
	return out
}

func TestWelcomeAndPredict(t *testing.T) {
	ts, _ := newTestServer(t)
	ws := dial(t, ts, "")
	sendJSON(t, ws, api.Message{Type: api.TypeHello, Version: api.ProtocolVersion})
	m, _, _ := next(t, ws, func(typ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeWelcome })
	if m.Welcome == nil || len(m.Welcome.Subjects) != 2 || m.Welcome.Mesh != "fsaverage5" || !m.Welcome.Simulated {
		t.Fatalf("welcome %+v", m.Welcome)
	}
	got := map[string][]int32{}
	for range 4 {
		_, h, p := next(t, ws, func(typ int, _ api.Message, h api.FrameHeader, _ []byte) bool { return h.Kind == api.TypeVertices })
		idx, err := api.BytesToInt32s(p)
		if err != nil {
			t.Fatal(err)
		}
		if h.Mesh != 10242 {
			t.Fatalf("mesh vertices %d", h.Mesh)
		}
		got[h.Hemi+string(rune('0'+h.Subject))] = idx
	}
	if !equalInts(got["lh1"], []int32{0, 5, 7}) || !equalInts(got["rh2"], []int32{0, 1, 2, 3}) {
		t.Fatalf("vertex lists %v", got)
	}

	red := readAfterUpload(t, ws, "a", 1, pngBytes(t, color.RGBA{255, 0, 0, 255}, 8, 8))
	black := readAfterUpload(t, ws, "b", 1, pngBytes(t, color.RGBA{0, 0, 0, 255}, 8, 8))
	if red[0][0] != 1 || black[0][0] != 0 || len(red[1]) != 4 || red[1][3] != 4 {
		t.Fatalf("maps red %v black %v", red, black)
	}
	sub2 := readAfterUpload(t, ws, "c", 2, pngBytes(t, color.RGBA{0, 0, 0, 255}, 8, 8))
	if sub2[1][3] != 6 {
		t.Fatalf("subject 2 map %v", sub2)
	}
}

func readAfterUpload(t *testing.T, ws *websocket.Conn, id string, subject int, img []byte) [2][]float32 {
	sendImage(t, ws, id, subject, id+".png", img)
	return readMaps(t, ws, id)
}

func equalInts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBadInputKeepsConnection(t *testing.T) {
	ts, _ := newTestServer(t)
	ws := dial(t, ts, "")
	truncated := pngBytes(t, color.RGBA{9, 9, 9, 255}, 64, 64)
	truncated = truncated[:len(truncated)/2]
	jpegHead := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xDB}
	for _, tc := range []struct {
		name string
		send func()
		code string
		want string
	}{
		{"invalid json", func() { ws.WriteMessage(websocket.TextMessage, []byte("{nope")) }, api.CodeBadMessage, "JSON"},
		{"unknown type", func() { sendJSON(t, ws, map[string]any{"type": "launch", "version": 1}) }, api.CodeUnknownType, "launch"},
		{"wrong version", func() { sendJSON(t, ws, map[string]any{"type": "hello", "version": 99}) }, api.CodeBadVersion, "99"},
		{"bad frame", func() { ws.WriteMessage(websocket.BinaryMessage, []byte{0, 0}) }, api.CodeBadMessage, "shorter"},
		{"unknown subject", func() { sendImage(t, ws, "s", 9, "x.png", pngBytes(t, color.RGBA{}, 2, 2)) }, api.CodeUnknownSubject, "subject 9"},
		{"text named png", func() { sendImage(t, ws, "t", 1, "notes.png", []byte("hello, this is text")) }, api.CodeBadImage, "notes.png"},
		{"truncated png", func() { sendImage(t, ws, "p", 1, "half.png", truncated) }, api.CodeBadImage, "half.png"},
		{"truncated jpeg", func() { sendImage(t, ws, "j", 1, "half.jpg", jpegHead) }, api.CodeBadImage, "half.jpg"},
		{"png bomb", func() { sendImage(t, ws, "b", 1, "bomb.png", pngDeclaring(t, 50000, 50000)) }, api.CodeBadImage, "50000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.send()
			m := nextError(t, ws)
			if m.Code != tc.code || !strings.Contains(m.Error, tc.want) {
				t.Fatalf("error %q %q, want code %q containing %q", m.Code, m.Error, tc.code, tc.want)
			}
		})
	}
	// The same connection still predicts.
	maps := readAfterUpload(t, ws, "ok", 1, pngBytes(t, color.RGBA{255, 0, 0, 255}, 4, 4))
	if maps[0][0] != 1 {
		t.Fatalf("map after bad input %v", maps)
	}
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	ts, s := newTestServer(t)
	ws := dial(t, ts, "")
	big := make([]byte, s.maxFrame()+1)
	ws.WriteMessage(websocket.BinaryMessage, big)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("want close 1009 (message too big), got %v", err)
		}
		break
	}
	// The server keeps serving others.
	ws2 := dial(t, ts, "")
	maps := readAfterUpload(t, ws2, "x", 1, pngBytes(t, color.RGBA{255, 0, 0, 255}, 4, 4))
	if maps[0][0] != 1 {
		t.Fatalf("map %v", maps)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	ts, _ := newTestServer(t)
	h := http.Header{"Origin": {"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: err %v resp %v", err, resp)
	}
	// Same origin is fine.
	dial(t, ts, ts.URL)
}

func TestStaticFiles(t *testing.T) {
	ts, _ := newTestServer(t)
	for _, tc := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/", "text/html; charset=utf-8", "cortexcast", 200},
		{"/cortexcast.wasm", "application/wasm", "\x00asm", 200},
		{"/wasm_exec.js", "text/javascript; charset=utf-8", "//js", 200},
		{"/healthz", "text/plain; charset=utf-8", "ok", 200},
		{"/../secret.txt", "", "", 404},
		{"/%2e%2e/secret.txt", "", "", 404},
		{"/meshes/..%2fsecret.txt", "", "", 404},
		{"/meshes/fsaverage5.bundle", "application/octet-stream", "CCMB-test-bundle", 200},
	} {
		resp, err := http.Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if strings.Contains(string(body), "secret") {
			t.Errorf("%s: served a file outside the web directory", tc.path)
		}
		if tc.status == 200 && (resp.Header.Get("Content-Type") != tc.ctype || !strings.Contains(string(body), tc.body)) {
			t.Errorf("%s: type %q body %q", tc.path, resp.Header.Get("Content-Type"), body)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff header", tc.path)
		}
	}
}

func TestStaticGzip(t *testing.T) {
	ts, _ := newTestServer(t)
	req, _ := http.NewRequest("GET", ts.URL+"/cortexcast.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || string(body) != "\x00asm" {
		t.Fatalf("gunzipped body %q, %v", body, err)
	}
}
