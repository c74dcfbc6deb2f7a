package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/api"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/imageio"
	"cortexcast/backend/server"
	"cortexcast/backend/simulate"
)

// serverP50Target is the p50 upload→map latency for one viewer with the embedded model.
const serverP50Target = 100 * time.Millisecond

// maxRequestsPerViewer bounds each viewer's request loop besides the duration.
const maxRequestsPerViewer = 100000

func serverSection() section {
	return section{
		name:  "server",
		about: "load test on loopback: 1, 10, 100 viewers uploading images to a real server with the Gabor model (p50/p99 upload→map, maps/s, errors, peak RSS)",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			dur := fs.Duration("server-duration", 30*time.Second, "how long each viewer count uploads")
			viewers := fs.String("server-viewers", "1,10,100", "comma-separated viewer counts")
			train := fs.Int("server-train", 60, "simulated training images the model is fit on")
			return func(ctx context.Context, b *bench) error {
				var counts []int
				for _, f := range strings.Split(*viewers, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil || n < 1 || n > 1000 {
						return fmt.Errorf("-server-viewers: %q is not a count from 1 to 1000", f)
					}
					counts = append(counts, n)
				}
				return benchServer(ctx, b, *dur, counts, *train)
			}
		},
	}
}

// benchServer simulates a one-subject dataset, fits the Gabor ridge model on it, serves it on
// 127.0.0.1:0 and runs the viewer counts one after the other.
func benchServer(ctx context.Context, b *bench, dur time.Duration, counts []int, train int) error {
	root := filepath.Join(b.work, "sim")
	if err := simulate.Generate(ctx, simulate.Config{Root: root, Subjects: 1, Train: train, Test: 8, Seed: 11}); err != nil {
		return err
	}
	ds, err := algonauts.Open(root)
	if err != nil {
		return err
	}
	sub, err := ds.Subject(1)
	if err != nil {
		return err
	}
	ext, err := features.New("gabor")
	if err != nil {
		return err
	}
	imgs := make([]image.Image, len(sub.Train))
	for i, im := range sub.Train {
		if imgs[i], err = imageio.DecodeFile(im.Path, imageio.DefaultLimits()); err != nil {
			return err
		}
	}
	x, err := ext.Extract(ctx, imgs)
	if err != nil {
		return err
	}
	p := ext.Dim()
	var models [2]*encoding.Ridge
	ss := server.Subject{ID: 1}
	for hi, h := range algonauts.Hemis() {
		y, _, v, err := sub.FMRI(h)
		if err != nil {
			return err
		}
		if models[hi], err = encoding.FitRidge(x, len(imgs), p, y, v, encoding.RidgeOptions{}); err != nil {
			return err
		}
		if ss.Vertices[hi], err = sub.ChallengeVertices(h); err != nil {
			return err
		}
	}
	predict := func(ctx context.Context, subjects []int, batch []image.Image) ([][2][]float32, error) {
		x, err := ext.Extract(ctx, batch)
		if err != nil {
			return nil, err
		}
		out := make([][2][]float32, len(batch))
		for hi, r := range models {
			pred := r.Predict(x, len(batch))
			for i := range batch {
				out[i][hi] = pred[i*r.V : (i+1)*r.V]
			}
		}
		return out, nil
	}
	web := filepath.Join(b.work, "web")
	if err := os.MkdirAll(web, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(web, "index.html"), []byte("<html></html>"), 0o644); err != nil {
		return err
	}
	// The uploads: the test images' files as a browser would send them.
	var uploads [][]byte
	for _, im := range sub.Test {
		data, err := os.ReadFile(im.Path)
		if err != nil {
			return err
		}
		uploads = append(uploads, data)
	}
	// The cost of one upload without the server: decode, extract, predict.
	t0 := time.Now()
	img, _, err := imageio.Decode(uploads[0], imageio.DefaultLimits())
	if err != nil {
		return err
	}
	t1 := time.Now()
	if _, err := predict(ctx, []int{1}, []image.Image{img}); err != nil {
		return err
	}
	t2 := time.Now()
	batch := make([]image.Image, 16)
	for i := range batch {
		batch[i] = img
	}
	if _, err := predict(ctx, make([]int, 16), batch); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "server one %dx%d upload without the server: decode %.1f ms, extract+predict %.1f ms; a batch of 16: %.1f ms per image\n",
		img.Bounds().Dx(), img.Bounds().Dy(), ms(t1.Sub(t0)), ms(t2.Sub(t1)), ms(time.Since(t2))/16)
	for _, n := range counts {
		// The rate limit is off (each viewer sends as fast as it gets answers) and the deadline
		// long: 100 viewers on 2 cores queue for many seconds, and the test counts maps, not
		// refusals.
		if err := benchViewers(ctx, b, server.Config{WebDir: web, MeshName: "fsaverage5", Subjects: []server.Subject{ss},
			PredictBatch: predict, RateLimit: -1, PredictTimeout: 5 * time.Minute, Model: "ridge", Features: ext.ID()}, n, dur, uploads); err != nil {
			return err
		}
	}
	return nil
}

// benchViewers runs n viewers against a fresh server for dur; each uploads an image, waits for
// its two maps, and uploads the next.
func benchViewers(ctx context.Context, b *bench, cfg server.Config, n int, dur time.Duration, uploads [][]byte) error {
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(sctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		stop()
		return err
	}
	url := "ws://" + addr.String() + "/ws"
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      []string
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(dur)
	start := time.Now()
	for v := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, err := viewerLoop(url, v, deadline, uploads)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, lat...)
			if err != nil {
				errs = append(errs, err.Error())
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	slices.Sort(latencies)
	q := func(f float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(f*float64(len(latencies))))]
	}
	verdict := ""
	if n == 1 && q(0.5) > serverP50Target {
		verdict, b.missed = ", MISSED", true
	}
	if len(errs) > 0 {
		b.missed = true
	}
	fmt.Fprintf(b.out, "server %3d viewers, %s: %d maps, %.1f maps/s, p50 %.1f ms, p99 %.1f ms, errors %d, peak RSS %s (target: errors 0; p50 < %d ms for 1 viewer%s)\n",
		n, seconds(elapsed), len(latencies), float64(len(latencies))/elapsed.Seconds(), ms(q(0.5)), ms(q(0.99)), len(errs), peakRSS(),
		serverP50Target.Milliseconds(), verdict)
	for i, e := range errs {
		if i == 3 {
			fmt.Fprintf(b.out, "  … %d more errors\n", len(errs)-3)
			break
		}
		fmt.Fprintf(b.out, "  error: %s\n", e)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// viewerLoop is one viewer: hello, then upload→maps until the deadline or the request bound.
// It returns the latencies and the first error (which ends the viewer).
func viewerLoop(url string, v int, deadline time.Time, uploads [][]byte) ([]time.Duration, error) {
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("viewer %d: dial: %w", v, err)
	}
	defer ws.Close()
	hello, _ := json.Marshal(api.Message{Type: api.TypeHello, Version: api.ProtocolVersion})
	if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
		return nil, fmt.Errorf("viewer %d: hello: %w", v, err)
	}
	rng := rand.New(rand.NewPCG(uint64(v), 1))
	var lat []time.Duration
	for i := 0; i < maxRequestsPerViewer && time.Now().Before(deadline); i++ {
		id := strconv.Itoa(i)
		frame, err := api.EncodeFrame(api.FrameHeader{Kind: "image", ID: id, Subject: 1, Name: "bench.png"}, uploads[rng.IntN(len(uploads))])
		if err != nil {
			return lat, err
		}
		t0 := time.Now()
		if err := ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			return lat, fmt.Errorf("viewer %d: upload %d: %w", v, i, err)
		}
		ws.SetReadDeadline(time.Now().Add(time.Minute))
		for maps := 0; maps < 2; {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return lat, fmt.Errorf("viewer %d: upload %d: read: %w", v, i, err)
			}
			if typ == websocket.TextMessage {
				var m api.Message
				if json.Unmarshal(data, &m) == nil && m.Type == api.TypeError {
					return lat, fmt.Errorf("viewer %d: upload %d: %s: %s", v, i, m.Code, m.Error)
				}
				continue
			}
			if h, _, err := api.DecodeFrame(data); err == nil && h.Kind == api.TypeMap && h.ID == id {
				maps++
			}
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// peakRSS is the process's peak resident memory (VmHWM), server and viewers together.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
