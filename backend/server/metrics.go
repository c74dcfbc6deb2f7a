package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsSet holds one Server's Prometheus metrics in its own registry, so that several
// servers (tests, the load test) never share or collide.
type metricsSet struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	predictions *prometheus.CounterVec
	latency     prometheus.Histogram
	batchSize   prometheus.Histogram
	queue       prometheus.Gauge
	viewers     prometheus.Gauge
	errors      *prometheus.CounterVec
	jobs        *prometheus.CounterVec
}

func newMetrics() *metricsSet {
	m := &metricsSet{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cortexcast_http_requests_total",
			Help: "HTTP requests by route pattern and status code."}, []string{"path", "code"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cortexcast_maps_total",
			Help: "Maps sent to viewers (one per request, both hemispheres), by map kind."}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cortexcast_upload_to_map_seconds",
			Help:    "Time from receiving an upload or predict_dataset request to queueing its maps.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cortexcast_predict_batch_size",
			Help: "Images per micro-batch of feature extraction and prediction.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64}}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cortexcast_predict_queue_depth",
			Help: "Decoded images waiting for the batcher."}),
		viewers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cortexcast_viewers",
			Help: "Connected websocket viewers."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cortexcast_errors_total",
			Help: "Error messages sent to viewers, by code."}, []string{"code"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cortexcast_training_jobs_total",
			Help: "Finished training jobs by outcome (ok, cancelled, failed)."}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.predictions, m.latency, m.batchSize, m.queue, m.viewers, m.errors, m.jobs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metricsSet) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// count wraps h to count requests by the route pattern the mux matched (a bounded set, unlike
// raw paths) and the status code.
func (m *metricsSet) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		path := r.Pattern // set by the ServeMux on r
		if path == "" {
			path = "unmatched"
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
			if sw.hijacked {
				code = http.StatusSwitchingProtocols
			}
		}
		m.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
	})
}

// statusWriter records the status code; it passes Hijack through for the websocket upgrade.
type statusWriter struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: response writer cannot be hijacked")
	}
	w.hijacked = true
	return hj.Hijack()
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
