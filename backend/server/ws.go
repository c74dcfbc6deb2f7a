package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
	"cortexcast/backend/imageio"
	"cortexcast/backend/metrics"
)

const (
	sendQueue   = 64
	writeWait   = 10 * time.Second
	pongWait    = 60 * time.Second
	pingPeriod  = pongWait * 9 / 10
	textMsgSize = 64 << 10
)

// outFrame is one websocket frame waiting to be written.
type outFrame struct {
	binary bool
	data   []byte
}

// maxSentMaps bounds the maps a connection remembers for roi_summary.
const maxSentMaps = 16

// conn is one viewer's websocket: one reader (the handler goroutine), one writer, one worker
// that predicts the newest pending upload or dataset image (a newer one replaces a pending
// one, so a user clicking fast gets the last image, not a backlog), and one helper for the
// other requests (measured, correlation, roi_summary, images).
type conn struct {
	s       *Server
	ws      *websocket.Conn
	send    chan outFrame
	closed  chan struct{} // closed when the connection ends
	pending chan upload   // capacity 1: the newest upload waiting for the worker
	aux     chan func()   // small queue for the helper
	limit   tokenBucket

	authorized bool // the hello carried the token; touched by the reader only

	mu    sync.Mutex
	maps  map[string]sentMap
	order []string
	mesh  *meshEntry // the resolution of this viewer's maps
}

// sentMap is a map sent to the viewer, kept for roi_summary.
type sentMap struct {
	subject int
	maps    [2][]float32
}

type upload struct {
	id       string
	subject  int
	model    string // the stored model to predict with; "": the served one
	name     string
	data     []byte // an uploaded file, or nil for a dataset image
	split    string
	index    int
	received time.Time
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		CheckOrigin: s.checkOrigin,
		// The websocket library answers a refused origin with 403 and a plain message.
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Warn("websocket upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	s.mu.Lock()
	s.viewers++
	s.mu.Unlock()
	s.metrics.viewers.Inc()
	defer func() {
		s.mu.Lock()
		s.viewers--
		s.mu.Unlock()
		s.metrics.viewers.Dec()
	}()
	c := &conn{s: s, ws: ws, send: make(chan outFrame, sendQueue), closed: make(chan struct{}),
		pending: make(chan upload, 1), aux: make(chan func(), 4), maps: map[string]sentMap{}, mesh: s.meshes[0],
		limit: newTokenBucket(s.cfg.RateLimit, s.cfg.RateBurst)}
	// Cancelling ctx (the viewer left, or the server shuts down) cancels its pending work.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { c.writeLoop(ctx); close(done) }()
	go c.work(ctx)
	go c.helper(ctx)
	c.readLoop(ctx)
	cancel()
	close(c.closed)
	<-done
	ws.Close()
}

// maxFrame is the largest frame a viewer may send: an image at the byte limit plus its header.
func (s *Server) maxFrame() int64 { return s.cfg.ImageLimits.MaxBytes + api.MaxHeaderBytes + 4 }

func (c *conn) readLoop(ctx context.Context) {
	c.ws.SetReadLimit(c.s.maxFrame())
	c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.closeWith(websocket.CloseMessageTooBig, fmt.Sprintf("message over the limit of %d bytes", c.s.maxFrame()))
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(pongWait))
		switch typ {
		case websocket.TextMessage:
			c.handleText(ctx, data)
		case websocket.BinaryMessage:
			c.handleBinary(data)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// allow takes a token from the connection's bucket, answering rate_limited when empty.
func (c *conn) allow(id string) bool {
	if c.limit.take(time.Now()) {
		return true
	}
	c.sendError(id, api.CodeRateLimited, fmt.Sprintf("too many requests: this server allows %g per second (burst %d) per viewer", c.s.cfg.RateLimit, c.s.cfg.RateBurst))
	return false
}

func (c *conn) handleText(ctx context.Context, data []byte) {
	if len(data) > textMsgSize {
		c.sendError("", api.CodeTooLarge, fmt.Sprintf("control message of %d bytes over the limit of %d", len(data), textMsgSize))
		return
	}
	m, err := api.DecodeMessage(data)
	if err != nil {
		var pe *api.Error
		if errors.As(err, &pe) {
			c.sendError(m.ID, pe.Code, pe.Msg)
		} else {
			c.sendError(m.ID, api.CodeBadMessage, err.Error())
		}
		return
	}
	switch m.Type {
	case api.TypeHello:
		if m.Token != "" {
			if subtle.ConstantTimeCompare([]byte(m.Token), []byte(c.s.token)) == 1 {
				c.authorized = true
			} else {
				c.sendError(m.ID, api.CodeForbidden, "wrong token: state-changing requests stay locked on this connection")
			}
		}
		if m.Mesh != "" {
			c.setMesh(m.ID, m.Mesh) // an unknown mesh is an error; the default stays
		}
		c.welcome()
	case api.TypeMesh:
		if !c.allow(m.ID) || !c.setMesh(m.ID, m.Mesh) {
			return
		}
		c.sendVertices()
		c.sendJSON(api.Message{Type: api.TypeMesh, Version: api.ProtocolVersion, ID: m.ID, Mesh: m.Mesh})
	case api.TypeImages, api.TypeMeasured, api.TypeCorrelation, api.TypeROISummary, api.TypePredictDataset:
		if !c.allow(m.ID) {
			return
		}
		if m.Type != api.TypeROISummary && !c.knownSubject(m.ID, m.Subject) {
			return
		}
		if len(m.Model) > maxModelName {
			c.sendError(m.ID, api.CodeBadMessage, fmt.Sprintf("model name of %d bytes over the limit of %d", len(m.Model), maxModelName))
			return
		}
		if m.Type != api.TypeROISummary && c.s.cfg.Source == nil {
			c.sendError(m.ID, api.CodeUnavailable, "this server has no dataset source")
			return
		}
		if m.Type == api.TypePredictDataset {
			if m.Split != api.SplitTrain && m.Split != api.SplitTest {
				c.sendError(m.ID, api.CodeBadMessage, fmt.Sprintf("split %q is neither %q nor %q", m.Split, api.SplitTrain, api.SplitTest))
				return
			}
			c.queue(upload{id: m.ID, subject: m.Subject, model: m.Model, split: m.Split, index: m.Index, received: time.Now()})
			return
		}
		select {
		case c.aux <- func() { c.answer(ctx, m) }:
		default:
			c.sendError(m.ID, api.CodeBusy, "too many requests waiting on this connection")
		}
	case api.TypeTrainStart:
		if c.forbidden(m) {
			return
		}
		c.s.startJob(c, m)
	case api.TypeTrainCancel:
		if c.forbidden(m) {
			return
		}
		c.s.cancelJob(c, m)
	case api.TypeModels, api.TypeDeleteModel:
		if m.Type == api.TypeDeleteModel && c.forbidden(m) {
			return
		}
		if !c.allow(m.ID) {
			return
		}
		if c.s.store == nil {
			c.sendError(m.ID, api.CodeUnavailable, "this server has no model store")
			return
		}
		if m.Type == api.TypeDeleteModel && (m.Model == "" || len(m.Model) > maxModelName) {
			c.sendError(m.ID, api.CodeBadMessage, fmt.Sprintf("delete_model needs a model name of 1 to %d bytes, got %d", maxModelName, len(m.Model)))
			return
		}
		f := func() { c.listModels(m) }
		if m.Type == api.TypeDeleteModel {
			f = func() { c.deleteModel(m) }
		}
		select {
		case c.aux <- f:
		default:
			c.sendError(m.ID, api.CodeBusy, "too many requests waiting on this connection")
		}
	default:
		c.sendError(m.ID, api.CodeUnknownType, fmt.Sprintf("unknown message type %q", m.Type))
	}
}

// forbidden answers a state-changing message on a connection without the token.
func (c *conn) forbidden(m api.Message) bool {
	if c.authorized {
		return false
	}
	c.sendError(m.ID, api.CodeForbidden, m.Type+" changes the server's state: send the token printed at start-up in hello first")
	return true
}

func (c *conn) knownSubject(id string, subject int) bool {
	if _, ok := c.s.subjects[subject]; ok {
		return true
	}
	c.sendError(id, api.CodeUnknownSubject, fmt.Sprintf("unknown subject %d (this server has %v)", subject, c.subjectIDs()))
	return false
}

func (c *conn) handleBinary(data []byte) {
	received := time.Now()
	h, payload, err := api.DecodeFrame(data)
	if err != nil {
		c.sendError("", api.CodeBadMessage, err.Error())
		return
	}
	if h.Kind != "image" {
		c.sendError(h.ID, api.CodeUnknownType, fmt.Sprintf("unknown binary frame kind %q (expected \"image\")", h.Kind))
		return
	}
	if !c.allow(h.ID) || !c.knownSubject(h.ID, h.Subject) {
		return
	}
	if len(h.Model) > maxModelName {
		c.sendError(h.ID, api.CodeBadMessage, fmt.Sprintf("model name of %d bytes over the limit of %d", len(h.Model), maxModelName))
		return
	}
	c.queue(upload{id: h.ID, subject: h.Subject, model: h.Model, name: h.Name, data: payload, received: received})
}

// queue makes u the pending prediction, answering a pending one it replaces with busy.
func (c *conn) queue(u upload) {
	select {
	case old := <-c.pending:
		c.sendError(old.id, api.CodeBusy, "superseded by a newer upload")
	default:
	}
	c.pending <- u
}

func (c *conn) subjectIDs() []int {
	ids := make([]int, 0, len(c.s.cfg.Subjects))
	for _, s := range c.s.cfg.Subjects {
		ids = append(ids, s.ID)
	}
	return ids
}

// setMesh makes the mesh named name the resolution of this viewer's maps; an unknown name is
// answered with not_found, naming the served meshes.
func (c *conn) setMesh(id, name string) bool {
	m, ok := c.s.meshByName(name)
	if !ok {
		c.sendError(id, api.CodeNotFound, fmt.Sprintf("unknown mesh %q (this server has %s)", name, strings.Join(c.s.meshNames(), ", ")))
		return false
	}
	c.mu.Lock()
	c.mesh = m
	c.mu.Unlock()
	return true
}

func (c *conn) currentMesh() *meshEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesh
}

func (c *conn) welcome() {
	cfg := c.s.cfg
	mesh := c.currentMesh()
	infos := make([]api.MeshInfo, len(c.s.meshes))
	for i, m := range c.s.meshes {
		infos[i] = m.info()
	}
	c.sendJSON(api.Message{Type: api.TypeWelcome, Version: api.ProtocolVersion, Welcome: &api.Welcome{
		Subjects:      c.subjectIDs(),
		Model:         cfg.Model,
		Features:      cfg.Features,
		Mesh:          mesh.Name,
		MeshURL:       mesh.info().URL,
		Meshes:        infos,
		Simulated:     cfg.Simulated,
		Dataset:       cfg.Dataset,
		Hemis:         []string{"lh", "rh"},
		MaxImage:      cfg.ImageLimits.MaxBytes,
		Authorized:    c.authorized,
		DatasetImages: cfg.Source != nil,
		Training:      cfg.Train != nil,
		ModelStore:    c.s.store != nil,
		ModelChoice:   cfg.PredictModel != nil,
	}})
	c.sendVertices()
}

// sendVertices sends every subject's challenge vertices on this viewer's mesh.
func (c *conn) sendVertices() {
	mesh := c.currentMesh()
	for _, sub := range c.s.cfg.Subjects {
		for hi, hemi := range []string{"lh", "rh"} {
			v := mesh.vertices(sub, hi)
			c.sendFrame(api.FrameHeader{Kind: api.TypeVertices, Subject: sub.ID, Hemi: hemi, Count: len(v), Mesh: mesh.Vertices},
				api.Int32sToBytes(v))
		}
	}
}

// work predicts pending uploads one at a time; decoding holds one of the server's slots, and
// prediction goes through the server's batcher.
func (c *conn) work(ctx context.Context) {
	for {
		var u upload
		select {
		case <-ctx.Done():
			return
		case u = <-c.pending:
		}
		c.predict(ctx, u)
	}
}

// helper answers the requests that are not predictions, one at a time.
func (c *conn) helper(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-c.aux:
			f()
		}
	}
}

func (c *conn) predict(ctx context.Context, u upload) {
	ctx, cancel := context.WithTimeout(ctx, c.s.cfg.PredictTimeout)
	defer cancel()
	select {
	case c.s.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	var img image.Image
	var err error
	name := u.name
	if u.data != nil {
		if name == "" {
			name = "upload"
		}
		img, _, err = imageio.Decode(u.data, c.s.cfg.ImageLimits)
	} else {
		name = fmt.Sprintf("subject %d %s image %d", u.subject, u.split, u.index)
		img, err = c.s.cfg.Source.LoadImage(ctx, u.subject, u.split, u.index)
	}
	<-c.s.slots
	if err != nil {
		code := api.CodeBadImage
		if errors.Is(err, ErrNotFound) {
			code = api.CodeNotFound
		}
		c.sendError(u.id, code, fmt.Sprintf("%s: %v", name, err))
		return
	}
	c.sendJSON(api.Message{Type: api.TypeProgress, Version: api.ProtocolVersion, ID: u.id, Stage: "predicting"})
	maps, err := c.s.batch.predict(ctx, u.subject, u.model, img)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // the viewer left
		}
		if errors.Is(err, ErrNotFound) {
			c.sendError(u.id, api.CodeUnknownModel, fmt.Sprintf("prediction with model %q: %v", u.model, err))
			return
		}
		c.sendError(u.id, api.CodeInternal, fmt.Sprintf("prediction failed: %v", err))
		return
	}
	c.sendMaps(u.id, u.subject, api.MapPredicted, u.model, maps)
	c.s.metrics.latency.Observe(time.Since(u.received).Seconds())
	c.s.log.Debug("predicted", "id", u.id, "subject", u.subject, "bytes", len(u.data), "ms", time.Since(u.received).Milliseconds())
}

// sendMaps sends the two map frames of a request at this viewer's mesh resolution and
// remembers the whole maps (every challenge vertex) for roi_summary. model is the stored model
// that made them ("": the served one).
func (c *conn) sendMaps(id string, subject int, kind, model string, maps [2][]float32) {
	if model == "" {
		model = c.s.cfg.Model
	}
	mesh := c.currentMesh()
	for hi, hemi := range []string{"lh", "rh"} {
		vals := mesh.values(subject, hi, maps[hi])
		lo, hi2 := finiteRange(vals)
		c.sendFrame(api.FrameHeader{Kind: api.TypeMap, ID: id, Subject: subject, Hemi: hemi, MapKind: kind,
			Model: model, Count: len(vals), Mesh: mesh.Vertices, Min: lo, Max: hi2}, api.Float32sToBytes(vals))
	}
	c.s.metrics.predictions.WithLabelValues(kind).Inc()
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.maps[id]; !ok {
		c.order = append(c.order, id)
	}
	c.maps[id] = sentMap{subject: subject, maps: maps}
	for len(c.order) > maxSentMaps {
		delete(c.maps, c.order[0])
		c.order = c.order[1:]
	}
}

// answer handles images, measured, correlation and roi_summary.
func (c *conn) answer(ctx context.Context, m api.Message) {
	src := c.s.cfg.Source
	fail := func(err error) {
		code := api.CodeInternal
		if errors.Is(err, ErrNotFound) {
			code = api.CodeNotFound
		}
		c.sendError(m.ID, code, fmt.Sprintf("%s: %v", m.Type, err))
	}
	switch m.Type {
	case api.TypeImages:
		list, err := src.Images(m.Subject)
		if err != nil {
			fail(err)
			return
		}
		out := make([]api.DatasetImage, len(list))
		for i, im := range list {
			out[i] = api.DatasetImage{Split: im.Split, Index: im.Index, NSDID: im.NSDID,
				Thumb: fmt.Sprintf("/thumbs/%d/%s/%d.jpg", m.Subject, im.Split, im.Index)}
		}
		c.sendJSON(api.Message{Type: api.TypeImages, Version: api.ProtocolVersion, ID: m.ID, Subject: m.Subject, Images: out})
	case api.TypeMeasured:
		if m.Split != "" && m.Split != api.SplitTrain {
			c.sendError(m.ID, api.CodeNotFound, fmt.Sprintf("measured maps exist for training images only, not %q", m.Split))
			return
		}
		maps, err := src.Measured(m.Subject, m.Index)
		if err != nil {
			fail(err)
			return
		}
		c.sendMaps(m.ID, m.Subject, api.MapMeasured, "", maps)
	case api.TypeCorrelation:
		var maps [2][]float32
		var err error
		if m.Model == "" {
			maps, err = src.Correlation(m.Subject)
		} else if mc, ok := src.(ModelCorrelator); ok {
			maps, err = mc.ModelCorrelation(ctx, m.Subject, m.Model)
		} else {
			c.sendError(m.ID, api.CodeUnavailable, fmt.Sprintf("this server has correlation maps of its served models only, not of %q", m.Model))
			return
		}
		if err != nil && m.Model != "" && errors.Is(err, ErrNotFound) {
			c.sendError(m.ID, api.CodeUnknownModel, fmt.Sprintf("correlation of model %q: %v", m.Model, err))
			return
		}
		if err != nil {
			fail(err)
			return
		}
		c.sendMaps(m.ID, m.Subject, api.MapCorrelation, m.Model, maps)
	case api.TypeROISummary:
		c.mu.Lock()
		sm, ok := c.maps[m.Ref]
		c.mu.Unlock()
		if !ok {
			c.sendError(m.ID, api.CodeNotFound, fmt.Sprintf("no map with id %q was sent on this connection recently (the last %d are kept)", m.Ref, maxSentMaps))
			return
		}
		if src == nil {
			c.sendError(m.ID, api.CodeUnavailable, "this server has no dataset source (ROI masks)")
			return
		}
		classes, err := src.ROIs(sm.subject)
		if err != nil {
			fail(err)
			return
		}
		c.sendJSON(api.Message{Type: api.TypeROISummary, Version: api.ProtocolVersion, ID: m.ID, Ref: m.Ref, Subject: sm.subject,
			ROIs: roiSummary(sm.maps, classes)})
	}
}

// roiSummary summarises both hemispheres' maps over every ROI class.
func roiSummary(maps [2][]float32, classes []ROIClass) []api.ROIStat {
	var out []api.ROIStat
	for _, cl := range classes {
		for hi, hemi := range []string{"lh", "rh"} {
			for _, st := range metrics.ROISummary(finiteOrNaN(maps[hi]), cl.Labels[hi], cl.Names) {
				rs := api.ROIStat{Hemi: hemi, Class: cl.Name, Label: st.Label, Name: st.Name, N: st.N}
				if st.N > 0 && !math.IsNaN(float64(st.Mean)) {
					mean, median := st.Mean, st.Median
					rs.Mean, rs.Median = &mean, &median
				}
				out = append(out, rs)
			}
		}
	}
	return out
}

// finiteOrNaN replaces infinities by NaN, which the ROI summary skips.
func finiteOrNaN(v []float32) []float32 {
	out := v
	for i, x := range v {
		if math.IsInf(float64(x), 0) {
			if &out[0] == &v[0] {
				out = append([]float32(nil), v...)
			}
			out[i] = float32(math.NaN())
		}
	}
	return out
}

// finiteRange returns the smallest and largest finite values (0, 0 when there are none).
func finiteRange(v []float32) (lo, hi float32) {
	first := true
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		if first {
			lo, hi, first = x, x, false
			continue
		}
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return lo, hi
}

func (c *conn) sendError(id, code, msg string) {
	c.s.metrics.errors.WithLabelValues(code).Inc()
	c.sendJSON(api.Message{Type: api.TypeError, Version: api.ProtocolVersion, ID: id, Code: code, Error: msg})
}

func (c *conn) sendJSON(m api.Message) {
	b, err := json.Marshal(m)
	if err != nil {
		c.s.log.Error("encode message", "err", err)
		return
	}
	c.enqueue(outFrame{data: b})
}

func (c *conn) sendFrame(h api.FrameHeader, payload []byte) {
	b, err := api.EncodeFrame(h, payload)
	if err != nil {
		c.s.log.Error("encode frame", "err", err)
		return
	}
	c.enqueue(outFrame{binary: true, data: b})
}

// enqueue waits for room in the bounded send queue; a viewer that does not read for
// writeWait loses the frame.
func (c *conn) enqueue(f outFrame) {
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case c.send <- f:
	case <-c.closed:
	case <-t.C:
		c.s.log.Warn("viewer send queue full; frame dropped")
	}
}

func (c *conn) closeWith(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
}

func (c *conn) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			c.closeWith(websocket.CloseGoingAway, "server shutting down or connection closed")
			return
		case f := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			typ := websocket.TextMessage
			if f.binary {
				typ = websocket.BinaryMessage
			}
			if err := c.ws.WriteMessage(typ, f.data); err != nil {
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}

// tokenBucket is a per-connection rate limiter: rate tokens per second up to burst; a negative
// rate never limits. Only the reader goroutine uses it.
type tokenBucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (b *tokenBucket) take(now time.Time) bool {
	if b.rate < 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
