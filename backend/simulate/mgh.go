package simulate

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// MGH limits: a vertex-wise surface map on fsaverage has 163,842 values;
// anything above maxMGHValues is refused before allocating.
const (
	mghHeaderLen = 284
	maxMGHValues = 1 << 26
)

// readMGH reads a FreeSurfer MGH or MGZ (gzip-compressed MGH) file and
// returns its values (all frames, in file order) converted to float32 with
// the dimensions width, height, depth, frames.
func readMGH(path string) ([]float32, [4]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, [4]int{}, fmt.Errorf("simulate: read MGH: %w", err)
	}
	v, dims, err := decodeMGH(raw)
	if err != nil {
		return nil, dims, fmt.Errorf("simulate: MGH %s: %w", path, err)
	}
	return v, dims, nil
}

// decodeMGH decodes MGH bytes, gunzipping them first when they start with
// the gzip magic. The format is big-endian: int32 version (1), width,
// height, depth, frames, type (0 uchar, 1 int32, 3 float32, 4 int16), dof,
// then the rest of a 284-byte header, then the data.
func decodeMGH(raw []byte) ([]float32, [4]int, error) {
	var dims [4]int
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, dims, fmt.Errorf("gzip: %w", err)
		}
		// Read at most the header plus the largest allowed payload.
		raw, err = io.ReadAll(io.LimitReader(zr, mghHeaderLen+4*maxMGHValues+1))
		if err != nil {
			return nil, dims, fmt.Errorf("gzip: %w", err)
		}
	}
	if len(raw) < mghHeaderLen {
		return nil, dims, fmt.Errorf("file is %d bytes, shorter than the %d-byte header", len(raw), mghHeaderLen)
	}
	be := binary.BigEndian
	if v := int32(be.Uint32(raw)); v != 1 {
		return nil, dims, fmt.Errorf("version %d, want 1", v)
	}
	n := 1
	for i := range dims {
		d := int32(be.Uint32(raw[4+4*i:]))
		if d < 1 || d > maxMGHValues {
			return nil, dims, fmt.Errorf("dimension %d is %d, want 1..%d", i, d, maxMGHValues)
		}
		dims[i] = int(d)
		n *= int(d)
		if n > maxMGHValues {
			return nil, dims, fmt.Errorf("%d+ values exceed the limit %d", n, maxMGHValues)
		}
	}
	typ := int32(be.Uint32(raw[20:]))
	size := map[int32]int{0: 1, 1: 4, 3: 4, 4: 2}[typ]
	if size == 0 {
		return nil, dims, fmt.Errorf("data type %d, want 0 (uchar), 1 (int), 3 (float) or 4 (short)", typ)
	}
	data := raw[mghHeaderLen:]
	if len(data) < n*size {
		return nil, dims, fmt.Errorf("data is %d bytes, want %d for %d values of type %d", len(data), n*size, n, typ)
	}
	out := make([]float32, n)
	for i := range out {
		switch typ {
		case 0:
			out[i] = float32(data[i])
		case 1:
			out[i] = float32(int32(be.Uint32(data[4*i:])))
		case 3:
			out[i] = math.Float32frombits(be.Uint32(data[4*i:]))
		case 4:
			out[i] = float32(int16(be.Uint16(data[2*i:])))
		}
	}
	return out, dims, nil
}
