package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
	"cortexcast/backend/imageio"
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

// conn is one viewer's websocket: one reader (the handler goroutine), one writer, and one
// worker that predicts the newest pending upload; an upload that arrives while another is
// pending replaces it, so a user clicking fast gets the last image, not a backlog.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	send    chan outFrame
	pending chan upload // capacity 1: the newest upload waiting for the worker
}

type upload struct {
	id      string
	subject int
	name    string
	data    []byte
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
	defer func() {
		s.mu.Lock()
		s.viewers--
		s.mu.Unlock()
	}()
	c := &conn{s: s, ws: ws, send: make(chan outFrame, sendQueue), pending: make(chan upload, 1)}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { c.writeLoop(ctx); close(done) }()
	go c.work(ctx)
	c.readLoop(ctx)
	cancel()
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
			c.handleText(data)
		case websocket.BinaryMessage:
			c.handleBinary(data)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (c *conn) handleText(data []byte) {
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
		c.welcome()
	default:
		c.sendError(m.ID, api.CodeUnknownType, fmt.Sprintf("unknown message type %q", m.Type))
	}
}

func (c *conn) handleBinary(data []byte) {
	h, payload, err := api.DecodeFrame(data)
	if err != nil {
		c.sendError("", api.CodeBadMessage, err.Error())
		return
	}
	if h.Kind != "image" {
		c.sendError(h.ID, api.CodeUnknownType, fmt.Sprintf("unknown binary frame kind %q (expected \"image\")", h.Kind))
		return
	}
	if _, ok := c.s.subjects[h.Subject]; !ok {
		c.sendError(h.ID, api.CodeUnknownSubject, fmt.Sprintf("unknown subject %d (this server has %v)", h.Subject, c.subjectIDs()))
		return
	}
	u := upload{id: h.ID, subject: h.Subject, name: h.Name, data: payload}
	// Replace a pending upload with the newer one.
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

func (c *conn) welcome() {
	cfg := c.s.cfg
	c.sendJSON(api.Message{Type: api.TypeWelcome, Version: api.ProtocolVersion, Welcome: &api.Welcome{
		Subjects:  c.subjectIDs(),
		Model:     cfg.Model,
		Features:  cfg.Features,
		Mesh:      cfg.MeshName,
		MeshURL:   "/meshes/" + cfg.MeshName + ".bundle",
		Simulated: cfg.Simulated,
		Dataset:   cfg.Dataset,
		Hemis:     []string{"lh", "rh"},
		MaxImage:  cfg.ImageLimits.MaxBytes,
	}})
	for _, sub := range cfg.Subjects {
		for hi, hemi := range []string{"lh", "rh"} {
			c.sendFrame(api.FrameHeader{Kind: api.TypeVertices, Subject: sub.ID, Hemi: hemi, Count: len(sub.Vertices[hi]), Mesh: cfg.MeshVertices},
				api.Int32sToBytes(sub.Vertices[hi]))
		}
	}
}

// work predicts pending uploads one at a time, holding one of the server's prediction slots.
func (c *conn) work(ctx context.Context) {
	for {
		var u upload
		select {
		case <-ctx.Done():
			return
		case u = <-c.pending:
		}
		select {
		case c.s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		c.predict(ctx, u)
		<-c.s.slots
	}
}

func (c *conn) predict(ctx context.Context, u upload) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.s.cfg.PredictTimeout)
	defer cancel()
	img, format, err := imageio.Decode(u.data, c.s.cfg.ImageLimits)
	if err != nil {
		name := u.name
		if name == "" {
			name = "upload"
		}
		c.sendError(u.id, api.CodeBadImage, fmt.Sprintf("%s: %v", name, err))
		return
	}
	c.sendJSON(api.Message{Type: api.TypeProgress, Version: api.ProtocolVersion, ID: u.id, Stage: "predicting"})
	maps, err := c.s.cfg.Predict(ctx, u.subject, img)
	if err != nil {
		c.sendError(u.id, api.CodeInternal, fmt.Sprintf("prediction failed: %v", err))
		return
	}
	for hi, hemi := range []string{"lh", "rh"} {
		lo, hi2 := finiteRange(maps[hi])
		c.sendFrame(api.FrameHeader{Kind: api.TypeMap, ID: u.id, Subject: u.subject, Hemi: hemi, MapKind: "predicted",
			Model: c.s.cfg.Model, Count: len(maps[hi]), Min: lo, Max: hi2}, api.Float32sToBytes(maps[hi]))
	}
	c.s.log.Info("predicted", "id", u.id, "subject", u.subject, "format", format, "bytes", len(u.data), "ms", time.Since(start).Milliseconds())
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
