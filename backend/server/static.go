package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
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
	// Browsers revalidate every load; the ETag names the content (and its encoding), so an
	// unchanged wasm costs a 304 and a rebuilt one is fetched at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Encoding")
	body, etag := f.raw, f.hash
	switch enc := acceptedEncoding(r.Header.Get("Accept-Encoding")); enc {
	case "br":
		body, etag = f.br, f.hash+"-br"
		w.Header().Set("Content-Encoding", enc)
	case "gzip":
		body, etag = f.gz, f.hash+"-gz"
		w.Header().Set("Content-Encoding", enc)
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", f.mod, bytes.NewReader(body))
}

// acceptedEncoding picks brotli, then gzip, from an Accept-Encoding header ("" = identity);
// an encoding listed with q=0 is refused.
func acceptedEncoding(header string) string {
	ok := acceptedEncodings(header)
	for _, enc := range []string{"br", "gzip"} {
		if ok[enc] {
			return enc
		}
	}
	return ""
}

// acceptedEncodings reads an Accept-Encoding header: encoding → accepted (false: q=0).
func acceptedEncodings(header string) map[string]bool {
	ok := map[string]bool{}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		ok[strings.ToLower(strings.TrimSpace(name))] = q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return ok
}

// webCache keeps each served web file with its gzip and brotli forms and a content hash in
// memory, reloaded when the file on disk changes (a `make build` while serving).
type webCache struct {
	mu    sync.Mutex
	files map[string]*webFile
}

type webFile struct {
	mod         time.Time
	size        int64
	hash        string // hex SHA-256 prefix of raw
	raw, gz, br []byte
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
	var gz, br bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	// Level 5 compresses the 20 MB wasm in well under a second, to about a fifth of its size.
	bw := brotli.NewWriterLevel(&br, 5)
	bw.Write(raw)
	if err := bw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	f := &webFile{mod: st.ModTime(), size: st.Size(), hash: hex.EncodeToString(sum[:12]), raw: raw, gz: gz.Bytes(), br: br.Bytes()}
	if c.files == nil {
		c.files = map[string]*webFile{}
	}
	c.files[path] = f
	return f, nil
}
