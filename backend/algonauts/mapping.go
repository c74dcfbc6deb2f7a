package algonauts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"cortexcast/backend/npy"
)

// maxMappingSize bounds a mapping file; real ones are a few hundred bytes.
const maxMappingSize = 1 << 20

// ErrPickle reports a mapping pickle that is malformed or holds something
// other than a 0-d numpy object array wrapping a dict of int → str.
var ErrPickle = errors.New("unsupported mapping pickle")

// ReadMapping reads a mapping_<class>.npy file: the np.save of a Python dict
// {label int: ROI name str}, which is a 0-d object array ('|O') whose
// payload is a pickle. The pickle is interpreted without executing anything:
// only the numpy names such a pickle refers to (ndarray reconstruction,
// dtype, scalar, in both the numpy 1 "numpy.core" and numpy 2 "numpy._core"
// spellings) are known, every other global is rejected, and each opcode's
// lengths are checked against the file before the pickle is decoded.
func ReadMapping(path string) (map[int]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("algonauts: reading mapping: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMappingSize+1))
	if err != nil {
		return nil, fmt.Errorf("algonauts: reading mapping %s: %w", path, err)
	}
	if len(b) > maxMappingSize {
		return nil, fmt.Errorf("algonauts: mapping %s is over the %d-byte limit", path, maxMappingSize)
	}
	m, err := DecodeMapping(b)
	if err != nil {
		return nil, fmt.Errorf("algonauts: mapping %s: %w", path, err)
	}
	return m, nil
}

// DecodeMapping decodes the bytes of a mapping .npy file; see ReadMapping.
func DecodeMapping(b []byte) (m map[int]string, err error) {
	r := bytes.NewReader(b)
	h, err := npy.ReadHeader(r)
	if err != nil {
		return nil, err
	}
	if h.DType != "|O" || len(h.Shape) != 0 {
		return nil, fmt.Errorf("%w: header says %s with shape %v, want a 0-d object array |O (a pickled dict)", ErrPickle, h.DType, h.Shape)
	}
	payload := b[len(b)-r.Len():]
	if err := scanPickle(payload); err != nil {
		return nil, err
	}
	// The pickle machine is third-party code; a malformed stream that
	// passes the scan must still end in an error, not a crash.
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("%w: malformed pickle (%v)", ErrPickle, p)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(payload))
	u.FindClass = findClass
	u.PersistentLoad = func(any) (any, error) {
		return nil, fmt.Errorf("%w: persistent ids are not allowed", ErrPickle)
	}
	u.GetExtension = func(code int) (any, error) {
		return nil, fmt.Errorf("%w: extension code %d is not allowed", ErrPickle, code)
	}
	u.NextBuffer = func() (any, error) {
		return nil, fmt.Errorf("%w: out-of-band buffers are not allowed", ErrPickle)
	}
	v, err := u.Load()
	if err != nil {
		if errors.Is(err, ErrPickle) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrPickle, err)
	}
	return mappingFromArray(v)
}

// mappingFromArray checks the unpickled value and extracts the dict.
func mappingFromArray(v any) (map[int]string, error) {
	a, ok := v.(*pyArray)
	if !ok {
		return nil, fmt.Errorf("%w: pickle holds %T, not a numpy array", ErrPickle, v)
	}
	if !a.built {
		return nil, fmt.Errorf("%w: numpy array was never given its state", ErrPickle)
	}
	if a.dtype == nil || a.dtype.kind != 'O' || len(a.shape) != 0 || len(a.objects) != 1 {
		return nil, fmt.Errorf("%w: array is not a 0-d object array holding one object", ErrPickle)
	}
	d, ok := a.objects[0].(*types.Dict)
	if !ok {
		return nil, fmt.Errorf("%w: array holds %T, not a dict", ErrPickle, a.objects[0])
	}
	m := make(map[int]string, d.Len())
	for _, e := range *d {
		k, err := intValue(e.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: dict key: %w", ErrPickle, err)
		}
		s, ok := e.Value.(string)
		if sc, isScalar := e.Value.(*pyScalar); isScalar && sc.isStr {
			s, ok = sc.str, true
		}
		if !ok {
			return nil, fmt.Errorf("%w: value of key %d is %T, not a string", ErrPickle, k, e.Value)
		}
		m[k] = s // later entries win, as in Python
	}
	return m, nil
}

// intValue converts a pickled integer key to int.
func intValue(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		if x.IsInt64() && x.Int64() >= math.MinInt && x.Int64() <= math.MaxInt {
			return int(x.Int64()), nil
		}
		return 0, fmt.Errorf("integer %v out of range", x)
	case *pyScalar:
		if x.isInt {
			return x.int, nil
		}
	}
	return 0, fmt.Errorf("%T is not an integer", v)
}

// findClass resolves the globals a numpy object-array pickle names and
// rejects everything else.
func findClass(module, name string) (any, error) {
	switch module {
	case "numpy.core.multiarray", "numpy._core.multiarray":
		switch name {
		case "_reconstruct":
			return reconstructFunc{}, nil
		case "scalar":
			return scalarFunc{}, nil
		}
	case "numpy":
		switch name {
		case "ndarray":
			return ndarrayClass{}, nil
		case "dtype":
			return dtypeClass{}, nil
		}
	}
	return nil, fmt.Errorf("%w: global %s.%s is not allowed (only numpy array reconstruction)", ErrPickle, module, name)
}

// ndarrayClass stands for numpy.ndarray, the first argument of _reconstruct.
type ndarrayClass struct{}

// reconstructFunc is numpy.core.multiarray._reconstruct(ndarray, (0,), b'b').
type reconstructFunc struct{}

func (reconstructFunc) Call(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%w: _reconstruct takes 3 arguments, got %d", ErrPickle, len(args))
	}
	if _, ok := args[0].(ndarrayClass); !ok {
		return nil, fmt.Errorf("%w: _reconstruct of %T, not numpy.ndarray", ErrPickle, args[0])
	}
	return &pyArray{}, nil
}

// pyArray is the numpy array being rebuilt.
type pyArray struct {
	built   bool
	shape   []int
	dtype   *pyDType
	objects []any
}

// PySetState receives (version, shape, dtype, is_fortran, data); for an
// object array data is a list of the elements.
func (a *pyArray) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return fmt.Errorf("%w: ndarray state is %T, not a 5-tuple", ErrPickle, state)
	}
	if a.built {
		return fmt.Errorf("%w: ndarray state set twice", ErrPickle)
	}
	shape, ok := t.Get(1).(*types.Tuple)
	if !ok {
		return fmt.Errorf("%w: ndarray shape is %T, not a tuple", ErrPickle, t.Get(1))
	}
	count := 1
	for _, d := range *shape {
		n, ok := d.(int)
		if !ok || n < 0 || n > maxMappingSize {
			return fmt.Errorf("%w: ndarray shape entry %v", ErrPickle, d)
		}
		a.shape = append(a.shape, n)
		count *= n
		if count > maxMappingSize {
			return fmt.Errorf("%w: ndarray shape %v too large", ErrPickle, a.shape)
		}
	}
	dt, ok := t.Get(2).(*pyDType)
	if !ok {
		return fmt.Errorf("%w: ndarray dtype is %T", ErrPickle, t.Get(2))
	}
	a.dtype = dt
	if dt.kind != 'O' {
		return fmt.Errorf("%w: ndarray of dtype %s, want an object array", ErrPickle, dt.name)
	}
	list, ok := t.Get(4).(*types.List)
	if !ok {
		return fmt.Errorf("%w: object array data is %T, not a list", ErrPickle, t.Get(4))
	}
	if list.Len() != count {
		return fmt.Errorf("%w: object array of shape %v holds %d objects", ErrPickle, a.shape, list.Len())
	}
	a.objects = *list
	a.built = true
	return nil
}

// dtypeClass is numpy.dtype(name, align, copy).
type dtypeClass struct{}

func (dtypeClass) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%w: dtype without arguments", ErrPickle)
	}
	name, ok := args[0].(string)
	if !ok || name == "" {
		return nil, fmt.Errorf("%w: dtype name is %T", ErrPickle, args[0])
	}
	return &pyDType{name: name, kind: name[0], order: '|'}, nil
}

// pyDType is a numpy dtype: its name ("O8", "i8", "U7") and byte order.
type pyDType struct {
	name  string
	kind  byte
	order byte
}

// PySetState receives (version, byteorder, subarray, names, fields,
// elsize, alignment, flags); only the byte order is used.
func (d *pyDType) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() < 2 {
		return fmt.Errorf("%w: dtype state is %T", ErrPickle, state)
	}
	o, ok := t.Get(1).(string)
	if !ok || len(o) != 1 || !strings.Contains("<>|=", o) {
		return fmt.Errorf("%w: dtype byte order %v", ErrPickle, t.Get(1))
	}
	d.order = o[0]
	return nil
}

// scalarFunc is numpy.core.multiarray.scalar(dtype, bytes): a numpy scalar
// such as numpy.int64 or numpy.str_, which may appear as keys or values.
type scalarFunc struct{}

// pyScalar is a decoded numpy integer or string scalar.
type pyScalar struct {
	isInt bool
	int   int
	isStr bool
	str   string
}

func (scalarFunc) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: scalar takes 2 arguments, got %d", ErrPickle, len(args))
	}
	dt, ok := args[0].(*pyDType)
	if !ok {
		return nil, fmt.Errorf("%w: scalar dtype is %T", ErrPickle, args[0])
	}
	var raw []byte
	switch b := args[1].(type) {
	case []byte:
		raw = b
	case string: // protocol 0-2 pickles of Python 2 numpy keep bytes in str
		raw = []byte(b)
	default:
		return nil, fmt.Errorf("%w: scalar data is %T", ErrPickle, args[1])
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if dt.order == '>' {
		bo = binary.BigEndian
	}
	switch dt.kind {
	case 'i', 'u':
		var v uint64
		switch len(raw) {
		case 1:
			v = uint64(raw[0])
			if dt.kind == 'i' {
				v = uint64(int64(int8(raw[0])))
			}
		case 2:
			v = uint64(bo.Uint16(raw))
			if dt.kind == 'i' {
				v = uint64(int64(int16(v)))
			}
		case 4:
			v = uint64(bo.Uint32(raw))
			if dt.kind == 'i' {
				v = uint64(int64(int32(v)))
			}
		case 8:
			v = bo.Uint64(raw)
		default:
			return nil, fmt.Errorf("%w: %d-byte integer scalar", ErrPickle, len(raw))
		}
		if dt.kind == 'u' && v > math.MaxInt64 {
			return nil, fmt.Errorf("%w: unsigned scalar %d out of range", ErrPickle, v)
		}
		return &pyScalar{isInt: true, int: int(int64(v))}, nil
	case 'U':
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("%w: %d-byte UTF-32 scalar", ErrPickle, len(raw))
		}
		var sb strings.Builder
		for i := 0; i < len(raw); i += 4 {
			r := rune(bo.Uint32(raw[i:]))
			if r == 0 {
				break // numpy pads with NULs
			}
			if !utf8.ValidRune(r) {
				return nil, fmt.Errorf("%w: invalid code point %#x in string scalar", ErrPickle, r)
			}
			sb.WriteRune(r)
		}
		return &pyScalar{isStr: true, str: sb.String()}, nil
	}
	return nil, fmt.Errorf("%w: scalar of dtype %s", ErrPickle, dt.name)
}

// scanPickle walks the opcodes of a pickle without running them, checking
// that every opcode is known and every length it declares fits in the data,
// so that the unpickler never allocates more than the file holds.
func scanPickle(p []byte) error {
	i := 0
	need := func(op byte, n uint64) error {
		if n > uint64(len(p)-i) {
			return fmt.Errorf("%w: opcode %q at byte %d needs %d bytes, %d remain", ErrPickle, op, i-1, n, len(p)-i)
		}
		return nil
	}
	for i < len(p) {
		op := p[i]
		i++
		var n uint64 // bytes of argument after the fixed part
		switch op {
		case '.': // STOP
			return nil
		case '(', '0', '1', '2', 'N', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 's', 't', ')', 'u', 'o',
			0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94:
			continue
		case 'K', 'h', 'q', 0x80:
			n = 1
		case 'M':
			n = 2
		case 'J', 'j', 'r':
			n = 4
		case 'G':
			n = 8
		case 0x95: // FRAME: an 8-byte length, then ordinary opcodes
			if err := need(op, 8); err != nil {
				return err
			}
			if err := need(op, 8+binary.LittleEndian.Uint64(p[i:])); err != nil {
				return err
			}
			i += 8
			continue
		case 'C', 'U', 0x8c, 0x8a: // 1-byte length
			if err := need(op, 1); err != nil {
				return err
			}
			n = uint64(p[i])
			if op == 0x8a && n == 0 {
				return fmt.Errorf("%w: LONG1 of length 0 at byte %d", ErrPickle, i-1)
			}
			i++
		case 'B', 'T', 'X', 0x8b: // 4-byte length
			if err := need(op, 4); err != nil {
				return err
			}
			n = uint64(binary.LittleEndian.Uint32(p[i:]))
			if op == 0x8b && n == 0 {
				return fmt.Errorf("%w: LONG4 of length 0 at byte %d", ErrPickle, i-1)
			}
			i += 4
		case 0x8d, 0x8e, 0x96: // 8-byte length
			if err := need(op, 8); err != nil {
				return err
			}
			n = binary.LittleEndian.Uint64(p[i:])
			i += 8
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p': // one line
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return fmt.Errorf("%w: opcode %q at byte %d has no line end", ErrPickle, op, i-1)
			}
			i += j + 1
			continue
		case 'c', 'i': // two lines: module and name
			for range 2 {
				j := bytes.IndexByte(p[i:], '\n')
				if j < 0 {
					return fmt.Errorf("%w: opcode %q at byte %d has no line end", ErrPickle, op, i-1)
				}
				i += j + 1
			}
			continue
		case 'P', 'Q':
			return fmt.Errorf("%w: persistent id at byte %d", ErrPickle, i-1)
		default:
			return fmt.Errorf("%w: unknown or disallowed opcode %#x at byte %d", ErrPickle, op, i-1)
		}
		if err := need(op, n); err != nil {
			return err
		}
		i += int(n)
	}
	return fmt.Errorf("%w: pickle has no STOP opcode", ErrPickle)
}

// WriteMapping atomically writes m as a mapping .npy file, byte for byte
// what numpy 1.24's np.save writes for the same dict with its keys in
// ascending order: a 0-d object array pickled with protocol 3. numpy reads
// it back with np.load(path, allow_pickle=True).item().
func WriteMapping(path string, m map[int]string) error {
	return npy.WriteFile(path, func(w io.Writer) error { return EncodeMapping(w, m) })
}

// EncodeMapping writes m as a mapping .npy stream; see WriteMapping.
func EncodeMapping(w io.Writer, m map[int]string) error {
	for k, v := range m {
		if !utf8.ValidString(v) {
			return fmt.Errorf("algonauts: mapping value for %d is not valid UTF-8", k)
		}
	}
	if err := npy.EncodeHeader(w, "|O", []int{}); err != nil {
		return err
	}
	var p pickler
	p.b.WriteString("\x80\x03")
	p.global("numpy.core.multiarray", "_reconstruct")
	p.global("numpy", "ndarray")
	p.int(0)
	p.op(0x85) // TUPLE1: (0,)
	p.memoize()
	p.op('C') // SHORT_BINBYTES b'b'
	p.b.WriteByte(1)
	p.b.WriteByte('b')
	p.memoize()
	p.op(0x87) // TUPLE3
	p.memoize()
	p.op('R')
	p.memoize()

	// State: (1, (), dtype('O8'), False, [dict]).
	p.op('(')
	p.int(1)
	p.op(')')
	p.global("numpy", "dtype")
	p.str("O8")
	p.op(0x89) // False
	p.op(0x88) // True
	p.op(0x87)
	p.memoize()
	p.op('R')
	p.memoize()
	// dtype state: (3, '|', None, None, None, -1, -1, 63).
	p.op('(')
	p.int(3)
	p.str("|")
	p.op('N')
	p.op('N')
	p.op('N')
	p.int(-1)
	p.int(-1)
	p.int(63)
	p.op('t')
	p.memoize()
	p.op('b')
	p.op(0x89) // is_fortran False
	p.op(']')
	p.memoize()
	p.op('}')
	p.memoize()
	keys := slices.Sorted(maps.Keys(m))
	// Python's pickler writes dict items in batches of 1000: MARK, items,
	// SETITEMS; a batch of one is a bare SETITEM.
	for start := 0; start < len(keys); start += 1000 {
		batch := keys[start:min(start+1000, len(keys))]
		if len(batch) > 1 {
			p.op('(')
		}
		for _, k := range batch {
			p.int(k)
			p.str(m[k])
		}
		if len(batch) > 1 {
			p.op('u')
		} else {
			p.op('s')
		}
	}
	p.op('a') // APPEND the dict to the list
	p.op('t')
	p.memoize()
	p.op('b')
	p.op('.')
	if _, err := w.Write(p.b.Bytes()); err != nil {
		return fmt.Errorf("algonauts: writing mapping pickle: %w", err)
	}
	return nil
}

// pickler emits protocol 3 opcodes the way CPython's pickle module does.
type pickler struct {
	b    bytes.Buffer
	memo int
}

func (p *pickler) op(c byte) { p.b.WriteByte(c) }

// memoize stores the top of the stack in the next memo slot (BINPUT or
// LONG_BINPUT), as CPython does for every non-atomic object it writes.
func (p *pickler) memoize() {
	if p.memo < 256 {
		p.b.WriteByte('q')
		p.b.WriteByte(byte(p.memo))
	} else {
		p.b.WriteByte('r')
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(p.memo)))
	}
	p.memo++
}

func (p *pickler) global(module, name string) {
	p.b.WriteByte('c')
	p.b.WriteString(module + "\n" + name + "\n")
	p.memoize()
}

// int writes an int with the smallest opcode CPython would choose.
func (p *pickler) int(v int) {
	switch {
	case v >= 0 && v <= 0xff:
		p.b.WriteByte('K')
		p.b.WriteByte(byte(v))
	case v >= 0 && v <= 0xffff:
		p.b.WriteByte('M')
		p.b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b.WriteByte('J')
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		// LONG1: little-endian two's complement, as short as possible.
		var enc []byte
		x := int64(v)
		for {
			enc = append(enc, byte(x))
			x >>= 8
			last := enc[len(enc)-1]
			if (x == 0 && last&0x80 == 0) || (x == -1 && last&0x80 != 0) {
				break
			}
		}
		p.b.WriteByte(0x8a)
		p.b.WriteByte(byte(len(enc)))
		p.b.Write(enc)
	}
}

// str writes a BINUNICODE string and memoizes it.
func (p *pickler) str(s string) {
	p.b.WriteByte('X')
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
	p.memoize()
}
