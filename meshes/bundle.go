package meshes

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Bundle format constants.
const (
	BundleMagic   = "CCMB"
	BundleVersion = 1

	// MaxBundleVertices and MaxBundleTriangles bound the per-hemisphere
	// counts that DecodeBundle accepts (full fsaverage has 163842 vertices
	// and 327680 triangles per hemisphere).
	MaxBundleVertices  = 1 << 21
	MaxBundleTriangles = 1 << 22
	maxNameLen         = 256

	flagPial = 1 << 0
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

// Bundle holds both hemispheres of one mesh resolution, in the order lh, rh.
type Bundle struct {
	Name  string
	Hemis [2]HemiMesh
}

// HemiMesh is one hemisphere: positions of the inflated surface (and
// optionally of the pial surface, nil when absent) as 3·N xyz in mm, the
// 3·T triangle vertex indices shared by both surfaces, and per-vertex
// sulcal depth.
type HemiMesh struct {
	NumVertices int
	Inflated    []float32
	Pial        []float32
	Triangles   []uint32
	Sulc        []float32
}

// Validate checks that the array lengths agree with NumVertices and that
// every triangle index is in range.
func (h *HemiMesh) Validate() error {
	n := h.NumVertices
	if n <= 0 || n > MaxBundleVertices {
		return fmt.Errorf("NumVertices %d outside 1..%d", n, MaxBundleVertices)
	}
	if len(h.Inflated) != 3*n {
		return fmt.Errorf("Inflated has %d values, want 3×%d", len(h.Inflated), n)
	}
	if h.Pial != nil && len(h.Pial) != 3*n {
		return fmt.Errorf("Pial has %d values, want 3×%d", len(h.Pial), n)
	}
	if len(h.Sulc) != n {
		return fmt.Errorf("Sulc has %d values, want %d", len(h.Sulc), n)
	}
	if len(h.Triangles)%3 != 0 || len(h.Triangles)/3 > MaxBundleTriangles {
		return fmt.Errorf("Triangles has %d indices, want a multiple of 3 up to 3×%d", len(h.Triangles), MaxBundleTriangles)
	}
	for i, v := range h.Triangles {
		if int(v) >= n {
			return fmt.Errorf("triangle %d vertex index %d outside %d vertices", i/3, v, n)
		}
	}
	for _, p := range [][]float32{h.Inflated, h.Pial} {
		for i, v := range p {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("vertex %d has a non-finite coordinate %v", i/3, v)
			}
		}
	}
	return nil
}

// BuildBundle reads <dir>/<name>/infl_{left,right}.gii.gz,
// sulc_{left,right}.gii.gz and, when present, pial_{left,right}.gii.gz
// into a Bundle named name.
func BuildBundle(dir, name string) (*Bundle, error) {
	b := &Bundle{Name: name}
	for hi, side := range [2]string{"left", "right"} {
		base := filepath.Join(dir, name)
		inflPath := filepath.Join(base, "infl_"+side+".gii.gz")
		infl, err := ReadSurface(inflPath)
		if err != nil {
			return nil, fmt.Errorf("meshes: build bundle %s: %w", name, err)
		}
		n := infl.NumVertices()
		h := HemiMesh{NumVertices: n, Inflated: infl.Positions, Triangles: infl.Triangles}
		pialPath := filepath.Join(base, "pial_"+side+".gii.gz")
		if _, err := os.Stat(pialPath); err == nil {
			pial, err := ReadSurface(pialPath)
			if err != nil {
				return nil, fmt.Errorf("meshes: build bundle %s: %w", name, err)
			}
			if pial.NumVertices() != n || len(pial.Triangles) != len(infl.Triangles) {
				return nil, fmt.Errorf("meshes: build bundle %s: %s has %d vertices and %d triangles, %s has %d and %d",
					name, pialPath, pial.NumVertices(), len(pial.Triangles)/3, inflPath, n, len(infl.Triangles)/3)
			}
			h.Pial = pial.Positions
		}
		sulcPath := filepath.Join(base, "sulc_"+side+".gii.gz")
		sulc, err := ReadShape(sulcPath)
		if err != nil {
			return nil, fmt.Errorf("meshes: build bundle %s: %w", name, err)
		}
		if len(sulc) != n {
			return nil, fmt.Errorf("meshes: build bundle %s: %s has %d values, %s has %d vertices", name, sulcPath, len(sulc), inflPath, n)
		}
		h.Sulc = sulc
		if err := h.Validate(); err != nil {
			return nil, fmt.Errorf("meshes: build bundle %s %s: %w", name, HemiName(hi), err)
		}
		b.Hemis[hi] = h
	}
	return b, nil
}

// Encode writes the bundle in the compact binary format:
//
//	"CCMB" | version u32 | name length u32 | name bytes
//	per hemisphere (lh, rh): N u32 | T u32 | flags u32 (bit 0: pial present)
//	    | inflated 3N f32 | [pial 3N f32] | triangles 3T u32 | sulc N f32
//	CRC-32 (IEEE) u32 of all preceding bytes
//
// All integers and floats are little-endian.
func (b *Bundle) Encode(w io.Writer) error {
	if len(b.Name) > maxNameLen {
		return fmt.Errorf("meshes: encode bundle: name longer than %d bytes", maxNameLen)
	}
	for i := range b.Hemis {
		if err := b.Hemis[i].Validate(); err != nil {
			return fmt.Errorf("meshes: encode bundle %s %s: %w", b.Name, HemiName(i), err)
		}
	}
	crc := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	var u [4]byte
	putU32 := func(v uint32) {
		binary.LittleEndian.PutUint32(u[:], v)
		bw.Write(u[:])
	}
	putF32s := func(s []float32) {
		for _, v := range s {
			putU32(math.Float32bits(v))
		}
	}
	bw.WriteString(BundleMagic)
	putU32(BundleVersion)
	putU32(uint32(len(b.Name)))
	bw.WriteString(b.Name)
	for i := range b.Hemis {
		h := &b.Hemis[i]
		putU32(uint32(h.NumVertices))
		putU32(uint32(len(h.Triangles) / 3))
		var flags uint32
		if h.Pial != nil {
			flags |= flagPial
		}
		putU32(flags)
		putF32s(h.Inflated)
		if h.Pial != nil {
			putF32s(h.Pial)
		}
		for _, v := range h.Triangles {
			putU32(v)
		}
		putF32s(h.Sulc)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("meshes: encode bundle %s: %w", b.Name, err)
	}
	binary.LittleEndian.PutUint32(u[:], crc.Sum32())
	if _, err := w.Write(u[:]); err != nil {
		return fmt.Errorf("meshes: encode bundle %s: %w", b.Name, err)
	}
	return nil
}

// bundleReader reads little-endian values while hashing them.
type bundleReader struct {
	r   io.Reader
	crc hash.Hash32
	buf []byte
	off int64
}

func (br *bundleReader) read(n int) ([]byte, error) {
	if cap(br.buf) < n {
		br.buf = make([]byte, n)
	}
	p := br.buf[:n]
	if _, err := io.ReadFull(br.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("at byte %d: %w", br.off, err)
	}
	br.crc.Write(p)
	br.off += int64(n)
	return p, nil
}

func (br *bundleReader) u32() (uint32, error) {
	p, err := br.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

const readChunk = 1 << 14 // values per read

// u32s reads n values, growing the result as data arrive so that a short
// input claiming a large count does not allocate the full count.
func (br *bundleReader) u32s(n int) ([]uint32, error) {
	out := make([]uint32, 0, min(n, readChunk))
	for len(out) < n {
		k := min(n-len(out), readChunk)
		p, err := br.read(4 * k)
		if err != nil {
			return nil, err
		}
		for i := range k {
			out = append(out, binary.LittleEndian.Uint32(p[4*i:]))
		}
	}
	return out, nil
}

func (br *bundleReader) f32s(n int) ([]float32, error) {
	out := make([]float32, 0, min(n, readChunk))
	for len(out) < n {
		k := min(n-len(out), readChunk)
		p, err := br.read(4 * k)
		if err != nil {
			return nil, err
		}
		for i := range k {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:])))
		}
	}
	return out, nil
}

// DecodeBundle reads a bundle written by Encode. It refuses counts above
// MaxBundleVertices / MaxBundleTriangles before allocating, checks the
// trailing CRC-32, triangle indices and coordinate finiteness.
func DecodeBundle(r io.Reader) (*Bundle, error) {
	b, err := decodeBundle(r)
	if err != nil {
		return nil, fmt.Errorf("meshes: decode bundle: %w", err)
	}
	return b, nil
}

func decodeBundle(r io.Reader) (*Bundle, error) {
	br := &bundleReader{r: bufio.NewReaderSize(r, 1<<16), crc: crc32.NewIEEE()}
	magic, err := br.read(4)
	if err != nil {
		return nil, fmt.Errorf("magic: %w", err)
	}
	if string(magic) != BundleMagic {
		return nil, fmt.Errorf("magic %q, want %q", magic, BundleMagic)
	}
	ver, err := br.u32()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	if ver != BundleVersion {
		return nil, fmt.Errorf("format version %d, this build reads version %d", ver, BundleVersion)
	}
	nl, err := br.u32()
	if err != nil {
		return nil, fmt.Errorf("name length: %w", err)
	}
	if nl > maxNameLen {
		return nil, fmt.Errorf("name length %d exceeds %d", nl, maxNameLen)
	}
	name, err := br.read(int(nl))
	if err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	b := &Bundle{Name: string(name)}
	for hi := range b.Hemis {
		hn := HemiName(hi)
		var hdr [3]uint32
		for k := range hdr {
			if hdr[k], err = br.u32(); err != nil {
				return nil, fmt.Errorf("%s header: %w", hn, err)
			}
		}
		n, t, flags := hdr[0], hdr[1], hdr[2]
		if n == 0 || n > MaxBundleVertices {
			return nil, fmt.Errorf("%s vertex count %d outside 1..%d", hn, n, MaxBundleVertices)
		}
		if t > MaxBundleTriangles {
			return nil, fmt.Errorf("%s triangle count %d exceeds %d", hn, t, MaxBundleTriangles)
		}
		if flags&^flagPial != 0 {
			return nil, fmt.Errorf("%s unknown flags %#x", hn, flags)
		}
		h := HemiMesh{NumVertices: int(n)}
		if h.Inflated, err = br.f32s(3 * int(n)); err != nil {
			return nil, fmt.Errorf("%s inflated positions: %w", hn, err)
		}
		if flags&flagPial != 0 {
			if h.Pial, err = br.f32s(3 * int(n)); err != nil {
				return nil, fmt.Errorf("%s pial positions: %w", hn, err)
			}
		}
		if h.Triangles, err = br.u32s(3 * int(t)); err != nil {
			return nil, fmt.Errorf("%s triangles: %w", hn, err)
		}
		if h.Sulc, err = br.f32s(int(n)); err != nil {
			return nil, fmt.Errorf("%s sulcal depth: %w", hn, err)
		}
		b.Hemis[hi] = h
	}
	want := br.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(br.r, tail[:]); err != nil {
		return nil, fmt.Errorf("checksum at byte %d: %w", br.off, io.ErrUnexpectedEOF)
	}
	if got := binary.LittleEndian.Uint32(tail[:]); got != want {
		return nil, fmt.Errorf("checksum mismatch: stored %#08x, computed %#08x", got, want)
	}
	for hi := range b.Hemis {
		if err := b.Hemis[hi].Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", HemiName(hi), err)
		}
	}
	return b, nil
}
