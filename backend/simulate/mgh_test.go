package simulate

import (
	"bytes"
	"compress/gzip"
	"cortexcast/backend/algonauts"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// mghBytes builds an MGH file of the given type holding vals (dims n×1×1×1).
func mghBytes(typ int32, vals []float64) []byte {
	var b bytes.Buffer
	be := binary.BigEndian
	for _, v := range []int32{1, int32(len(vals)), 1, 1, 1, typ, 0} {
		binary.Write(&b, be, v)
	}
	b.Write(make([]byte, mghHeaderLen-b.Len()))
	for _, v := range vals {
		switch typ {
		case 0:
			b.WriteByte(uint8(v))
		case 1:
			binary.Write(&b, be, int32(v))
		case 3:
			binary.Write(&b, be, float32(v))
		case 4:
			binary.Write(&b, be, int16(v))
		}
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestDecodeMGH(t *testing.T) {
	tests := []struct {
		name string
		typ  int32
		vals []float64
	}{
		{"uchar", 0, []float64{0, 1, 255}},
		{"int", 1, []float64{-7, 0, 1 << 20}},
		{"float", 3, []float64{-1.5, 0, 3.25}},
		{"short", 4, []float64{-32768, 5, 32767}},
	}
	for _, tt := range tests {
		for _, zip := range []bool{false, true} {
			raw := mghBytes(tt.typ, tt.vals)
			if zip {
				raw = gz(raw)
			}
			got, dims, err := decodeMGH(raw)
			if err != nil {
				t.Fatalf("%s gzip=%v: %v", tt.name, zip, err)
			}
			if dims != [4]int{len(tt.vals), 1, 1, 1} {
				t.Errorf("%s: dims %v", tt.name, dims)
			}
			for i, v := range tt.vals {
				if float64(got[i]) != v {
					t.Errorf("%s gzip=%v: value %d = %g, want %g", tt.name, zip, i, got[i], v)
				}
			}
		}
	}
}

func TestDecodeMGHErrors(t *testing.T) {
	good := mghBytes(3, []float64{1, 2})
	edit := func(off int, v int32) []byte {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(b[off:], uint32(v))
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"short", good[:100], "shorter than"},
		{"version", edit(0, 2), "version 2"},
		{"zero dim", edit(8, 0), "dimension 1 is 0"},
		{"huge", edit(4, math.MaxInt32), "dimension 0"},
		{"product", edit(8, 1<<25+1), "exceed"},
		{"type", edit(20, 2), "data type 2"},
		{"truncated data", good[:len(good)-1], "want 8"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
	}
	for _, tt := range tests {
		_, _, err := decodeMGH(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.want)
		}
	}
}

// TestReadMGHReal reads the real RSC masks: 163,842 float32 values with
// 543 (lh) and 1021 (rh) ones, as nibabel reads them (SOURCE.md).
func TestReadMGHReal(t *testing.T) {
	data := sharedData(t)
	for h, want := range map[string]int{"lh": 543, "rh": 1021} {
		v, dims, err := readMGH(filepath.Join(data, "algonauts2023", h+".nsdgeneralRSC.mgz"))
		if err != nil {
			t.Fatal(err)
		}
		ones := 0
		for _, x := range v {
			switch x {
			case 0:
			case 1:
				ones++
			default:
				t.Fatalf("%s: value %g, want 0/1", h, x)
			}
		}
		if dims != [4]int{algonauts.FsaverageVertices, 1, 1, 1} || ones != want {
			t.Errorf("%s: dims %v, %d ones; want [%d 1 1 1], %d", h, dims, ones, algonauts.FsaverageVertices, want)
		}
	}
}

func FuzzDecodeMGH(f *testing.F) {
	f.Add(mghBytes(3, []float64{1, 2}))
	f.Add(gz(mghBytes(0, []float64{1, 2, 3})))
	f.Add(mghBytes(4, nil)[:mghHeaderLen])
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, dims, err := decodeMGH(raw)
		if err != nil {
			return
		}
		if len(v) != dims[0]*dims[1]*dims[2]*dims[3] {
			t.Fatalf("%d values for dims %v", len(v), dims)
		}
	})
}
