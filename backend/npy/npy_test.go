package npy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fixture is one entry of testdata/expected.json, written by
// scripts/fixtures/npy.py from what numpy reports about each file.
type fixture struct {
	Name    string   `json:"name"`
	Descr   string   `json:"descr"`
	Fortran bool     `json:"fortran"`
	Shape   []int    `json:"shape"`
	F32Bits []uint32 `json:"f32_bits"`
	I64     []int64  `json:"i64"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatalf("reading fixtures (regenerate with /usr/bin/python3 scripts/fixtures/npy.py): %v", err)
	}
	var doc struct {
		Files []fixture `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) < 100 {
		t.Fatalf("expected.json lists only %d files", len(doc.Files))
	}
	return doc.Files
}

func TestReadMatchesNumpy(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			path := filepath.Join("testdata", fx.Name)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			a, err := Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if a.DType != fx.Descr || a.Fortran != fx.Fortran || !slices.Equal(a.Shape, fx.Shape) {
				t.Errorf("header = %q fortran=%v shape=%v, numpy says %q %v %v",
					a.DType, a.Fortran, a.Shape, fx.Descr, fx.Fortran, fx.Shape)
			}
			if a.Shape == nil {
				t.Errorf("Shape is nil, want empty slice")
			}

			data, shape, err := ReadFloat32(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, fx.Shape) {
				t.Errorf("shape = %v, want %v", shape, fx.Shape)
			}
			if len(data) != len(fx.F32Bits) {
				t.Fatalf("len = %d, want %d", len(data), len(fx.F32Bits))
			}
			for i, v := range data {
				if math.Float32bits(v) != fx.F32Bits[i] {
					t.Errorf("float32[%d] = %v (%#08x), numpy %v (%#08x)", i, v, math.Float32bits(v),
						math.Float32frombits(fx.F32Bits[i]), fx.F32Bits[i])
				}
			}

			ints, shape, err := ReadInt64(path)
			if fx.I64 == nil {
				if !errors.Is(err, ErrConvert) {
					t.Errorf("ReadInt64 err = %v, want ErrConvert (values are not int64)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, fx.Shape) || !slices.Equal(ints, fx.I64) {
				t.Errorf("ReadInt64 = %v %v, want %v %v", ints, shape, fx.I64, fx.Shape)
			}
		})
	}
}

func TestFortranLarge(t *testing.T) {
	data, shape, err := ReadFloat32(filepath.Join("testdata", "fortran_70x67.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{70, 67}) {
		t.Fatalf("shape = %v", shape)
	}
	for i := range 70 {
		for j := range 67 {
			if want := float32(67*i+j) / 2; data[i*67+j] != want {
				t.Fatalf("a[%d,%d] = %v, want %v", i, j, data[i*67+j], want)
			}
		}
	}
}

func TestUnsupported(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"bad_object.npy", "pickled object arrays are not plain arrays"},
		{"bad_complex.npy", `"<c8"`},
		{"bad_unicode.npy", `"<U2"`},
		{"bad_datetime.npy", `"<M8[D]"`},
		{"bad_structured.npy", "structured dtype"},
	} {
		path := filepath.Join("testdata", tc.file)
		_, _, err := ReadFloat32(path)
		if err == nil {
			t.Errorf("%s: no error", tc.file)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file and %q", tc.file, err, tc.want)
		}
		if _, _, err := ReadInt64(path); err == nil {
			t.Errorf("%s: ReadInt64 gave no error", tc.file)
		}
	}
}

// hidden hides everything but Read, so Decode cannot learn the size.
type hidden struct{ r io.Reader }

func (h hidden) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestTruncated(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "le_f4_2d_c.npy"))
	if err != nil {
		t.Fatal(err)
	}
	cut := full[:len(full)-5] // 48-byte payload of a (3, 4) <f4 array, 43 left
	path := filepath.Join(t.TempDir(), "cut.npy")
	if err := os.WriteFile(path, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadFloat32(path)
	want := "file " + path + ": truncated payload: payload has 43 bytes, header shape (3, 4) <f4 needs 48"
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadFloat32 error = %v\nwant it to contain %q", err, want)
	}
	// The same through a reader whose length is unknown.
	_, err = Decode(hidden{bytes.NewReader(cut)})
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "payload has 43 bytes") {
		t.Errorf("Decode error = %v", err)
	}
	// Cut inside the header.
	for _, n := range []int{0, 3, 8, 9, 40} {
		if _, err := Decode(bytes.NewReader(full[:n])); !errors.Is(err, ErrFormat) {
			t.Errorf("cut at %d: err = %v, want ErrFormat", n, err)
		}
	}
}

// rawNPY builds a file from a header dict and payload, version 1.0.
func rawNPY(dict string, payload []byte) []byte {
	b := []byte(magic + "\x01\x00")
	b = append(b, byte(len(dict)), byte(len(dict)>>8))
	b = append(b, dict...)
	return append(b, payload...)
}

func TestHeaderErrors(t *testing.T) {
	v2 := []byte(magic + "\x02\x00\x00\x00\x00\x01") // header length 16 MiB
	for _, tc := range []struct {
		name string
		in   []byte
		is   error
		want string
	}{
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), ErrFormat, "bad magic"},
		{"version", []byte(magic + "\x04\x00\x00\x00"), ErrFormat, "unknown format version 4.0"},
		{"huge header", v2, ErrFormat, "exceeds the limit"},
		{"header past end", rawNPY("{'descr': '<f4'", nil)[:12], ErrFormat, "only 2 bytes follow"},
		{"absurd shape", rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", nil),
			ErrFormat, "exceeds the size limit"},
		{"large claim, small file", rawNPY("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }", make([]byte, 16)),
			ErrTruncated, "payload has 16 bytes, header shape (1000000000,) <f8 needs 8000000000"},
		{"extra key", rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", make([]byte, 4)),
			ErrFormat, `unexpected key "x"`},
		{"missing key", rawNPY("{'descr': '<f4', 'shape': (1,)}", make([]byte, 4)), ErrFormat, `no "fortran_order" key`},
		{"duplicate key", rawNPY("{'descr': '<f4', 'descr': '<f4'}", nil), ErrFormat, "duplicate key"},
		{"int shape", rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", nil), ErrFormat, "not a tuple"},
		{"negative", rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", nil), ErrFormat, "non-negative"},
		{"bool", rawNPY("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", nil), ErrFormat, "not True or False"},
		{"trailing", rawNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", make([]byte, 4)), ErrFormat, "after the closing"},
		{"no order", rawNPY("{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}", make([]byte, 4)), ErrUnsupported, "no byte order"},
		{"f1", rawNPY("{'descr': '<f1', 'fortran_order': False, 'shape': (1,)}", make([]byte, 4)), ErrUnsupported, "only bool"},
		{"b2", rawNPY("{'descr': '<b2', 'fortran_order': False, 'shape': (1,)}", make([]byte, 4)), ErrUnsupported, "only bool"},
		{"|f4", rawNPY("{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", make([]byte, 4)), ErrUnsupported, "without byte order"},
	} {
		_, err := Decode(bytes.NewReader(tc.in))
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.name, err, tc.is, tc.want)
		}
	}
}

func TestHeaderVariants(t *testing.T) {
	// Forms numpy (and Python 2 numpy) wrote that must parse the same.
	for _, dict := range []string{
		"{'descr': '<i2', 'fortran_order': False, 'shape': (2, 1), }",
		`{"shape": (2L, 1L), "descr": "<i2", "fortran_order": False}`,
		"{ 'fortran_order' : False , 'shape' : ( 2 , 1 , ) , 'descr' : '<i2' }\n",
	} {
		a, err := Decode(bytes.NewReader(rawNPY(dict, []byte{7, 0, 0xfe, 0xff})))
		if err != nil {
			t.Errorf("%s: %v", dict, err)
			continue
		}
		got, err := a.Int64()
		if err != nil || !slices.Equal(got, []int64{7, -2}) || !slices.Equal(a.Shape, []int{2, 1}) {
			t.Errorf("%s: got %v %v %v", dict, got, a.Shape, err)
		}
	}
}

func TestHalfToFloat32(t *testing.T) {
	// Every finite binary16 value against the definition
	// (-1)^s × 2^(e-15) × (1 + f/1024), or 2^-14 × f/1024 for e = 0.
	for h := range 1 << 16 {
		s, e, f := h>>15, (h>>10)&0x1f, h&0x3ff
		got := halfToFloat32(uint16(h))
		if e == 0x1f {
			if f == 0 && !math.IsInf(float64(got), 1-2*s) || f != 0 && !math.IsNaN(float64(got)) {
				t.Errorf("%#04x: got %v", h, got)
			}
			continue
		}
		var want float64
		if e == 0 {
			want = math.Ldexp(float64(f)/1024, -14)
		} else {
			want = math.Ldexp(1+float64(f)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		if float64(got) != want || math.Signbit(float64(got)) != (s == 1) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestWriteIsByteIdenticalToNumpy(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, fx := range loadFixtures(t) {
		if fx.Fortran || (fx.Descr != "<f4" && fx.Descr != "<i8") || !strings.HasPrefix(fx.Name, "le_") {
			continue
		}
		n++
		want, err := os.ReadFile(filepath.Join("testdata", fx.Name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fx.Name)
		if fx.Descr == "<f4" {
			data := make([]float32, len(fx.F32Bits))
			for i, b := range fx.F32Bits {
				data[i] = math.Float32frombits(b)
			}
			err = WriteFloat32(path, data, fx.Shape)
		} else {
			err = WriteInt64(path, fx.I64, fx.Shape)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Go wrote\n%q\nnumpy wrote\n%q", fx.Name, got, want)
		}
	}
	if n != 8 {
		t.Errorf("compared %d files, want 8 (<f4 and <i8, 0-d to 3-d)", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Errorf("directory holds %d entries after %d writes: temporary files left behind?", len(entries), n)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	err := WriteFloat32(path, make([]float32, 5), []int{2, 3})
	if err == nil || !strings.Contains(err.Error(), "shape (2, 3) holds 6 elements but data has 5") || !strings.Contains(err.Error(), path) {
		t.Errorf("mismatch error = %v", err)
	}
	if err := WriteInt64(path, nil, []int{-1}); err == nil {
		t.Error("negative axis accepted")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed write left %s behind: %v", path, err)
	}
	if err := WriteFloat32(filepath.Join(dir, "missing", "x.npy"), []float32{1}, []int{1}); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	// A failing writer leaves neither the target nor a temporary file.
	boom := errors.New("boom")
	if err := WriteFile(path, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("WriteFile error = %v, want boom", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d entries in %s", len(entries), dir)
	}
}

func TestRoundTripZeroCopy(t *testing.T) {
	var buf bytes.Buffer
	want := []float32{1.5, -2, float32(math.Inf(1)), 0}
	if err := EncodeFloat32(&buf, want, []int{2, 2}); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%64 != 16 {
		t.Errorf("header is %d bytes, want a multiple of 64", buf.Len()-16)
	}
	a, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Float32()
	if err != nil || !slices.Equal(got, want) || a.Len() != 4 {
		t.Fatalf("got %v %v", got, err)
	}
	var ibuf bytes.Buffer
	if err := EncodeInt64(&ibuf, []int64{math.MinInt64, 3}, []int{2}); err != nil {
		t.Fatal(err)
	}
	a, err = Decode(&ibuf)
	if err != nil {
		t.Fatal(err)
	}
	ints, err := a.Int64()
	if err != nil || !slices.Equal(ints, []int64{math.MinInt64, 3}) {
		t.Fatalf("got %v %v", ints, err)
	}
}

func TestFloatToInt64Range(t *testing.T) {
	for _, tc := range []struct {
		v  float64
		ok bool
	}{
		{-9223372036854775808, true}, {9223372036854775807, false}, // the latter is 2^63 as a float64
		{math.Copysign(0, -1), true}, {1e18, true}, {0.5, false}, {math.NaN(), false}, {math.Inf(-1), false},
	} {
		_, err := floatToInt64(tc.v, 0, "<f8")
		if (err == nil) != tc.ok {
			t.Errorf("floatToInt64(%v): err = %v", tc.v, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".npy") {
			b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range []io.Reader{bytes.NewReader(b), hidden{bytes.NewReader(b)}} {
			a, err := Decode(r)
			if err != nil {
				continue
			}
			n := 1
			for _, d := range a.Shape {
				n *= d
			}
			if a.Len() != n {
				t.Fatalf("Len %d, shape %v", a.Len(), a.Shape)
			}
			if v, err := a.Float32(); err != nil || len(v) != n {
				t.Fatalf("Float32: %d values, %v", len(v), err)
			}
			if v, err := a.Int64(); err == nil && len(v) != n {
				t.Fatalf("Int64: %d values", len(v))
			}
		}
	})
}

// BenchmarkReadFloat32 reads a float32 matrix shaped like one subject's
// fMRI (rows × 19004 challenge vertices). NPY_BENCH_ROWS sets the rows
// (9841 for a real subject; default 1024 to stay light on shared machines).
func BenchmarkReadFloat32(b *testing.B) {
	rows, cols := 1024, 19004
	if s := os.Getenv("NPY_BENCH_ROWS"); s != "" {
		r, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = r
	}
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = float32(i % 1000)
	}
	path := filepath.Join(b.TempDir(), "fmri.npy")
	if err := WriteFloat32(path, data, []int{rows, cols}); err != nil {
		b.Fatal(err)
	}
	data = nil
	b.SetBytes(int64(rows * cols * 4))
	b.ResetTimer()
	for b.Loop() {
		got, shape, err := ReadFloat32(path)
		if err != nil || shape[0] != rows || got[len(got)-1] != float32((rows*cols-1)%1000) {
			b.Fatal(err)
		}
	}
}

func TestHeaderOfObjectArray(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "bad_object.npy"))
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(b)
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if h.DType != "|O" || h.Fortran || h.Shape == nil || len(h.Shape) != 0 {
		t.Errorf("header = %+v, want |O 0-d", h)
	}
	rest := len(b) - r.Len()
	if rest != 128 || b[rest] != 0x80 {
		t.Errorf("payload starts at %d with %#x, want 128 and the pickle PROTO opcode", rest, b[rest])
	}
	var buf bytes.Buffer
	if err := EncodeHeader(&buf, "|O", []int{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), b[:rest]) {
		t.Errorf("EncodeHeader wrote %q, numpy %q", buf.Bytes(), b[:rest])
	}
	if err := EncodeHeader(&buf, "<f4', 'x", nil); err == nil {
		t.Error("EncodeHeader accepted a descriptor with a quote")
	}
}
