package meshes

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// MaxInputBytes bounds the (decompressed) size of a FreeSurfer surface,
// curvature, patch or MGH file.
const MaxInputBytes = 1 << 30

// Magic numbers of FreeSurfer binary files (the first 3 bytes, big-endian).
const (
	TriangleMagic = 0xFFFFFE // triangle surface
	NewCurvMagic  = 0xFFFFFF // "new" curvature format (also the quad-surface magic)
)

// readAllMaybeGzip reads all of r, decompressing it when it starts with the
// gzip magic, and refuses more than limit bytes (after decompression).
func readAllMaybeGzip(r io.Reader, limit int) ([]byte, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	b, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// readFile opens path and decodes it with dec, naming the file in errors.
func readFile[T any](path, what string, dec func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("meshes: read %s: %w", what, err)
	}
	defer f.Close()
	v, err := dec(f)
	if err != nil {
		return zero, fmt.Errorf("meshes: read %s %s: %w", what, path, err)
	}
	return v, nil
}

func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }

func magic3(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// ReadFreeSurferSurface reads a FreeSurfer binary triangle surface (such as
// lh.inflated or lh.pial); gzip-compressed files are read transparently.
func ReadFreeSurferSurface(path string) (*Surface, error) {
	return readFile(path, "FreeSurfer surface", DecodeFreeSurferSurface)
}

// DecodeFreeSurferSurface parses a FreeSurfer binary triangle surface:
// the 3-byte magic 0xFFFFFE, a "created by" line and the line after it,
// big-endian int32 vertex and face counts, float32 x,y,z per vertex, int32
// vertex indices per face, and optional tags (the volume-info tag is kept
// in Surface.Meta, other tags are ignored). CreatedBy holds the first line.
// It refuses quad surfaces, counts that do not match the data and face
// indices outside the vertex range.
func DecodeFreeSurferSurface(r io.Reader) (*Surface, error) {
	b, err := readAllMaybeGzip(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if len(b) < 3 {
		return nil, fmt.Errorf("%d bytes, too short for the 3-byte magic", len(b))
	}
	switch m := magic3(b); m {
	case TriangleMagic:
	case NewCurvMagic:
		return nil, fmt.Errorf("magic %#06x is a quad surface or a curvature file, want %#06x (triangle surface); convert quad surfaces with mris_convert", m, TriangleMagic)
	default:
		return nil, fmt.Errorf("magic %#06x, want %#06x (triangle surface)", m, TriangleMagic)
	}
	p := 3
	line := func(what string) (string, error) {
		const maxLine = 4096
		end := bytes.IndexByte(b[p:min(len(b), p+maxLine)], '\n')
		if end < 0 {
			return "", fmt.Errorf("%s: no end of line within %d bytes of byte %d", what, maxLine, p)
		}
		s := string(b[p : p+end])
		p += end + 1
		return s, nil
	}
	s := &Surface{}
	if s.CreatedBy, err = line("created-by line"); err != nil {
		return nil, err
	}
	if _, err := line("line after the created-by line"); err != nil {
		return nil, err
	}
	if len(b)-p < 8 {
		return nil, fmt.Errorf("truncated: %d bytes after the created-by lines, need 8 for the counts", len(b)-p)
	}
	nv, nf := int64(be32(b[p:])), int64(be32(b[p+4:]))
	p += 8
	if nv < 0 || nf < 0 {
		return nil, fmt.Errorf("negative counts: %d vertices, %d faces", nv, nf)
	}
	if need := 12*nv + 12*nf; need > int64(len(b)-p) {
		return nil, fmt.Errorf("truncated: %d vertices and %d faces need %d bytes, %d remain", nv, nf, need, len(b)-p)
	}
	s.Positions = make([]float32, 3*nv)
	for i := range s.Positions {
		s.Positions[i] = math.Float32frombits(binary.BigEndian.Uint32(b[p:]))
		p += 4
	}
	s.Triangles = make([]uint32, 3*nf)
	for i := range s.Triangles {
		v := be32(b[p:])
		p += 4
		if v < 0 || int64(v) >= nv {
			return nil, fmt.Errorf("face %d vertex index %d outside %d vertices", i/3, v, nv)
		}
		s.Triangles[i] = uint32(v)
	}
	s.Meta = parseVolumeInfo(b[p:])
	return s, nil
}

// parseVolumeInfo reads FreeSurfer's volume-info tag (int32 20, or the old
// int32 triple 2 0 20, followed by "key = value" lines) into a map; it
// returns nil when the bytes do not start with that tag.
func parseVolumeInfo(b []byte) map[string]string {
	switch {
	case len(b) >= 12 && be32(b) == 2 && be32(b[4:]) == 0 && be32(b[8:]) == 20:
		b = b[12:]
	case len(b) >= 4 && be32(b) == 20:
		b = b[4:]
	default:
		return nil
	}
	keys := []string{"valid", "filename", "volume", "voxelsize", "xras", "yras", "zras", "cras"}
	meta := map[string]string{}
	for _, k := range keys {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		key, val, ok := strings.Cut(string(b[:i]), "=")
		if !ok || strings.TrimSpace(key) != k {
			break
		}
		meta[k] = strings.TrimSpace(val)
		b = b[i+1:]
	}
	return meta
}

// ReadCurv reads a per-vertex FreeSurfer morphometry file (curv, sulc,
// thickness, area) in the "new" curvature format; gzip is read
// transparently.
func ReadCurv(path string) ([]float32, error) {
	return readFile(path, "FreeSurfer curvature", DecodeCurv)
}

// DecodeCurv parses the "new" FreeSurfer curvature format: the 3-byte
// magic 0xFFFFFF, big-endian int32 vertex count, face count and values per
// vertex (which must be 1), then one float32 per vertex. It refuses the old
// format (no magic), counts that do not match the data, and more than one
// value per vertex.
func DecodeCurv(r io.Reader) ([]float32, error) {
	b, err := readAllMaybeGzip(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if len(b) < 15 {
		return nil, fmt.Errorf("%d bytes, too short for the 15-byte header", len(b))
	}
	if m := magic3(b); m != NewCurvMagic {
		return nil, fmt.Errorf("magic %#06x, want %#06x (new curvature format; the old format is not supported)", m, NewCurvMagic)
	}
	nv, nf, vpv := int64(be32(b[3:])), be32(b[7:]), be32(b[11:])
	if nv < 0 || nf < 0 {
		return nil, fmt.Errorf("negative counts: %d vertices, %d faces", nv, nf)
	}
	if vpv != 1 {
		return nil, fmt.Errorf("%d values per vertex, only 1 is supported", vpv)
	}
	if need := 4 * nv; need > int64(len(b)-15) {
		return nil, fmt.Errorf("truncated: %d vertices need %d bytes, %d remain", nv, need, len(b)-15)
	}
	out := make([]float32, nv)
	for i := range out {
		out[i] = math.Float32frombits(binary.BigEndian.Uint32(b[15+4*i:]))
	}
	return out, nil
}

// Patch is a FreeSurfer surface patch (such as lh.cortex.patch.flat): a
// subset of a surface's vertices with their coordinates in the patch.
type Patch struct {
	// Vertices holds the 0-based vertex numbers of the full surface.
	Vertices []int32
	// Border marks the points on the patch border.
	Border []bool
	// Positions holds x, y, z per point (z is 0 in a flat patch).
	Positions []float32
}

// ReadPatch reads a FreeSurfer patch file (.flat or .3d); gzip is read
// transparently.
func ReadPatch(path string) (*Patch, error) {
	return readFile(path, "FreeSurfer patch", DecodePatch)
}

// DecodePatch parses a FreeSurfer patch: big-endian int32 -1 (the
// new-style patch marker), int32 point count, then per point an int32
// vertex number (1-based, negated for border points) and float32 x, y, z.
// It refuses other markers, vertex number 0, counts that do not match the
// data and duplicate vertices.
func DecodePatch(r io.Reader) (*Patch, error) {
	b, err := readAllMaybeGzip(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%d bytes, too short for the 8-byte header", len(b))
	}
	if v := be32(b); v != -1 {
		return nil, fmt.Errorf("first int32 is %d, want -1 (new-style patch)", v)
	}
	n := int64(be32(b[4:]))
	if n < 0 {
		return nil, fmt.Errorf("negative point count %d", n)
	}
	if need := 16 * n; need > int64(len(b)-8) {
		return nil, fmt.Errorf("truncated: %d points need %d bytes, %d remain", n, need, len(b)-8)
	}
	p := &Patch{Vertices: make([]int32, n), Border: make([]bool, n), Positions: make([]float32, 3*n)}
	seen := map[int32]int{}
	for i := range int(n) {
		q := b[8+16*i:]
		v := be32(q)
		switch {
		case v == 0 || v == math.MinInt32:
			return nil, fmt.Errorf("point %d has vertex number %d (numbers are 1-based, negative on the border)", i, v)
		case v < 0:
			p.Border[i] = true
			v = -v
		}
		v--
		if j, dup := seen[v]; dup {
			return nil, fmt.Errorf("vertex %d appears twice (points %d and %d)", v, j, i)
		}
		seen[v] = i
		p.Vertices[i] = v
		for k := range 3 {
			p.Positions[3*i+k] = math.Float32frombits(binary.BigEndian.Uint32(q[4+4*k:]))
		}
	}
	return p, nil
}

// Embed places the patch on a surface of n vertices: it returns 3·n
// positions (zero for vertices outside the patch) and a mask of the
// vertices in the patch. It fails when a vertex number is n or more.
func (p *Patch) Embed(n int) ([]float32, []bool, error) {
	pos := make([]float32, 3*n)
	in := make([]bool, n)
	for i, v := range p.Vertices {
		if int(v) >= n {
			return nil, nil, fmt.Errorf("patch point %d is vertex %d, the surface has %d vertices", i, v, n)
		}
		in[v] = true
		copy(pos[3*int(v):3*int(v)+3], p.Positions[3*i:3*i+3])
	}
	return pos, in, nil
}

// TrianglesWithin returns the triangles (3 indices each) whose three
// vertices are all in the mask.
func TrianglesWithin(tri []uint32, in []bool) []uint32 {
	var out []uint32
	for t := 0; t+2 < len(tri); t += 3 {
		a, b, c := tri[t], tri[t+1], tri[t+2]
		if int(a) < len(in) && int(b) < len(in) && int(c) < len(in) && in[a] && in[b] && in[c] {
			out = append(out, a, b, c)
		}
	}
	return out
}
