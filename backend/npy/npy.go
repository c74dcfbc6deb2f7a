// Package npy reads and writes NumPy .npy files.
//
// Reading accepts every plain numeric dtype numpy writes (float16/32/64,
// signed and unsigned integers of 1, 2, 4 and 8 bytes, and bool), in either
// byte order and in C or Fortran order, and converts to row-major (C order)
// []float32 or []int64. The payload is read in one bulk read into memory and
// reinterpreted in place when its layout already matches the result, so
// reading a large float32 matrix costs about one memory copy from the page
// cache, like numpy.load.
//
// Writing produces format 1.0 files byte-identical to numpy's np.save of a
// C-ordered little-endian array, and goes through a temporary file in the
// same directory that is synced and then renamed, so a crash never leaves a
// half-written file under the final name.
//
// Pickled object arrays ('|O'), structured dtypes, strings, complex numbers
// and datetimes are not plain arrays and are rejected with an error naming
// the dtype.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Errors that callers can test for with errors.Is.
var (
	// ErrFormat reports a file that is not a well-formed .npy file: bad
	// magic, unknown version, unparsable or oversized header.
	ErrFormat = errors.New("not a valid .npy file")
	// ErrUnsupported reports a dtype this package does not convert.
	ErrUnsupported = errors.New("unsupported dtype")
	// ErrTruncated reports a payload shorter than the header declares.
	ErrTruncated = errors.New("truncated payload")
	// ErrConvert reports a value that cannot be represented in the
	// requested element type (a fractional float read as int64, say).
	ErrConvert = errors.New("value not representable")
)

// magic is the six bytes every .npy file starts with.
const magic = "\x93NUMPY"

// Array is a decoded .npy array: its header and its raw payload.
type Array struct {
	// Shape is the array's shape; empty (not nil) for a 0-d array.
	Shape []int
	// DType is the numpy dtype descriptor from the header, e.g. "<f4".
	DType string
	// Fortran reports whether the payload is in Fortran (column-major)
	// order. Float32 and Int64 always return row-major data.
	Fortran bool

	dt   dtype
	data []byte // payload in file byte order, 8-byte aligned
}

// dtype is a parsed numeric descriptor.
type dtype struct {
	kind byte // 'f', 'i', 'u' or 'b'
	size int  // bytes per element
	big  bool // big-endian payload (only meaningful when size > 1)
}

// parseDType parses a numpy descr string such as "<f4", ">i8" or "|b1".
func parseDType(descr string) (dtype, error) {
	var dt dtype
	if len(descr) < 2 {
		return dt, fmt.Errorf("%w %q", ErrUnsupported, descr)
	}
	order, rest := descr[0], descr[1:]
	switch order {
	case '<', '|', '=':
	case '>':
		dt.big = true
	default:
		// numpy always writes an explicit byte order; "f4" alone is not
		// something np.save produces.
		return dt, fmt.Errorf("%w %q: no byte order character", ErrUnsupported, descr)
	}
	if rest == "O" || rest == "O8" || rest == "O4" {
		return dt, fmt.Errorf("%w %q: pickled object arrays are not plain arrays (numpy needs allow_pickle=True to read them)", ErrUnsupported, descr)
	}
	dt.kind = rest[0]
	switch rest[1:] {
	case "1":
		dt.size = 1
	case "2":
		dt.size = 2
	case "4":
		dt.size = 4
	case "8":
		dt.size = 8
	default:
		return dt, fmt.Errorf("%w %q", ErrUnsupported, descr)
	}
	ok := false
	switch dt.kind {
	case 'f':
		ok = dt.size >= 2
	case 'i', 'u':
		ok = true
	case 'b':
		ok = dt.size == 1
	}
	if !ok {
		return dt, fmt.Errorf("%w %q: only bool, integer and float dtypes are read", ErrUnsupported, descr)
	}
	if order == '|' && dt.size > 1 {
		return dt, fmt.Errorf("%w %q: multi-byte dtype without byte order", ErrUnsupported, descr)
	}
	return dt, nil
}

// hostBigEndian reports whether this machine stores integers big-endian.
func hostBigEndian() bool {
	return binary.NativeEndian.Uint16([]byte{0, 1}) == 1
}

// Len returns the number of elements (the product of Shape; 1 for 0-d).
func (a *Array) Len() int {
	if a.dt.size == 0 {
		return 0
	}
	return len(a.data) / a.dt.size
}

// Decode reads one .npy array from r. When r is an *os.File, a
// *bytes.Reader or another reader with a Len method, the declared payload
// size is checked against what remains before anything is allocated;
// otherwise the payload is read in growing chunks so that a header that
// lies costs memory only in proportion to the bytes actually present.
func Decode(r io.Reader) (*Array, error) {
	a, err := decode(r, remaining(r), nil)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return a, nil
}

// remaining returns how many bytes r still holds, or -1 when unknown.
func remaining(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

// Header is the header of a .npy file.
type Header struct {
	// DType is the numpy dtype descriptor, e.g. "<f4" or "|O".
	DType string
	// Fortran reports whether the payload is in column-major order.
	Fortran bool
	// Shape is the array's shape; empty (not nil) for a 0-d array.
	Shape []int
}

// ReadHeader reads the magic, version and header dictionary of a .npy
// stream and leaves r at the first payload byte. It checks the form of the
// header but not whether this package can convert the dtype, so that
// callers can handle other dtypes (pickled object arrays, say) themselves.
func ReadHeader(r io.Reader) (Header, error) {
	h, _, err := readHeader(r, remaining(r))
	if err != nil {
		return Header{}, fmt.Errorf("npy: %w", err)
	}
	return Header{DType: h.descr, Fortran: h.fortran, Shape: h.shape}, nil
}

// readHeader reads up to the payload; size is the number of bytes r holds,
// or -1. It returns the header and the number of bytes consumed.
func readHeader(r io.Reader, size int64) (header, int64, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return header{}, 0, fmt.Errorf("%w: reading magic: %w", ErrFormat, err)
	}
	if string(pre[:6]) != magic {
		return header{}, 0, fmt.Errorf("%w: bad magic %q (want \\x93NUMPY)", ErrFormat, pre[:6])
	}
	var hlen int
	consumed := int64(8)
	switch major, minor := pre[6], pre[7]; {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return header{}, 0, fmt.Errorf("%w: reading header length: %w", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
		consumed += 2
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[6:10]); err != nil {
			return header{}, 0, fmt.Errorf("%w: reading header length: %w", ErrFormat, err)
		}
		n := binary.LittleEndian.Uint32(pre[6:10])
		if n > maxHeaderLen {
			return header{}, 0, fmt.Errorf("%w: header length %d exceeds the limit %d", ErrFormat, n, maxHeaderLen)
		}
		hlen = int(n)
		consumed += 4
	default:
		return header{}, 0, fmt.Errorf("%w: unknown format version %d.%d", ErrFormat, major, minor)
	}
	if size >= 0 && int64(hlen) > size-consumed {
		return header{}, 0, fmt.Errorf("%w: header length %d but only %d bytes follow", ErrFormat, hlen, size-consumed)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return header{}, 0, fmt.Errorf("%w: reading %d-byte header: %w", ErrFormat, hlen, err)
	}
	consumed += int64(hlen)
	h, err := parseHeader(string(hb))
	if err != nil {
		return header{}, 0, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return h, consumed, nil
}

// decode reads an array; size is the number of bytes r holds, or -1. When
// ra is not nil, it reads the same bytes as r from offset 0, and a large
// payload is read from it in parallel.
func decode(r io.Reader, size int64, ra io.ReaderAt) (*Array, error) {
	h, consumed, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	dt, err := parseDType(h.descr)
	if err != nil {
		return nil, err
	}
	count := int64(1)
	for _, d := range h.shape {
		if d != 0 && count > maxPayload/int64(d) {
			return nil, fmt.Errorf("%w: header shape %s %s exceeds the size limit of %d bytes", ErrFormat, shapeRepr(h.shape), h.descr, int64(maxPayload))
		}
		count *= int64(d)
	}
	need := count * int64(dt.size)
	if need > maxPayload {
		return nil, fmt.Errorf("%w: header shape %s %s exceeds the size limit of %d bytes", ErrFormat, shapeRepr(h.shape), h.descr, int64(maxPayload))
	}
	if size >= 0 && size-consumed < need {
		return nil, fmt.Errorf("%w: payload has %d bytes, header shape %s %s needs %d", ErrTruncated, size-consumed, shapeRepr(h.shape), h.descr, need)
	}
	var data []byte
	if ra != nil && size >= 0 && need >= parallelMin {
		data, err = readParallel(ra, consumed, int(need))
	} else {
		data, err = readPayload(r, int(need), size >= 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: payload has %d bytes, header shape %s %s needs %d", ErrTruncated, len(data), shapeRepr(h.shape), h.descr, need)
	}
	return &Array{Shape: h.shape, DType: h.descr, Fortran: h.fortran, dt: dt, data: data}, nil
}

// alignedBytes returns n zeroed bytes whose start is 8-byte aligned, so that
// the slice can be viewed as any numeric element type.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), n)
}

// chunk is the growth step for payloads of unknown available size.
const chunk = 16 << 20

// readPayload reads exactly n bytes. When known is false, the buffer grows
// as data arrives. On error it returns the bytes read so far.
func readPayload(r io.Reader, n int, known bool) ([]byte, error) {
	if known || n <= chunk {
		buf := alignedBytes(n)
		m, err := io.ReadFull(r, buf)
		if err != nil {
			return buf[:m], err
		}
		return buf, nil
	}
	buf := alignedBytes(chunk)
	got := 0
	for got < n {
		if got == len(buf) {
			next := alignedBytes(min(n, 2*len(buf)))
			copy(next, buf)
			buf = next
		}
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return buf[:got], err
		}
	}
	return buf, nil
}

// parallelMin is the payload size from which files are read by several
// goroutines: copying from the page cache and faulting in fresh memory then
// use more than one core.
const parallelMin = 64 << 20

// readParallel reads n bytes at offset off of ra with up to GOMAXPROCS (at
// most 4) concurrent ReadAt calls of 16 MiB blocks.
func readParallel(ra io.ReaderAt, off int64, n int) ([]byte, error) {
	buf := alignedBytes(n)
	workers := min(runtime.GOMAXPROCS(0), 4)
	blocks := (n + chunk - 1) / chunk
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		mu      sync.Mutex
		short   = n // smallest offset where a read came up short
		lastErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= blocks {
					return
				}
				lo, hi := i*chunk, min((i+1)*chunk, n)
				m, err := ra.ReadAt(buf[lo:hi], off+int64(lo))
				if err != nil && m < hi-lo {
					mu.Lock()
					if lo+m < short {
						short, lastErr = lo+m, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if lastErr != nil {
		return buf[:short], lastErr
	}
	return buf, nil
}

// view reinterprets an 8-byte-aligned byte slice as a slice of T.
func view[T any](b []byte) []T {
	var zero T
	n := len(b) / int(unsafe.Sizeof(zero))
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// native returns the payload in host byte order: the payload itself when
// it already is, otherwise a byte-swapped copy.
func (a *Array) native() []byte {
	if a.dt.size == 1 || a.dt.big == hostBigEndian() {
		return a.data
	}
	out := alignedBytes(len(a.data))
	s := a.dt.size
	for i := 0; i < len(a.data); i += s {
		for j := range s {
			out[i+j] = a.data[i+s-1-j]
		}
	}
	return out
}

// Float32 returns the elements converted to float32 in row-major order.
// Integers and float64 values are rounded to the nearest float32. When the
// payload is already little-endian (host order) float32 in C order, the
// result shares memory with a instead of copying it.
func (a *Array) Float32() ([]float32, error) {
	b := a.native()
	n := a.Len()
	var out []float32
	if a.dt.kind == 'f' && a.dt.size == 4 {
		out = view[float32](b)
	} else {
		out = make([]float32, n)
		switch int(a.dt.kind)<<8 | a.dt.size {
		case 'f'<<8 | 2:
			for i, v := range view[uint16](b) {
				out[i] = halfToFloat32(v)
			}
		case 'f'<<8 | 8:
			for i, v := range view[float64](b) {
				out[i] = float32(v)
			}
		case 'i'<<8 | 1:
			for i, v := range view[int8](b) {
				out[i] = float32(v)
			}
		case 'i'<<8 | 2:
			for i, v := range view[int16](b) {
				out[i] = float32(v)
			}
		case 'i'<<8 | 4:
			for i, v := range view[int32](b) {
				out[i] = float32(v)
			}
		case 'i'<<8 | 8:
			for i, v := range view[int64](b) {
				out[i] = float32(v)
			}
		case 'u'<<8 | 1:
			for i, v := range b {
				out[i] = float32(v)
			}
		case 'u'<<8 | 2:
			for i, v := range view[uint16](b) {
				out[i] = float32(v)
			}
		case 'u'<<8 | 4:
			for i, v := range view[uint32](b) {
				out[i] = float32(v)
			}
		case 'u'<<8 | 8:
			for i, v := range view[uint64](b) {
				out[i] = float32(v)
			}
		case 'b'<<8 | 1:
			for i, v := range b {
				if v != 0 {
					out[i] = 1
				}
			}
		default:
			return nil, fmt.Errorf("%w %q", ErrUnsupported, a.DType)
		}
	}
	if a.Fortran {
		out = fortranToC(out, a.Shape)
	}
	return out, nil
}

// Int64 returns the elements converted to int64 in row-major order. Float
// values must be integral and within the int64 range, and unsigned values
// at most math.MaxInt64; otherwise Int64 fails naming the first offending
// element. When the payload is already host-order int64 in C order, the
// result shares memory with a.
func (a *Array) Int64() ([]int64, error) {
	b := a.native()
	n := a.Len()
	var out []int64
	if a.dt.kind == 'i' && a.dt.size == 8 {
		out = view[int64](b)
	} else {
		out = make([]int64, n)
		switch int(a.dt.kind)<<8 | a.dt.size {
		case 'f'<<8 | 2:
			for i, v := range view[uint16](b) {
				x, err := floatToInt64(float64(halfToFloat32(v)), i, a.DType)
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
		case 'f'<<8 | 4:
			for i, v := range view[float32](b) {
				x, err := floatToInt64(float64(v), i, a.DType)
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
		case 'f'<<8 | 8:
			for i, v := range view[float64](b) {
				x, err := floatToInt64(v, i, a.DType)
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
		case 'i'<<8 | 1:
			for i, v := range view[int8](b) {
				out[i] = int64(v)
			}
		case 'i'<<8 | 2:
			for i, v := range view[int16](b) {
				out[i] = int64(v)
			}
		case 'i'<<8 | 4:
			for i, v := range view[int32](b) {
				out[i] = int64(v)
			}
		case 'u'<<8 | 1:
			for i, v := range b {
				out[i] = int64(v)
			}
		case 'u'<<8 | 2:
			for i, v := range view[uint16](b) {
				out[i] = int64(v)
			}
		case 'u'<<8 | 4:
			for i, v := range view[uint32](b) {
				out[i] = int64(v)
			}
		case 'u'<<8 | 8:
			for i, v := range view[uint64](b) {
				if v > math.MaxInt64 {
					return nil, fmt.Errorf("%w: element %d of %s array is %d, above the int64 range", ErrConvert, i, a.DType, v)
				}
				out[i] = int64(v)
			}
		case 'b'<<8 | 1:
			for i, v := range b {
				if v != 0 {
					out[i] = 1
				}
			}
		default:
			return nil, fmt.Errorf("%w %q", ErrUnsupported, a.DType)
		}
	}
	if a.Fortran {
		out = fortranToC(out, a.Shape)
	}
	return out, nil
}

// floatToInt64 converts an integral float, failing for fractions, NaN,
// infinities and values outside the int64 range.
func floatToInt64(v float64, i int, descr string) (int64, error) {
	// -2^63 is exactly representable; 2^63 is the first value too large.
	if v != math.Trunc(v) || v < -(1<<63) || v >= 1<<63 {
		return 0, fmt.Errorf("%w: element %d of %s array is %v, not an integer in the int64 range", ErrConvert, i, descr, v)
	}
	return int64(v), nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = frac × 2^-24, exact in float32.
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// fortranToC reorders a column-major payload of the given shape to
// row-major order.
func fortranToC[T any](src []T, shape []int) []T {
	if len(shape) < 2 || len(src) == 0 {
		return src
	}
	dst := make([]T, len(src))
	if len(shape) == 2 {
		rows, cols := shape[0], shape[1]
		// src is cols × rows row-major; transpose in cache-sized blocks.
		const blk = 64
		for r0 := 0; r0 < rows; r0 += blk {
			r1 := min(r0+blk, rows)
			for c0 := 0; c0 < cols; c0 += blk {
				c1 := min(c0+blk, cols)
				for r := r0; r < r1; r++ {
					for c := c0; c < c1; c++ {
						dst[r*cols+c] = src[c*rows+r]
					}
				}
			}
		}
		return dst
	}
	nd := len(shape)
	stride := make([]int, nd) // Fortran strides in elements
	s := 1
	for j := range nd {
		stride[j] = s
		s *= shape[j]
	}
	idx := make([]int, nd)
	off := 0
	for i := range dst {
		dst[i] = src[off]
		for j := nd - 1; j >= 0; j-- {
			idx[j]++
			off += stride[j]
			if idx[j] < shape[j] {
				break
			}
			off -= idx[j] * stride[j]
			idx[j] = 0
		}
	}
	return dst
}

// open opens path and decodes it, naming the file in errors.
func open(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	size := int64(-1)
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	a, err := decode(f, size, f)
	if err != nil {
		return nil, fmt.Errorf("npy: file %s: %w", path, err)
	}
	return a, nil
}

// ReadFloat32 reads the .npy file at path and returns its elements as
// row-major float32 together with its shape.
func ReadFloat32(path string) (data []float32, shape []int, err error) {
	a, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	data, err = a.Float32()
	if err != nil {
		return nil, nil, fmt.Errorf("npy: file %s: %w", path, err)
	}
	return data, a.Shape, nil
}

// ReadInt64 reads the .npy file at path and returns its elements as
// row-major int64 together with its shape. Float files must hold integral
// values.
func ReadInt64(path string) (data []int64, shape []int, err error) {
	a, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	data, err = a.Int64()
	if err != nil {
		return nil, nil, fmt.Errorf("npy: file %s: %w", path, err)
	}
	return data, a.Shape, nil
}

// checkShape verifies that shape is valid and holds exactly n elements.
func checkShape(n int, shape []int) error {
	if len(shape) > maxDims {
		return fmt.Errorf("npy: shape has %d axes, more than %d", len(shape), maxDims)
	}
	count := 1
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: shape %v has negative axis %d", shape, i)
		}
		if d != 0 && count > math.MaxInt/d {
			return fmt.Errorf("npy: shape %v overflows", shape)
		}
		count *= d
	}
	if count != n {
		return fmt.Errorf("npy: shape %s holds %d elements but data has %d", shapeRepr(shape), count, n)
	}
	return nil
}

// EncodeHeader writes a format 1.0 header for a C-ordered array with the
// given dtype descriptor and shape, laid out byte for byte as numpy's
// np.save does. The caller writes the payload after it.
func EncodeHeader(w io.Writer, descr string, shape []int) error {
	if len(shape) > maxDims {
		return fmt.Errorf("npy: shape has %d axes, more than %d", len(shape), maxDims)
	}
	if strings.ContainsAny(descr, "'\\\n") {
		return fmt.Errorf("npy: dtype descriptor %q cannot be written", descr)
	}
	if _, err := w.Write(headerBytes(descr, shape)); err != nil {
		return fmt.Errorf("npy: writing header: %w", err)
	}
	return nil
}

// headerBytes returns the magic, version, length and padded header for a
// C-ordered array, exactly as numpy's format 1.0 writer lays them out.
func headerBytes(descr string, shape []int) []byte {
	h := formatHeader(descr, false, shape)
	hlen := len(h) + 1 // the final newline
	pad := 64 - (len(magic)+2+2+hlen)%64
	if pad == 64 {
		pad = 0
	}
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write([]byte{1, 0})
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(hlen+pad)))
	b.WriteString(h)
	b.Write(bytes.Repeat([]byte{' '}, pad))
	b.WriteByte('\n')
	return b.Bytes()
}

// encode writes header and payload, converting to little-endian on a
// big-endian host.
func encode[T float32 | int64](w io.Writer, descr string, data []T, shape []int) error {
	if err := checkShape(len(data), shape); err != nil {
		return err
	}
	if _, err := w.Write(headerBytes(descr, shape)); err != nil {
		return fmt.Errorf("npy: writing header: %w", err)
	}
	if len(data) == 0 {
		return nil
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)*size)
	if !hostBigEndian() {
		if _, err := w.Write(raw); err != nil {
			return fmt.Errorf("npy: writing payload: %w", err)
		}
		return nil
	}
	buf := make([]byte, 0, chunk)
	for i := 0; i < len(raw); i += size {
		for j := size - 1; j >= 0; j-- {
			buf = append(buf, raw[i+j])
		}
		if len(buf) == cap(buf) || i+size == len(raw) {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("npy: writing payload: %w", err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

// EncodeFloat32 writes data with the given shape to w as a little-endian,
// C-ordered float32 .npy (format 1.0).
func EncodeFloat32(w io.Writer, data []float32, shape []int) error {
	return encode(w, "<f4", data, shape)
}

// EncodeInt64 writes data with the given shape to w as a little-endian,
// C-ordered int64 .npy (format 1.0).
func EncodeInt64(w io.Writer, data []int64, shape []int) error {
	return encode(w, "<i8", data, shape)
}

// WriteFloat32 atomically writes data with the given shape to path as a
// float32 .npy file.
func WriteFloat32(path string, data []float32, shape []int) error {
	if err := checkShape(len(data), shape); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return WriteFile(path, func(w io.Writer) error { return EncodeFloat32(w, data, shape) })
}

// WriteInt64 atomically writes data with the given shape to path as an
// int64 .npy file.
func WriteInt64(path string, data []int64, shape []int) error {
	if err := checkShape(len(data), shape); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return WriteFile(path, func(w io.Writer) error { return EncodeInt64(w, data, shape) })
}
