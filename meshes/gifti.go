// Package meshes reads cortical surface files (GIfTI; FreeSurfer binary
// surfaces, curvature and patch files; MGH/MGZ per-vertex maps; .npy label
// masks), locates the fsaverage sources on disk (or fetches them when
// asked), and encodes them into the compact binary bundle that the server
// sends to the browser viewer, which decodes it (this package builds for
// js/wasm).
package meshes

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Intents, data types and encodings of GIfTI DataArrays that this package
// names explicitly.
const (
	IntentPointSet = "NIFTI_INTENT_POINTSET"
	IntentTriangle = "NIFTI_INTENT_TRIANGLE"
	IntentShape    = "NIFTI_INTENT_SHAPE"

	TypeFloat32 = "NIFTI_TYPE_FLOAT32"
	TypeInt32   = "NIFTI_TYPE_INT32"
)

// Limits applied while reading GIfTI files so that corrupt or hostile input
// fails with an error instead of exhausting memory.
const (
	// MaxGIfTIBytes bounds the size of the (decompressed) XML document.
	MaxGIfTIBytes = 1 << 30
	// MaxArrayElements bounds the number of elements in one DataArray.
	MaxArrayElements = 1 << 28
	maxDims          = 6
)

// GIfTI is the content of a GIfTI file: its data arrays in file order.
type GIfTI struct {
	Arrays []DataArray
}

// DataArray is one GIfTI DataArray. Exactly one of Float32 and Int32 holds
// the data (by DataType), in row-major order whatever the file's
// ArrayIndexingOrder.
type DataArray struct {
	Intent   string
	DataType string
	Dims     []int
	Float32  []float32
	Int32    []int32
	Meta     map[string]string
}

// Len returns the number of elements (the product of Dims).
func (a *DataArray) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

// First returns the first array with the given intent, or nil.
func (g *GIfTI) First(intent string) *DataArray {
	for i := range g.Arrays {
		if g.Arrays[i].Intent == intent {
			return &g.Arrays[i]
		}
	}
	return nil
}

type xmlMD struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type xmlDataArray struct {
	Intent             string  `xml:"Intent,attr"`
	DataType           string  `xml:"DataType,attr"`
	ArrayIndexingOrder string  `xml:"ArrayIndexingOrder,attr"`
	Dimensionality     string  `xml:"Dimensionality,attr"`
	Dim0               string  `xml:"Dim0,attr"`
	Dim1               string  `xml:"Dim1,attr"`
	Dim2               string  `xml:"Dim2,attr"`
	Dim3               string  `xml:"Dim3,attr"`
	Dim4               string  `xml:"Dim4,attr"`
	Dim5               string  `xml:"Dim5,attr"`
	Encoding           string  `xml:"Encoding,attr"`
	Endian             string  `xml:"Endian,attr"`
	ExternalFileName   string  `xml:"ExternalFileName,attr"`
	ExternalFileOffset string  `xml:"ExternalFileOffset,attr"`
	Meta               []xmlMD `xml:"MetaData>MD"`
	Data               string  `xml:"Data"`
}

type xmlGIfTI struct {
	XMLName xml.Name       `xml:"GIFTI"`
	Arrays  []xmlDataArray `xml:"DataArray"`
}

// ReadGIfTI reads a GIfTI file; a file whose name ends in ".gz" (or that
// starts with the gzip magic) is decompressed transparently. Arrays in the
// ExternalFileBinary encoding are read from their external file, which
// must lie in the GIfTI file's directory (or below it). Besides the
// per-array checks of DecodeGIfTI it checks that the indices of every
// TRIANGLE array lie within the first POINTSET array.
func ReadGIfTI(path string) (*GIfTI, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("meshes: read GIfTI: %w", err)
	}
	defer f.Close()
	g, err := decodeGIfTI(f, externalReader(filepath.Dir(path)))
	if err != nil {
		return nil, fmt.Errorf("meshes: read GIfTI %s: %w", path, err)
	}
	return g, nil
}

// externalFunc returns n bytes at offset off of an array's external file.
type externalFunc func(name string, off int64, n int) ([]byte, error)

// externalReader reads external data files relative to dir, refusing
// names that leave it.
func externalReader(dir string) externalFunc {
	return func(name string, off int64, n int) ([]byte, error) {
		if !filepath.IsLocal(name) {
			return nil, fmt.Errorf("external data file %q is not a relative path inside %s", name, dir)
		}
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("external data: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("external data: %w", err)
		}
		if off < 0 || off > st.Size() || int64(n) > st.Size()-off {
			return nil, fmt.Errorf("external data file %s has %d bytes, the array needs %d at offset %d", path, st.Size(), n, off)
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("external data file %s: %w", path, err)
		}
		return b, nil
	}
}

// DecodeGIfTI parses a GIfTI document from r (gzip-compressed or not). It
// supports the ASCII, Base64Binary and GZipBase64Binary encodings, both byte
// orders, NIFTI_TYPE_FLOAT32 and NIFTI_TYPE_INT32 data, and both array
// indexing orders; arrays in external files need ReadGIfTI, which knows
// where the document lies. It returns an error when an array's element
// count does not match its dimensions, when data are truncated, and when
// triangle indices fall outside the point set.
func DecodeGIfTI(r io.Reader) (*GIfTI, error) {
	return decodeGIfTI(r, nil)
}

func decodeGIfTI(r io.Reader, ext externalFunc) (*GIfTI, error) {
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
	lr := &io.LimitedReader{R: src, N: MaxGIfTIBytes + 1}
	var doc xmlGIfTI
	dec := xml.NewDecoder(lr)
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("XML document larger than %d bytes", MaxGIfTIBytes)
		}
		return nil, fmt.Errorf("parse XML: %w", err)
	}
	g := &GIfTI{Arrays: make([]DataArray, 0, len(doc.Arrays))}
	for i := range doc.Arrays {
		a, err := decodeArray(&doc.Arrays[i], ext)
		if err != nil {
			return nil, fmt.Errorf("DataArray %d (%s): %w", i, doc.Arrays[i].Intent, err)
		}
		g.Arrays = append(g.Arrays, a)
	}
	if err := g.checkTopology(); err != nil {
		return nil, err
	}
	return g, nil
}

// checkTopology verifies shapes of point sets and triangles and that every
// triangle index refers to a point of the first point set.
func (g *GIfTI) checkTopology() error {
	points := -1
	for i := range g.Arrays {
		a := &g.Arrays[i]
		switch a.Intent {
		case IntentPointSet:
			if a.Float32 == nil || len(a.Dims) != 2 || a.Dims[1] != 3 {
				return fmt.Errorf("DataArray %d: POINTSET must be float32 N×3, got %s %v", i, a.DataType, a.Dims)
			}
			if points < 0 {
				points = a.Dims[0]
			}
		case IntentTriangle:
			if a.Int32 == nil || len(a.Dims) != 2 || a.Dims[1] != 3 {
				return fmt.Errorf("DataArray %d: TRIANGLE must be int32 T×3, got %s %v", i, a.DataType, a.Dims)
			}
		}
	}
	if points < 0 {
		return nil
	}
	for i := range g.Arrays {
		a := &g.Arrays[i]
		if a.Intent != IntentTriangle {
			continue
		}
		for j, v := range a.Int32 {
			if v < 0 || int(v) >= points {
				return fmt.Errorf("DataArray %d: triangle %d vertex index %d outside the point set of %d points", i, j/3, v, points)
			}
		}
	}
	return nil
}

func parseDims(x *xmlDataArray) ([]int, error) {
	nd, err := strconv.Atoi(strings.TrimSpace(x.Dimensionality))
	if err != nil {
		return nil, fmt.Errorf("attribute Dimensionality %q: %w", x.Dimensionality, err)
	}
	if nd < 1 || nd > maxDims {
		return nil, fmt.Errorf("attribute Dimensionality %d outside 1..%d", nd, maxDims)
	}
	raw := [maxDims]string{x.Dim0, x.Dim1, x.Dim2, x.Dim3, x.Dim4, x.Dim5}
	dims := make([]int, nd)
	total := 1
	for i := range nd {
		d, err := strconv.Atoi(strings.TrimSpace(raw[i]))
		if err != nil {
			return nil, fmt.Errorf("attribute Dim%d %q: %w", i, raw[i], err)
		}
		if d < 0 {
			return nil, fmt.Errorf("attribute Dim%d = %d is negative", i, d)
		}
		if d > 0 && total > MaxArrayElements/d {
			return nil, fmt.Errorf("dimensions %v exceed the limit of %d elements", raw[:nd], MaxArrayElements)
		}
		total *= d
		dims[i] = d
	}
	return dims, nil
}

func decodeArray(x *xmlDataArray, ext externalFunc) (DataArray, error) {
	a := DataArray{Intent: x.Intent, DataType: x.DataType}
	if len(x.Meta) > 0 {
		a.Meta = make(map[string]string, len(x.Meta))
		for _, md := range x.Meta {
			a.Meta[strings.TrimSpace(md.Name)] = md.Value
		}
	}
	dims, err := parseDims(x)
	if err != nil {
		return a, err
	}
	a.Dims = dims
	n := a.Len()
	if x.DataType != TypeFloat32 && x.DataType != TypeInt32 {
		return a, fmt.Errorf("unsupported DataType %q (supported: %s, %s)", x.DataType, TypeFloat32, TypeInt32)
	}
	var order binary.ByteOrder
	switch x.Endian {
	case "LittleEndian", "":
		order = binary.LittleEndian
	case "BigEndian":
		order = binary.BigEndian
	default:
		return a, fmt.Errorf("unsupported Endian %q", x.Endian)
	}
	switch x.Encoding {
	case "ASCII":
		if err := decodeASCII(&a, x.Data, n); err != nil {
			return a, err
		}
	case "Base64Binary", "GZipBase64Binary", "ExternalFileBinary":
		var raw []byte
		var err error
		if x.Encoding == "ExternalFileBinary" {
			raw, err = readExternal(x, ext, 4*n)
		} else {
			raw, err = decodeBinary(x.Data, x.Encoding == "GZipBase64Binary", 4*n)
		}
		if err != nil {
			return a, err
		}
		if x.DataType == TypeFloat32 {
			a.Float32 = make([]float32, n)
			for i := range a.Float32 {
				a.Float32[i] = math.Float32frombits(order.Uint32(raw[4*i:]))
			}
		} else {
			a.Int32 = make([]int32, n)
			for i := range a.Int32 {
				a.Int32[i] = int32(order.Uint32(raw[4*i:]))
			}
		}
	default:
		return a, fmt.Errorf("unsupported Encoding %q", x.Encoding)
	}
	if x.ArrayIndexingOrder == "ColumnMajorOrder" && len(dims) > 1 {
		toRowMajor(&a)
	}
	return a, nil
}

// readExternal returns the want bytes of an ExternalFileBinary array.
func readExternal(x *xmlDataArray, ext externalFunc, want int) ([]byte, error) {
	name := strings.TrimSpace(x.ExternalFileName)
	if name == "" {
		return nil, errors.New("ExternalFileBinary encoding without an ExternalFileName")
	}
	if ext == nil {
		return nil, fmt.Errorf("external data file %q: read the document with ReadGIfTI, which knows its directory", name)
	}
	off := int64(0)
	if s := strings.TrimSpace(x.ExternalFileOffset); s != "" {
		var err error
		if off, err = strconv.ParseInt(s, 10, 64); err != nil || off < 0 {
			return nil, fmt.Errorf("ExternalFileOffset %q is not a non-negative integer", x.ExternalFileOffset)
		}
	}
	return ext(name, off, want)
}

// decodeBinary base64-decodes s (ignoring whitespace), optionally inflates
// it (GIfTI's "GZip" encoding is a zlib stream; a gzip stream is accepted
// too), and checks that it holds exactly want bytes.
func decodeBinary(s string, compressed bool, want int) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
		s = strings.TrimRight(s, "=")
	}
	raw, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64 data: %w", err)
	}
	if compressed {
		var zr io.ReadCloser
		if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
			zr, err = gzip.NewReader(bytes.NewReader(raw))
		} else {
			zr, err = zlib.NewReader(bytes.NewReader(raw))
		}
		if err != nil {
			return nil, fmt.Errorf("compressed data: %w", err)
		}
		defer zr.Close()
		// Read at most want+1 bytes; io.ReadAll grows its buffer as data
		// arrive, so a tiny stream claiming huge dimensions stays cheap.
		buf, err := io.ReadAll(io.LimitReader(zr, int64(want)+1))
		if err != nil {
			return nil, fmt.Errorf("decompress data: %w", err)
		}
		switch {
		case len(buf) > want:
			return nil, fmt.Errorf("decompressed data longer than the %d bytes the dimensions call for", want)
		case len(buf) < want:
			return nil, fmt.Errorf("decompressed data truncated: %d bytes, dimensions call for %d", len(buf), want)
		}
		raw = buf
	}
	if len(raw) != want {
		return nil, fmt.Errorf("data has %d bytes, dimensions call for %d", len(raw), want)
	}
	return raw, nil
}

func decodeASCII(a *DataArray, s string, n int) error {
	fields := strings.Fields(s)
	if len(fields) != n {
		return fmt.Errorf("ASCII data has %d values, dimensions %v call for %d", len(fields), a.Dims, n)
	}
	if a.DataType == TypeFloat32 {
		a.Float32 = make([]float32, n)
		for i, f := range fields {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil {
				return fmt.Errorf("ASCII value %d: %w", i, err)
			}
			a.Float32[i] = float32(v)
		}
		return nil
	}
	a.Int32 = make([]int32, n)
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return fmt.Errorf("ASCII value %d: %w", i, err)
		}
		a.Int32[i] = int32(v)
	}
	return nil
}

// toRowMajor reorders column-major data into row-major order.
func toRowMajor(a *DataArray) {
	dims := a.Dims
	n := a.Len()
	if n == 0 {
		return
	}
	// Column-major strides, then walk the row-major index.
	colStride := make([]int, len(dims))
	s := 1
	for i := range dims {
		colStride[i] = s
		s *= dims[i]
	}
	idx := make([]int, len(dims))
	src := make([]int, n) // row-major position -> column-major position
	for p := range n {
		off := 0
		for i := range dims {
			off += idx[i] * colStride[i]
		}
		src[p] = off
		for i := len(dims) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	if a.Float32 != nil {
		out := make([]float32, n)
		for p, o := range src {
			out[p] = a.Float32[o]
		}
		a.Float32 = out
	}
	if a.Int32 != nil {
		out := make([]int32, n)
		for p, o := range src {
			out[p] = a.Int32[o]
		}
		a.Int32 = out
	}
}

// Surface is a triangle mesh: 3·N vertex coordinates (x, y, z per vertex)
// and 3·T vertex indices, with what the file says about itself: for GIfTI
// the point set's metadata, for a FreeSurfer surface its created-by line
// and volume-info tag (nil when absent).
type Surface struct {
	Positions []float32
	Triangles []uint32
	CreatedBy string
	Meta      map[string]string
}

// NumVertices returns the number of vertices.
func (s *Surface) NumVertices() int { return len(s.Positions) / 3 }

// ReadSurface reads the first POINTSET and the first TRIANGLE array of a
// GIfTI surface file.
func ReadSurface(path string) (*Surface, error) {
	g, err := ReadGIfTI(path)
	if err != nil {
		return nil, err
	}
	p := g.First(IntentPointSet)
	t := g.First(IntentTriangle)
	if p == nil || t == nil {
		return nil, fmt.Errorf("meshes: read surface %s: need a %s and a %s array", path, IntentPointSet, IntentTriangle)
	}
	tri := make([]uint32, len(t.Int32))
	for i, v := range t.Int32 {
		tri[i] = uint32(v) // checked non-negative by checkTopology
	}
	return &Surface{Positions: p.Float32, Triangles: tri, Meta: p.Meta}, nil
}

// ReadShape reads a per-vertex scalar map (such as sulcal depth) from a
// GIfTI file: the first float32 array with intent NIFTI_INTENT_SHAPE, or
// else the first one-dimensional float32 array.
func ReadShape(path string) ([]float32, error) {
	g, err := ReadGIfTI(path)
	if err != nil {
		return nil, err
	}
	if a := g.First(IntentShape); a != nil && a.Float32 != nil {
		return a.Float32, nil
	}
	for i := range g.Arrays {
		a := &g.Arrays[i]
		if a.Float32 != nil && (len(a.Dims) == 1 || (len(a.Dims) == 2 && a.Dims[1] == 1)) {
			return a.Float32, nil
		}
	}
	return nil, fmt.Errorf("meshes: read shape %s: no float32 per-vertex array (intent %s)", path, IntentShape)
}
