package server

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// thumbSide is the longer side of a thumbnail in pixels.
const thumbSide = 96

// thumbCache keeps encoded thumbnails, least recently used evicted first, within a byte bound.
type thumbCache struct {
	mu    sync.Mutex
	limit int
	size  int
	ll    *list.List // of *thumbEntry, most recent at the front
	items map[string]*list.Element
}

type thumbEntry struct {
	key  string
	data []byte
}

func newThumbCache(limit int) *thumbCache {
	return &thumbCache{limit: limit, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *thumbCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*thumbEntry).data, true
	}
	return nil, false
}

func (c *thumbCache) put(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok || len(data) > c.limit {
		return
	}
	c.items[key] = c.ll.PushFront(&thumbEntry{key, data})
	c.size += len(data)
	for c.size > c.limit {
		e := c.ll.Back()
		te := e.Value.(*thumbEntry)
		c.ll.Remove(e)
		delete(c.items, te.key)
		c.size -= len(te.data)
	}
}

// serveThumb answers /thumbs/<subject>/<split>/<index>.jpg. Only numbers and the two split
// names are taken from the path; the image file comes from the Source's own list.
func (s *Server) serveThumb(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Source == nil {
		http.NotFound(w, r)
		return
	}
	subject, err1 := strconv.Atoi(r.PathValue("subject"))
	split := r.PathValue("split")
	idx, err2 := strconv.Atoi(strings.TrimSuffix(r.PathValue("file"), ".jpg"))
	if _, ok := s.subjects[subject]; err1 != nil || err2 != nil || !ok || (split != "train" && split != "test") ||
		!strings.HasSuffix(r.PathValue("file"), ".jpg") || idx < 1 {
		http.NotFound(w, r)
		return
	}
	key := fmt.Sprintf("%d/%s/%d", subject, split, idx)
	data, ok := s.thumbs.get(key)
	if !ok {
		select {
		case s.slots <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		img, err := s.cfg.Source.LoadImage(r.Context(), subject, split, idx)
		if err == nil {
			data, err = encodeThumb(img)
		}
		<-s.slots
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			s.log.Warn("thumbnail", "image", key, "err", err)
			http.Error(w, "thumbnail failed", http.StatusInternalServerError)
			return
		}
		s.thumbs.put(key, data)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(data)
}

// encodeThumb shrinks img by box averaging so that its longer side is at most thumbSide and
// encodes it as JPEG.
func encodeThumb(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, errors.New("empty image")
	}
	tw, th := w, h
	if side := max(w, h); side > thumbSide {
		tw, th = max(1, (w*thumbSide+side/2)/side), max(1, (h*thumbSide+side/2)/side)
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	// Each thumbnail pixel is the mean of the source pixels in its box.
	for y := range th {
		y0, y1 := y*h/th, max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := x*w/tw, max((x+1)*w/tw, x*w/tw+1)
			var r, g, bl, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, _ := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					r, g, bl, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), n+1
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}
