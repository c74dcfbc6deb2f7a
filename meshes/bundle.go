package meshes

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// Bundle format constants.
const (
	BundleMagic   = "CCMB"
	BundleVersion = 2

	// MaxBundleVertices and MaxBundleTriangles bound the per-hemisphere
	// counts that DecodeBundle accepts (full fsaverage has 163842 vertices
	// and 327680 triangles per hemisphere).
	MaxBundleVertices  = 1 << 21
	MaxBundleTriangles = 1 << 22
	// MaxBundleBytes bounds the (decompressed) size of an encoded bundle.
	MaxBundleBytes = 1 << 28
	maxNameLen     = 256
	maxLabelNames  = 1 << 12
	maxLabelMaps   = 64
)

// Hemisphere indices into Bundle.Hemis.
const (
	LH = 0
	RH = 1
)

// HemiName returns "lh" for LH and "rh" for RH.
func HemiName(hemi int) string {
	if hemi == LH {
		return "lh"
	}
	return "rh"
}

// Surface kinds: the index of a surface in HemiMesh.Normals and its id in
// the encoded bundle.
const (
	SurfInflated = iota
	SurfPial
	SurfWhite
	SurfSphere
	SurfFlat
	NumSurfaces
)

// SurfaceName returns "inflated", "pial", "white", "sphere" or "flat".
func SurfaceName(kind int) string {
	switch kind {
	case SurfInflated:
		return "inflated"
	case SurfPial:
		return "pial"
	case SurfWhite:
		return "white"
	case SurfSphere:
		return "sphere"
	case SurfFlat:
		return "flat"
	}
	return fmt.Sprintf("surface %d", kind)
}

// Bundle holds both hemispheres of one mesh resolution, in the order lh, rh.
//
// Vertex mapping: fsaverage5 and fsaverage6 vertices are the first 10242
// and 40962 vertices of fsaverage (FullVertices = 163842), so a challenge
// (full fsaverage) vertex index i is bundle vertex i when i <
// NumVertices and is absent from the bundle otherwise; see BundleVertex.
type Bundle struct {
	Name  string
	Hemis [2]HemiMesh
	// Sources fingerprints the source files the bundle was built from
	// (names, sizes, modification times); empty when unknown.
	Sources string
	// FullVertices is the per-hemisphere vertex count of the full
	// resolution mesh whose first vertices this bundle holds (163842 for
	// the fsaverage family); 0 when unknown.
	FullVertices int
}

// BundleVertex maps a full-resolution vertex index (such as an Algonauts
// challenge vertex, an fsaverage index) to the bundle vertex of
// hemisphere hemi: index i when i < NumVertices, else ok is false.
func (b *Bundle) BundleVertex(hemi, i int) (v int, ok bool) {
	if hemi < 0 || hemi > 1 || i < 0 || i >= b.Hemis[hemi].NumVertices {
		return 0, false
	}
	return i, true
}

// HemiMesh is one hemisphere. Positions are 3·N xyz in mm; triangles are
// 3·T vertex indices, counter-clockwise seen from outside. Inflated,
// Triangles and Sulc are always present; the other arrays are nil when the
// sources lack them.
type HemiMesh struct {
	NumVertices int
	// Inflated and Pial (and White, Sphere) share Triangles.
	Inflated  []float32
	Pial      []float32
	Triangles []uint32
	// Sulc is the sulcal depth per vertex.
	Sulc []float32

	White  []float32
	Sphere []float32
	// Flat holds the flat-map positions (3·N; vertices outside the flat
	// patch are at the origin and in no flat triangle) and FlatTriangles
	// its triangles: a full-resolution patch's are the triangles whose
	// three vertices are all in the patch, a cut mesh's are its own.
	Flat          []float32
	FlatTriangles []uint32
	// Curv is the mean curvature per vertex.
	Curv []float32
	// Normals holds per surface kind (SurfInflated…SurfFlat) the vertex
	// normals as int8 codes (3·N, see NormalScale); nil when absent.
	Normals [NumSurfaces][]int8
	// Labels holds one per-vertex label map per ROI class.
	Labels []LabelMap
}

// LabelMap is a per-vertex ROI labelling of one class (such as
// "prf-visualrois"): Values[v] is the label of vertex v, 0 for none, and
// Names[k] names label k when known (Names may be empty).
type LabelMap struct {
	Class  string
	Names  []string
	Values []uint16
}

// Positions returns the positions of the surface kind (nil when absent).
func (h *HemiMesh) Positions(kind int) []float32 {
	if p := h.positionsField(kind); p != nil {
		return *p
	}
	return nil
}

func (h *HemiMesh) positionsField(kind int) *[]float32 {
	switch kind {
	case SurfInflated:
		return &h.Inflated
	case SurfPial:
		return &h.Pial
	case SurfWhite:
		return &h.White
	case SurfSphere:
		return &h.Sphere
	case SurfFlat:
		return &h.Flat
	}
	return nil
}

// trianglesOf returns the triangles of the surface kind.
func (h *HemiMesh) trianglesOf(kind int) []uint32 {
	if kind == SurfFlat {
		return h.FlatTriangles
	}
	return h.Triangles
}

// Label returns the label map of the class, or nil.
func (h *HemiMesh) Label(class string) *LabelMap {
	for i := range h.Labels {
		if h.Labels[i].Class == class {
			return &h.Labels[i]
		}
	}
	return nil
}

// ComputeNormals fills Normals for every surface present.
func (h *HemiMesh) ComputeNormals() {
	for k := range NumSurfaces {
		if p := h.Positions(k); p != nil {
			h.Normals[k] = ComputeNormals(p, h.trianglesOf(k))
		} else {
			h.Normals[k] = nil
		}
	}
}

// Quantize rounds positions and scalar maps to what the encoded bundle
// stores (see PositionStep and Float16), so that a bundle built on the
// server equals the one the browser decodes.
func (h *HemiMesh) Quantize() {
	for k := range NumSurfaces {
		p := h.positionsField(k)
		*p = QuantizePositions(*p)
	}
	h.Sulc = QuantizeScalars(h.Sulc)
	h.Curv = QuantizeScalars(h.Curv)
}

// Validate checks that the array lengths agree with NumVertices and that
// every triangle index is in range.
func (h *HemiMesh) Validate() error {
	n := h.NumVertices
	if n <= 0 || n > MaxBundleVertices {
		return fmt.Errorf("NumVertices %d outside 1..%d", n, MaxBundleVertices)
	}
	if h.Inflated == nil {
		return errors.New("no inflated surface")
	}
	for k := range NumSurfaces {
		p := h.Positions(k)
		if p != nil && len(p) != 3*n {
			return fmt.Errorf("%s positions have %d values, want 3×%d", SurfaceName(k), len(p), n)
		}
		for i, v := range p {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s vertex %d has a non-finite coordinate %v", SurfaceName(k), i/3, v)
			}
		}
		if q := h.Normals[k]; q != nil {
			if p == nil {
				return fmt.Errorf("%s normals without %s positions", SurfaceName(k), SurfaceName(k))
			}
			if len(q) != 3*n {
				return fmt.Errorf("%s normals have %d values, want 3×%d", SurfaceName(k), len(q), n)
			}
		}
	}
	if len(h.Sulc) != n {
		return fmt.Errorf("field Sulc has %d values, want %d", len(h.Sulc), n)
	}
	if h.Curv != nil && len(h.Curv) != n {
		return fmt.Errorf("field Curv has %d values, want %d", len(h.Curv), n)
	}
	for _, t := range []struct {
		name string
		tri  []uint32
	}{{"Triangles", h.Triangles}, {"FlatTriangles", h.FlatTriangles}} {
		if len(t.tri)%3 != 0 || len(t.tri)/3 > MaxBundleTriangles {
			return fmt.Errorf("%s has %d indices, want a multiple of 3 up to 3×%d", t.name, len(t.tri), MaxBundleTriangles)
		}
		for i, v := range t.tri {
			if int(v) >= n {
				return fmt.Errorf("%s: triangle %d vertex index %d outside %d vertices", t.name, i/3, v, n)
			}
		}
	}
	if (h.Flat == nil) != (h.FlatTriangles == nil) {
		return errors.New("fields Flat and FlatTriangles must be both present or both absent")
	}
	if len(h.Labels) > maxLabelMaps {
		return fmt.Errorf("%d label maps, at most %d", len(h.Labels), maxLabelMaps)
	}
	for i, l := range h.Labels {
		if l.Class == "" || len(l.Class) > maxNameLen {
			return fmt.Errorf("label map %d: class name of %d bytes, want 1..%d", i, len(l.Class), maxNameLen)
		}
		for j := range i {
			if h.Labels[j].Class == l.Class {
				return fmt.Errorf("label class %q appears twice", l.Class)
			}
		}
		if len(l.Values) != n {
			return fmt.Errorf("labels %q have %d values, want %d", l.Class, len(l.Values), n)
		}
		if len(l.Names) > maxLabelNames {
			return fmt.Errorf("labels %q have %d names, at most %d", l.Class, len(l.Names), maxLabelNames)
		}
		for _, s := range l.Names {
			if len(s) > maxNameLen {
				return fmt.Errorf("labels %q: a name of %d bytes, at most %d", l.Class, len(s), maxNameLen)
			}
		}
	}
	return nil
}

// Section kinds of the encoded bundle.
const (
	secPositions = 1
	secNormals   = 2
	secTriangles = 3
	secScalars   = 4
	secLabels    = 5
)

// Triangle encodings.
const (
	triPlanes = 0
	triMask   = 1
)

// Scalar map ids.
const (
	scalarSulc = 0
	scalarCurv = 1
)

// Encode writes the bundle in the compact binary format, version 2. All
// integers are little-endian; "uv" is an unsigned LEB128 varint and "str"
// a uv length followed by UTF-8 bytes.
//
//	"CCMB" | version u32 = 2 | name str | sources str | full-vertices uv
//	per hemisphere (lh, rh):
//	    N uv | section count uv | sections, each: kind u8 | length uv | payload
//	CRC-32 (IEEE) u32 of all preceding bytes
//
// Arrays are stored so that gzip finds their redundancy: "planar" means
// all x values, then all y, then all z; "delta" means each value minus the
// previous one in its plane (wrapping; the first minus 0); "split" means
// the low bytes of all values, then the next bytes, and so on.
//
// Sections (each at most once per hemisphere, in this order when written):
//
//	1 positions  surface u8 (0 inflated … 4 flat) | exponent e u8 |
//	             3N int16 codes, planar, delta, split;
//	             coordinate = code · 0.01·2^e mm (see PositionStep)
//	2 normals    surface u8 | 3N int8 codes (unit normal ·127), planar, delta
//	3 triangles  set u8 (0 mesh, 1 flat) | T uv | encoding u8 | data:
//	             0 = width w u8 (2 or 4) | 3T values, split over w bytes:
//	                 planes zigzag(a−a_prev), zigzag(b−a), zigzag(c−a) of
//	                 the triangles (a, b, c) in order
//	             1 = (flat set only) a bit mask over the mesh triangles, bit
//	                 t = byte t/8 bit t%8: the flat set is the mesh triangles
//	                 whose bit is set, in mesh order (T bits are set)
//	4 scalars    map u8 (0 sulcal depth, 1 curvature) | N float16, split
//	5 labels     class str | name count uv | names str… | width u8 (1, 2) |
//	             N uint8 or uint16 values, split
//
// The inflated positions, mesh triangles and sulcal depth are required.
// Positions and scalars are quantised (lossy, see PositionStep and
// Float16); normals are int8 codes (see NormalScale); triangles and labels
// are exact. Serve the result gzip-compressed (EncodeGzip).
func (b *Bundle) Encode(w io.Writer) error {
	raw, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("meshes: encode bundle %s: %w", b.Name, err)
	}
	return nil
}

// EncodeGzip writes the encoded bundle gzip-compressed at the default
// level (for the full fsaverage bundle within 1.5% of the best compression
// in a sixth of the time).
func (b *Bundle) EncodeGzip(w io.Writer) error {
	raw, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	if err := gzipTo(w, raw); err != nil {
		return fmt.Errorf("meshes: encode bundle %s: %w", b.Name, err)
	}
	return nil
}

func gzipTo(w io.Writer, raw []byte) error {
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	return zw.Close()
}

// MarshalBinary returns the encoded bundle (see Encode).
func (b *Bundle) MarshalBinary() ([]byte, error) {
	if len(b.Name) > maxNameLen || len(b.Sources) > maxNameLen {
		return nil, fmt.Errorf("meshes: encode bundle: name or sources longer than %d bytes", maxNameLen)
	}
	if b.FullVertices < 0 || b.FullVertices > MaxBundleVertices {
		return nil, fmt.Errorf("meshes: encode bundle %s: FullVertices %d outside 0..%d", b.Name, b.FullVertices, MaxBundleVertices)
	}
	for i := range b.Hemis {
		if err := b.Hemis[i].Validate(); err != nil {
			return nil, fmt.Errorf("meshes: encode bundle %s %s: %w", b.Name, HemiName(i), err)
		}
	}
	var e enc
	e.buf = append(e.buf, BundleMagic...)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, BundleVersion)
	e.str(b.Name)
	e.str(b.Sources)
	e.uv(uint64(b.FullVertices))
	for i := range b.Hemis {
		encodeHemi(&e, &b.Hemis[i])
	}
	e.buf = binary.LittleEndian.AppendUint32(e.buf, crc32.ChecksumIEEE(e.buf))
	return e.buf, nil
}

type enc struct{ buf []byte }

func (e *enc) uv(v uint64)    { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *enc) u8(v byte)      { e.buf = append(e.buf, v) }
func (e *enc) str(s string)   { e.uv(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *enc) bytes(p []byte) { e.uv(uint64(len(p))); e.buf = append(e.buf, p...) }

// splitBytes appends the w-byte values v byte-split: all low bytes, then
// the next, and so on.
func splitBytes(dst []byte, v []uint32, w int) []byte {
	for k := range w {
		for _, x := range v {
			dst = append(dst, byte(x>>(8*k)))
		}
	}
	return dst
}

// unsplit reads n w-byte values written by splitBytes from p.
func unsplit(p []byte, n, w int) []uint32 {
	out := make([]uint32, n)
	for k := range w {
		for i := range out {
			out[i] |= uint32(p[k*n+i]) << (8 * k)
		}
	}
	return out
}

// planarDelta returns the planar, delta-coded values of the 3·n
// interleaved codes q, wrapped to the given bit width.
func planarDelta[T int8 | int16](q []T, n int) []uint32 {
	out := make([]uint32, 0, 3*n)
	for c := range 3 {
		var prev T
		for i := range n {
			v := q[3*i+c]
			out = append(out, uint32(v-prev))
			prev = v
		}
	}
	return out
}

func encodeHemi(e *enc, h *HemiMesh) {
	n := h.NumVertices
	var secs []section
	for k := range NumSurfaces {
		p := h.Positions(k)
		if p == nil {
			continue
		}
		exp, q := quantizePositions(p)
		pl := splitBytes([]byte{byte(k), byte(exp)}, planarDelta(q, n), 2)
		secs = append(secs, section{secPositions, pl})
	}
	for k := range NumSurfaces {
		if q := h.Normals[k]; q != nil {
			secs = append(secs, section{secNormals, splitBytes([]byte{byte(k)}, planarDelta(q, n), 1)})
		}
	}
	secs = append(secs, section{secTriangles, encodeTriangles(0, h.Triangles, nil)})
	if h.FlatTriangles != nil {
		secs = append(secs, section{secTriangles, encodeTriangles(1, h.FlatTriangles, h.Triangles)})
	}
	for id, v := range [][]float32{h.Sulc, h.Curv} {
		if v == nil {
			continue
		}
		hv := make([]uint32, n)
		for i, x := range v {
			hv[i] = uint32(Float16(x))
		}
		secs = append(secs, section{secScalars, splitBytes([]byte{byte(id)}, hv, 2)})
	}
	for _, l := range h.Labels {
		var s enc
		s.str(l.Class)
		s.uv(uint64(len(l.Names)))
		for _, nm := range l.Names {
			s.str(nm)
		}
		w := 1
		if slices.Max(l.Values) > math.MaxUint8 {
			w = 2
		}
		v := make([]uint32, n)
		for i, x := range l.Values {
			v[i] = uint32(x)
		}
		s.u8(byte(w))
		s.buf = splitBytes(s.buf, v, w)
		secs = append(secs, section{secLabels, s.buf})
	}
	e.uv(uint64(n))
	e.uv(uint64(len(secs)))
	for _, s := range secs {
		e.u8(s.kind)
		e.bytes(s.payload)
	}
}

type section struct {
	kind    byte
	payload []byte
}

func zigzag(d int64) uint64   { return uint64(d<<1) ^ uint64(d>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// subsetMask returns the bit mask of the mesh triangles that make up sub
// when sub is an in-order subset of mesh, else nil.
func subsetMask(sub, mesh []uint32) []byte {
	if mesh == nil {
		return nil
	}
	mask := make([]byte, (len(mesh)/3+7)/8)
	j := 0
	for t := 0; t+2 < len(mesh) && j < len(sub); t += 3 {
		if mesh[t] == sub[j] && mesh[t+1] == sub[j+1] && mesh[t+2] == sub[j+2] {
			mask[t/3/8] |= 1 << (t / 3 % 8)
			j += 3
		}
	}
	if j != len(sub) {
		return nil
	}
	return mask
}

func encodeTriangles(set byte, tri, mesh []uint32) []byte {
	var e enc
	e.u8(set)
	e.uv(uint64(len(tri) / 3))
	if mask := subsetMask(tri, mesh); mask != nil {
		e.u8(triMask)
		e.buf = append(e.buf, mask...)
		return e.buf
	}
	t := len(tri) / 3
	v := make([]uint32, 3*t)
	prev := int64(0)
	w := 2
	for i := range t {
		a, b, c := int64(tri[3*i]), int64(tri[3*i+1]), int64(tri[3*i+2])
		v[i], v[t+i], v[2*t+i] = uint32(zigzag(a-prev)), uint32(zigzag(b-a)), uint32(zigzag(c-a))
		prev = a
		if max(v[i], v[t+i], v[2*t+i]) > math.MaxUint16 {
			w = 4
		}
	}
	e.u8(triPlanes)
	e.u8(byte(w))
	e.buf = splitBytes(e.buf, v, w)
	return e.buf
}

// DecodeBundle reads a bundle written by Encode, gzip-compressed or not.
// It checks the magic, the version, the trailing CRC-32 before parsing,
// every count against the bytes present (so a short input cannot claim a
// large allocation), triangle indices and coordinate finiteness.
func DecodeBundle(r io.Reader) (*Bundle, error) {
	raw, err := readAllMaybeGzip(r, MaxBundleBytes)
	if err != nil {
		return nil, fmt.Errorf("meshes: decode bundle: %w", err)
	}
	b, err := UnmarshalBundle(raw)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalBundle decodes an uncompressed encoded bundle (see DecodeBundle).
func UnmarshalBundle(raw []byte) (*Bundle, error) {
	b, err := unmarshalBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("meshes: decode bundle: %w", err)
	}
	return b, nil
}

func unmarshalBundle(raw []byte) (*Bundle, error) {
	if len(raw) < 4 {
		return nil, fmt.Errorf("%d bytes, too short for the magic: %w", len(raw), io.ErrUnexpectedEOF)
	}
	if string(raw[:4]) != BundleMagic {
		return nil, fmt.Errorf("magic %q, want %q", raw[:4], BundleMagic)
	}
	if len(raw) < 12 {
		return nil, fmt.Errorf("%d bytes, too short for the version and checksum: %w", len(raw), io.ErrUnexpectedEOF)
	}
	if v := binary.LittleEndian.Uint32(raw[4:]); v != BundleVersion {
		if v < BundleVersion {
			return nil, fmt.Errorf("format version %d is no longer read (this build reads version %d): rebuild the bundle with `cortexcast meshes build`", v, BundleVersion)
		}
		return nil, fmt.Errorf("format version %d, this build reads version %d: update cortexcast", v, BundleVersion)
	}
	body := raw[:len(raw)-4]
	if got, want := binary.LittleEndian.Uint32(raw[len(raw)-4:]), crc32.ChecksumIEEE(body); got != want {
		return nil, fmt.Errorf("checksum mismatch: stored %#08x, computed %#08x over %d bytes (truncated or corrupt)", got, want, len(body))
	}
	d := &dec{buf: body, off: 8}
	b := &Bundle{}
	var err error
	if b.Name, err = d.str("name"); err != nil {
		return nil, err
	}
	if b.Sources, err = d.str("sources"); err != nil {
		return nil, err
	}
	fv, err := d.uv("full-vertex count")
	if err != nil {
		return nil, err
	}
	if fv > MaxBundleVertices {
		return nil, fmt.Errorf("full-vertex count %d exceeds %d", fv, MaxBundleVertices)
	}
	b.FullVertices = int(fv)
	for hi := range b.Hemis {
		if err := decodeHemi(d, &b.Hemis[hi]); err != nil {
			return nil, fmt.Errorf("%s: %w", HemiName(hi), err)
		}
		if err := b.Hemis[hi].Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", HemiName(hi), err)
		}
	}
	if d.off != len(d.buf) {
		return nil, fmt.Errorf("%d unexpected bytes after the rh hemisphere at byte %d", len(d.buf)-d.off, d.off)
	}
	return b, nil
}

// dec reads from an in-memory bundle, failing on any read past the end.
type dec struct {
	buf []byte
	off int
}

func (d *dec) errEOF(what string, need int) error {
	return fmt.Errorf("%s at byte %d: needs %d bytes, %d remain: %w", what, d.off, need, len(d.buf)-d.off, io.ErrUnexpectedEOF)
}

func (d *dec) uv(what string) (uint64, error) {
	v, k := binary.Uvarint(d.buf[d.off:])
	if k <= 0 {
		return 0, fmt.Errorf("%s at byte %d: bad or truncated varint", what, d.off)
	}
	d.off += k
	return v, nil
}

func (d *dec) take(what string, n uint64) ([]byte, error) {
	if n > uint64(len(d.buf)-d.off) {
		return nil, d.errEOF(what, int(min(n, math.MaxInt32)))
	}
	p := d.buf[d.off : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

func (d *dec) u8(what string) (byte, error) {
	p, err := d.take(what, 1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (d *dec) str(what string) (string, error) {
	n, err := d.uv(what + " length")
	if err != nil {
		return "", err
	}
	if n > maxNameLen {
		return "", fmt.Errorf("%s length %d exceeds %d", what, n, maxNameLen)
	}
	p, err := d.take(what, n)
	return string(p), err
}

func decodeHemi(d *dec, h *HemiMesh) error {
	n64, err := d.uv("vertex count")
	if err != nil {
		return err
	}
	if n64 == 0 || n64 > MaxBundleVertices {
		return fmt.Errorf("vertex count %d outside 1..%d", n64, MaxBundleVertices)
	}
	n := int(n64)
	h.NumVertices = n
	ns, err := d.uv("section count")
	if err != nil {
		return err
	}
	if ns > 2*NumSurfaces+4+maxLabelMaps {
		return fmt.Errorf("%d sections, at most %d", ns, 2*NumSurfaces+4+maxLabelMaps)
	}
	seen := map[[2]int]bool{}
	once := func(kind, id int, what string) error {
		if seen[[2]int{kind, id}] {
			return fmt.Errorf("%s appears twice", what)
		}
		seen[[2]int{kind, id}] = true
		return nil
	}
	for s := range ns {
		start := d.off
		kind, err := d.u8("section kind")
		if err != nil {
			return err
		}
		ln, err := d.uv("section length")
		if err != nil {
			return err
		}
		pl, err := d.take(fmt.Sprintf("section %d (kind %d)", s, kind), ln)
		if err != nil {
			return err
		}
		p := &dec{buf: pl}
		if err := decodeSection(p, h, kind, n, once); err != nil {
			return fmt.Errorf("section %d at byte %d: %w", s, start, err)
		}
		if p.off != len(pl) {
			return fmt.Errorf("section %d at byte %d (kind %d): %d bytes, %d used", s, start, kind, len(pl), p.off)
		}
	}
	if h.Inflated == nil || h.Triangles == nil || h.Sulc == nil {
		return errors.New("missing a required section (inflated positions, mesh triangles, sulcal depth)")
	}
	return nil
}

func decodeSection(p *dec, h *HemiMesh, kind byte, n int, once func(kind, id int, what string) error) error {
	switch kind {
	case secPositions:
		hd, err := p.take("positions header", 2)
		if err != nil {
			return err
		}
		k, e := int(hd[0]), int(hd[1])
		if k >= NumSurfaces || e > maxPosExp {
			return fmt.Errorf("positions of surface %d with exponent %d (surfaces 0..%d, exponents 0..%d)", k, e, NumSurfaces-1, maxPosExp)
		}
		if err := once(secPositions, k, SurfaceName(k)+" positions"); err != nil {
			return err
		}
		data, err := p.take(SurfaceName(k)+" positions", uint64(6*n))
		if err != nil {
			return err
		}
		pos := make([]float32, 3*n)
		for c := range 3 {
			var code uint16
			for i := range n {
				j := c*n + i
				code += uint16(data[j]) | uint16(data[3*n+j])<<8
				pos[3*i+c] = dequantizePosition(int16(code), e)
			}
		}
		*h.positionsField(k) = pos
	case secNormals:
		k, err := p.u8("normals surface")
		if err != nil {
			return err
		}
		if int(k) >= NumSurfaces {
			return fmt.Errorf("normals of surface %d (0..%d)", k, NumSurfaces-1)
		}
		if err := once(secNormals, int(k), SurfaceName(int(k))+" normals"); err != nil {
			return err
		}
		data, err := p.take(SurfaceName(int(k))+" normals", uint64(3*n))
		if err != nil {
			return err
		}
		q := make([]int8, 3*n)
		for c := range 3 {
			var code byte
			for i := range n {
				code += data[c*n+i]
				q[3*i+c] = int8(code)
			}
		}
		h.Normals[k] = q
	case secTriangles:
		set, err := p.u8("triangle set")
		if err != nil {
			return err
		}
		if set > 1 {
			return fmt.Errorf("triangle set %d (0 mesh, 1 flat)", set)
		}
		if err := once(secTriangles, int(set), "triangle set "+fmt.Sprint(set)); err != nil {
			return err
		}
		t, err := p.uv("triangle count")
		if err != nil {
			return err
		}
		if t > MaxBundleTriangles {
			return fmt.Errorf("triangle count %d exceeds %d", t, MaxBundleTriangles)
		}
		tri, err := decodeTriangles(p, int(t), set, h.Triangles)
		if err != nil {
			return err
		}
		if set == 0 {
			h.Triangles = tri
		} else {
			h.FlatTriangles = tri
		}
	case secScalars:
		id, err := p.u8("scalar map id")
		if err != nil {
			return err
		}
		if id > scalarCurv {
			return fmt.Errorf("scalar map %d (0 sulcal depth, 1 curvature)", id)
		}
		if err := once(secScalars, int(id), "scalar map "+fmt.Sprint(id)); err != nil {
			return err
		}
		data, err := p.take("scalar values", uint64(2*n))
		if err != nil {
			return err
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = Float32FromHalf(uint16(data[i]) | uint16(data[n+i])<<8)
		}
		if id == scalarSulc {
			h.Sulc = v
		} else {
			h.Curv = v
		}
	case secLabels:
		var l LabelMap
		var err error
		if l.Class, err = p.str("label class"); err != nil {
			return err
		}
		nn, err := p.uv("label name count")
		if err != nil {
			return err
		}
		if nn > maxLabelNames {
			return fmt.Errorf("labels %q: %d names, at most %d", l.Class, nn, maxLabelNames)
		}
		for range nn {
			s, err := p.str("label name")
			if err != nil {
				return err
			}
			l.Names = append(l.Names, s)
		}
		w, err := p.u8("label width")
		if err != nil {
			return err
		}
		if w != 1 && w != 2 {
			return fmt.Errorf("labels %q: width %d, want 1 or 2", l.Class, w)
		}
		data, err := p.take("label values", uint64(int(w)*n))
		if err != nil {
			return err
		}
		l.Values = make([]uint16, n)
		for i, v := range unsplit(data, n, int(w)) {
			l.Values[i] = uint16(v)
		}
		h.Labels = append(h.Labels, l)
	default:
		return fmt.Errorf("unknown section kind %d", kind)
	}
	return nil
}

func decodeTriangles(p *dec, t int, set byte, mesh []uint32) ([]uint32, error) {
	encID, err := p.u8("triangle encoding")
	if err != nil {
		return nil, err
	}
	switch encID {
	case triPlanes:
		w, err := p.u8("triangle value width")
		if err != nil {
			return nil, err
		}
		if w != 2 && w != 4 {
			return nil, fmt.Errorf("triangle value width %d, want 2 or 4", w)
		}
		data, err := p.take("triangles", uint64(3*t)*uint64(w))
		if err != nil {
			return nil, err
		}
		v := unsplit(data, 3*t, int(w))
		tri := make([]uint32, 3*t)
		prev := int64(0)
		for i := range t {
			a := prev + unzigzag(uint64(v[i]))
			b := a + unzigzag(uint64(v[t+i]))
			c := a + unzigzag(uint64(v[2*t+i]))
			for _, x := range [3]int64{a, b, c} {
				if x < 0 || x > math.MaxUint32 {
					return nil, fmt.Errorf("triangle %d: index %d out of range", i, x)
				}
			}
			tri[3*i], tri[3*i+1], tri[3*i+2] = uint32(a), uint32(b), uint32(c)
			prev = a
		}
		return tri, nil
	case triMask:
		if set != 1 || mesh == nil {
			return nil, errors.New("a triangle mask must be the flat set and follow the mesh triangles")
		}
		tm := len(mesh) / 3
		mask, err := p.take("triangle mask", uint64((tm+7)/8))
		if err != nil {
			return nil, err
		}
		tri := make([]uint32, 0, 3*min(t, tm))
		for i := range tm {
			if mask[i/8]&(1<<(i%8)) != 0 {
				tri = append(tri, mesh[3*i:3*i+3]...)
			}
		}
		if tm%8 != 0 && mask[len(mask)-1]>>(tm%8) != 0 {
			return nil, errors.New("triangle mask has bits set past the mesh triangles")
		}
		if len(tri) != 3*t {
			return nil, fmt.Errorf("triangle mask selects %d triangles, the header says %d", len(tri)/3, t)
		}
		return tri, nil
	}
	return nil, fmt.Errorf("triangle encoding %d (0 planes, 1 mask)", encID)
}
