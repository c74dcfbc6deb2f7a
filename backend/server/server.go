// Package server serves the cortexcast viewer over HTTP and answers its websocket: a viewer
// uploads an image (or picks one of the dataset's), the server decodes it safely, predicts the
// cortical response with the loaded encoding model — micro-batching the requests of all
// viewers, with the served model or a stored one the viewer names — and sends back one float32
// map per hemisphere at the challenge vertices of the mesh resolution the viewer shows (every
// resolution's bundle is served, built on first request). It also
// streams measured and correlation maps, per-ROI summaries, dataset thumbnails and training
// jobs and model deletion (behind a token), lists the stored models, and exports Prometheus metrics at /metrics.
//
// The server knows nothing of features, models or the dataset layout: the CLI hands it a
// Predictor (or BatchPredictor, or ModelPredictor), the Meshes, a Source, a JobRunner and a
// ModelStore.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"cortexcast/backend/imageio"
)

// Predictor turns a decoded image into one response map per hemisphere (lh, rh) for a
// subject, each in that subject's challenge-vertex order.
type Predictor func(ctx context.Context, subject int, img image.Image) ([2][]float32, error)

// BatchPredictor predicts maps for several images at once: out[i] holds the (lh, rh) maps of
// imgs[i] for subjects[i]. The CLI extracts the features of all images in one call.
type BatchPredictor func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error)

// ModelPredictor is a BatchPredictor that predicts with the stored model named model ("" is
// each subject's served model). The batcher calls it once per model in a micro-batch, so that
// an unknown model fails only the requests that named it. Errors for a model that does not
// exist wrap ErrNotFound.
type ModelPredictor func(ctx context.Context, model string, subjects []int, imgs []image.Image) ([][2][]float32, error)

// ModelCorrelator is implemented by a Source that gives the validation correlation map of any
// stored model, not only the served one (correlation requests that name a model).
type ModelCorrelator interface {
	// ModelCorrelation returns the per-vertex r of the stored model named model on the
	// subject's validation images; errors for an unknown model wrap ErrNotFound.
	ModelCorrelation(ctx context.Context, subject int, model string) ([2][]float32, error)
}

// JobRunner trains models for subjects, reporting progress, and makes the new models the ones
// served once it returns nil. It stops early, returning ctx's error, when ctx is cancelled.
type JobRunner func(ctx context.Context, subjects []int, progress func(stage string, done, total int)) error

// ErrNotFound is wrapped by Source errors for a subject, image or map that does not exist.
var ErrNotFound = errors.New("not found")

// DatasetImage is one image of a subject's dataset.
type DatasetImage struct {
	Split string // "train" or "test"
	Index int    // 1-based position in the split
	NSDID int
}

// ROIClass is one ROI class of a subject in challenge-vertex space: Labels[h][j] is the label
// of challenge vertex j of hemisphere h (0: in no ROI); Names maps labels to ROI names.
type ROIClass struct {
	Name   string
	Labels [2][]int32
	Names  map[int]string
}

// Source supplies what the server shows of the dataset. Every method must be safe for
// concurrent use; errors for what does not exist wrap ErrNotFound.
type Source interface {
	// Images lists a subject's training images, then its test images.
	Images(subject int) ([]DatasetImage, error)
	// LoadImage decodes a dataset image.
	LoadImage(ctx context.Context, subject int, split string, index int) (image.Image, error)
	// Measured returns the measured (lh, rh) response to training image index (1-based).
	Measured(subject, index int) ([2][]float32, error)
	// Correlation returns the served model's per-vertex r on the held-out validation images.
	Correlation(subject int) ([2][]float32, error)
	// ROIs returns the ROI classes that roi_summary reports on.
	ROIs(subject int) ([]ROIClass, error)
}

// Subject is what the server knows of one subject.
type Subject struct {
	ID int
	// Vertices are the challenge vertices per hemisphere (lh, rh) as fsaverage indices.
	Vertices [2][]int32
}

// Config is everything a Server needs.
type Config struct {
	// WebDir holds index.html, wasm_exec.js and cortexcast.wasm.
	WebDir string
	// Meshes are the mesh resolutions served, the default first; each bundle is built on its
	// first request. When empty, MeshName, MeshBundle and MeshVertices give the only one.
	Meshes []Mesh
	// MeshName names the bundle ("fsaverage5"); MeshBundle is its encoded bytes.
	MeshName   string
	MeshBundle []byte
	// MeshVertices is the number of vertices per hemisphere of the bundle's mesh.
	MeshVertices int

	Subjects []Subject
	// Predict predicts one image; PredictBatch, when set, is used instead and gets the
	// micro-batches of all viewers' requests.
	Predict      Predictor
	PredictBatch BatchPredictor
	// PredictModel, when set, is used instead of both and lets requests name a stored model.
	PredictModel ModelPredictor
	// Source supplies dataset images, measured and correlation maps and ROIs; nil answers
	// those requests with unavailable.
	Source Source
	// Train runs training jobs; nil answers train_start with unavailable.
	Train JobRunner
	// Store lists and deletes stored models; when nil and Source implements ModelStore, Source
	// is used; with neither, models and delete_model are answered with unavailable.
	Store ModelStore
	// Token unlocks state-changing messages; empty means New generates a random one
	// (Server.Token tells it).
	Token     string
	Model     string // model name shown to viewers
	Features  string // feature extractor id
	Dataset   string // dataset description
	Simulated bool

	// AllowedOrigins lists extra origins (scheme://host:port) allowed to open /ws besides
	// the server's own.
	AllowedOrigins []string
	// ImageLimits bound uploads; zero means imageio.DefaultLimits().
	ImageLimits imageio.Limits
	// PredictTimeout bounds decoding plus prediction of one upload; zero means 10 s.
	PredictTimeout time.Duration
	// MaxConcurrent bounds predictions running at once across all viewers; zero means GOMAXPROCS.
	MaxConcurrent int
	// BatchSize and BatchWait bound a micro-batch: the batcher waits up to BatchWait after the
	// first request for up to BatchSize requests. Zero means 16 and 5 ms.
	BatchSize int
	BatchWait time.Duration
	// RateLimit (requests per second) and RateBurst bound each connection's requests; zero
	// means 10/s with a burst of 20; a negative RateLimit turns the limit off.
	RateLimit float64
	RateBurst int
	// ThumbCacheBytes bounds the memory of cached thumbnails; zero means 16 MiB.
	ThumbCacheBytes int

	Log *slog.Logger
}

// Server is the HTTP and websocket server.
type Server struct {
	cfg      Config
	meshes   []*meshEntry // the default first
	slots    chan struct{}
	subjects map[int]Subject
	log      *slog.Logger
	web      webCache
	token    string
	metrics  *metricsSet
	batch    *batcher
	thumbs   *thumbCache
	store    ModelStore // nil: no model store

	// ctx is cancelled by Close: it stops the batcher and running jobs.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the batcher
	jobsWG sync.WaitGroup // training jobs

	mu      sync.Mutex
	viewers int
	job     *job
}

// New checks cfg and prepares a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Predict == nil && cfg.PredictBatch == nil && cfg.PredictModel == nil {
		return nil, errors.New("server: no predictor")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 16
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 5 * time.Millisecond
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit, cfg.RateBurst = 10, 20
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = max(1, int(cfg.RateLimit))
	}
	if cfg.ThumbCacheBytes <= 0 {
		cfg.ThumbCacheBytes = 16 << 20
	}
	if cfg.Token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("server: generate token: %w", err)
		}
		cfg.Token = hex.EncodeToString(b[:])
	}
	if len(cfg.Subjects) == 0 {
		return nil, errors.New("server: no subjects")
	}
	if cfg.ImageLimits == (imageio.Limits{}) {
		cfg.ImageLimits = imageio.DefaultLimits()
	}
	if cfg.PredictTimeout == 0 {
		cfg.PredictTimeout = 10 * time.Second
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(filepath.Join(cfg.WebDir, "index.html")); err != nil {
		return nil, fmt.Errorf("server: web directory %q has no index.html (run `make build`): %w", cfg.WebDir, err)
	}
	meshes, err := newMeshEntries(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		meshes:   meshes,
		slots:    make(chan struct{}, cfg.MaxConcurrent),
		subjects: make(map[int]Subject, len(cfg.Subjects)),
		log:      cfg.Log,
		token:    cfg.Token,
		metrics:  newMetrics(),
		thumbs:   newThumbCache(cfg.ThumbCacheBytes),
	}
	for _, sub := range cfg.Subjects {
		s.subjects[sub.ID] = sub
	}
	s.store = cfg.Store
	if ms, ok := cfg.Source.(ModelStore); ok && s.store == nil {
		s.store = ms
	}
	pm := cfg.PredictModel
	if pm == nil {
		pb := cfg.PredictBatch
		if pb == nil {
			pb = loopPredictor(cfg.Predict)
		}
		pm = func(ctx context.Context, model string, subjects []int, imgs []image.Image) ([][2][]float32, error) {
			if model != "" {
				return nil, fmt.Errorf("this server predicts with its served models only, not %q: %w", model, ErrNotFound)
			}
			return pb(ctx, subjects, imgs)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.batch = &batcher{in: make(chan *batchReq, 4*cfg.BatchSize), fn: pm, size: cfg.BatchSize, wait: cfg.BatchWait,
		timeout: cfg.PredictTimeout, m: s.metrics}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.batch.run(s.ctx) }()
	return s, nil
}

// Token is the token that unlocks state-changing messages.
func (s *Server) Token() string { return s.token }

// jobStopWait bounds how long Close waits for a cancelled training job to return (a job stops
// between its steps; the model store stays consistent whenever the process ends).
const jobStopWait = 10 * time.Second

// Close stops the batcher and cancels a running training job, waiting for the batcher and, for
// up to jobStopWait, for the job.
func (s *Server) Close() {
	s.mu.Lock() // startJob adds to jobsWG under mu only while ctx is live
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	done := make(chan struct{})
	go func() { s.jobsWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(jobStopWait):
		s.log.Warn("a cancelled training job is still running; not waiting for it")
	}
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /meshes/{$}", s.serveMeshList)
	mux.HandleFunc("GET /meshes/{name}", s.serveMesh)
	mux.HandleFunc("GET /thumbs/{subject}/{split}/{file}", s.serveThumb)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /{file...}", s.serveStatic)
	return securityHeaders(s.metrics.count(mux))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// wasm needs 'wasm-unsafe-eval'; the page's inline bootstrap script needs 'unsafe-inline'.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; "+
			"img-src 'self' blob: data:; connect-src 'self'; style-src 'self' 'unsafe-inline'")
		h.ServeHTTP(w, r)
	})
}

// checkOrigin allows browsers on the server's own host and the configured origins; clients
// that send no Origin (not browsers) are allowed.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// ListenAndServe serves on addr until ctx is cancelled, then shuts down gracefully. ready,
// if not nil, receives the bound address once listening.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", addr, err)
	}
	// Request contexts derive from ctx, so open websockets close when ctx is cancelled.
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	s.Close()
	return err
}
