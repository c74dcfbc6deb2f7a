package server

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// webFiles are the only files served from WebDir, with their content types: nothing else
// in that directory, and no path outside it, can be reached.
var webFiles = map[string]string{
	"index.html":      "text/html; charset=utf-8",
	"wasm_exec.js":    "text/javascript; charset=utf-8",
	"cortexcast.wasm": "application/wasm",
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "" {
		name = "index.html"
	}
	ctype, ok := webFiles[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := s.web.get(filepath.Join(s.cfg.WebDir, name))
	if err != nil {
		http.Error(w, "missing build output "+name+" (run `make build`)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Encoding")
	body := f.raw
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		body = f.gz
	}
	// Last-Modified lets browsers revalidate instead of fetching an unchanged wasm again.
	http.ServeContent(w, r, "", f.mod, bytes.NewReader(body))
}

// webCache keeps each served web file and its gzip form in memory, reloaded when the file on
// disk changes (a `make build` while serving).
type webCache struct {
	mu    sync.Mutex
	files map[string]*webFile
}

type webFile struct {
	mod     time.Time
	size    int64
	raw, gz []byte
}

func (c *webCache) get(path string) (*webFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.files[path]; ok && f.mod.Equal(st.ModTime()) && f.size == st.Size() {
		return f, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	f := &webFile{mod: st.ModTime(), size: st.Size(), raw: raw, gz: gz.Bytes()}
	if c.files == nil {
		c.files = map[string]*webFile{}
	}
	c.files[path] = f
	return f, nil
}
