package meshes

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"cortexcast/backend/npy"
)

// MGH data types (the header's type field).
const (
	MGHUChar = 0
	MGHInt   = 1
	MGHFloat = 3
	MGHShort = 4
)

// mghHeaderBytes is where the data of an MGH file start.
const mghHeaderBytes = 284

// MGH is an MGH/MGZ volume: its four dimensions (width, height, depth,
// frames), data type and values in file order (the first dimension
// fastest), converted exactly to float64.
type MGH struct {
	Dims [4]int
	Type int
	Data []float64
}

// ReadMGH reads an MGH file, or an MGZ file (gzip) transparently.
func ReadMGH(path string) (*MGH, error) {
	return readFile(path, "MGH", DecodeMGH)
}

// DecodeMGH parses an MGH volume: a 284-byte big-endian header (version 1,
// width, height, depth, frames, type, dof, RAS flag and matrix) followed by
// the data in one of the types uchar, int, float and short. Trailing tags
// after the data are ignored. It refuses other versions and types,
// non-positive dimensions and truncated data.
func DecodeMGH(r io.Reader) (*MGH, error) {
	b, err := readAllMaybeGzip(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if len(b) < mghHeaderBytes {
		return nil, fmt.Errorf("%d bytes, too short for the %d-byte header", len(b), mghHeaderBytes)
	}
	if v := be32(b); v != 1 {
		return nil, fmt.Errorf("version %d, want 1", v)
	}
	m := &MGH{Type: int(be32(b[20:]))}
	n := int64(1)
	for i := range m.Dims {
		d := int64(be32(b[4+4*i:]))
		if d < 1 {
			return nil, fmt.Errorf("dimension %d is %d, want at least 1", i, d)
		}
		if n > MaxArrayElements/d {
			return nil, fmt.Errorf("dimensions %v exceed the limit of %d values", b[4:20], MaxArrayElements)
		}
		n *= d
		m.Dims[i] = int(d)
	}
	var size int64
	switch m.Type {
	case MGHUChar:
		size = 1
	case MGHShort:
		size = 2
	case MGHInt, MGHFloat:
		size = 4
	default:
		return nil, fmt.Errorf("data type %d not supported (uchar %d, int %d, float %d, short %d)", m.Type, MGHUChar, MGHInt, MGHFloat, MGHShort)
	}
	data := b[mghHeaderBytes:]
	if need := n * size; need > int64(len(data)) {
		return nil, fmt.Errorf("truncated: dims %v of type %d need %d bytes of data, %d remain", m.Dims, m.Type, need, len(data))
	}
	m.Data = make([]float64, n)
	for i := range m.Data {
		switch m.Type {
		case MGHUChar:
			m.Data[i] = float64(data[i])
		case MGHShort:
			m.Data[i] = float64(int16(binary.BigEndian.Uint16(data[2*i:])))
		case MGHInt:
			m.Data[i] = float64(be32(data[4*i:]))
		case MGHFloat:
			m.Data[i] = float64(math.Float32frombits(binary.BigEndian.Uint32(data[4*i:])))
		}
	}
	return m, nil
}

// VertexValues returns the values of a per-vertex map on a surface of n
// vertices: the volume must have one frame and width·height·depth = n.
func (m *MGH) VertexValues(n int) ([]float64, error) {
	if m.Dims[3] != 1 {
		return nil, fmt.Errorf("MGH has %d frames, a per-vertex map has 1", m.Dims[3])
	}
	if got := m.Dims[0] * m.Dims[1] * m.Dims[2]; got != n {
		return nil, fmt.Errorf("MGH dims %d×%d×%d hold %d values, the surface has %d vertices", m.Dims[0], m.Dims[1], m.Dims[2], got, n)
	}
	return m.Data, nil
}

// MaxLabel is the largest label value a bundle stores.
const MaxLabel = math.MaxUint16

// LabelsFromFloats converts per-vertex label values to uint16, refusing
// values that are not integers in 0..MaxLabel.
func LabelsFromFloats(v []float64) ([]uint16, error) {
	out := make([]uint16, len(v))
	for i, x := range v {
		if x != math.Trunc(x) || x < 0 || x > MaxLabel {
			return nil, fmt.Errorf("vertex %d has label %v, want an integer in 0..%d", i, x, MaxLabel)
		}
		out[i] = uint16(x)
	}
	return out, nil
}

// LabelsFromInts converts per-vertex label values to uint16, refusing
// values outside 0..MaxLabel.
func LabelsFromInts(v []int64) ([]uint16, error) {
	out := make([]uint16, len(v))
	for i, x := range v {
		if x < 0 || x > MaxLabel {
			return nil, fmt.Errorf("vertex %d has label %d, want 0..%d", i, x, MaxLabel)
		}
		out[i] = uint16(x)
	}
	return out, nil
}

// ReadLabelsNpy reads a per-vertex label mask from a .npy file (any
// integer dtype, through the npy package), such as an Algonauts
// <hemi>.<roi>_fsaverage_space.npy mask.
func ReadLabelsNpy(path string) ([]uint16, error) {
	v, shape, err := npy.ReadInt64(path)
	if err != nil {
		return nil, fmt.Errorf("meshes: read labels: %w", err)
	}
	l, err := labelsNpy(v, shape)
	if err != nil {
		return nil, fmt.Errorf("meshes: read labels %s: %w", path, err)
	}
	return l, nil
}

// DecodeLabelsNpy parses a .npy per-vertex label mask from r.
func DecodeLabelsNpy(r io.Reader) ([]uint16, error) {
	a, err := npy.Decode(r)
	if err != nil {
		return nil, err
	}
	v, err := a.Int64()
	if err != nil {
		return nil, err
	}
	return labelsNpy(v, a.Shape)
}

func labelsNpy(v []int64, shape []int) ([]uint16, error) {
	if len(shape) != 1 && !(len(shape) == 2 && shape[1] == 1) {
		return nil, fmt.Errorf("shape %v, want one value per vertex (n,) or (n, 1)", shape)
	}
	return LabelsFromInts(v)
}

// ReadLabelsMGH reads a per-vertex label map from an MGH/MGZ file.
func ReadLabelsMGH(path string) ([]uint16, error) {
	m, err := ReadMGH(path)
	if err != nil {
		return nil, err
	}
	l, err := mghLabels(m)
	if err != nil {
		return nil, fmt.Errorf("meshes: read labels %s: %w", path, err)
	}
	return l, nil
}

func mghLabels(m *MGH) ([]uint16, error) {
	v, err := m.VertexValues(m.Dims[0] * m.Dims[1] * m.Dims[2])
	if err != nil {
		return nil, err
	}
	return LabelsFromFloats(v)
}
